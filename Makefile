# Two commands do everything on a fresh Debian machine with Python 3.11:
#   make demo   -- local node + bots + recording
#   make test   -- lint, types, tests
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
SYSDEPS := $(VENV)/.sysdeps
# Debian packages the tests need are installed one tool at a time by scripts/sysdeps.sh.
SUDO   := $(shell [ "$$(id -u)" -eq 0 ] || echo sudo)
# Pexip's web SDK, bundled for the browser interop test (versions pinned by the lock file).
SDK_DIR    := tests/interop/sdk
SDK_BUNDLE := $(SDK_DIR)/dist/sdk.js
# The container image `make image` builds (docker/Dockerfile).
IMAGE  ?= pexbot:latest

.PHONY: demo test lint typecheck unit bench soak clean sysdeps image

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

$(SYSDEPS): $(STAMP) scripts/sysdeps.sh
	SUDO=$(SUDO) sh scripts/sysdeps.sh
	touch $(SYSDEPS)

sysdeps: $(SYSDEPS)

$(SDK_DIR)/node_modules/.package-lock.json: $(SDK_DIR)/package-lock.json $(SDK_DIR)/package.json $(SYSDEPS)
	npm ci --prefix $(SDK_DIR) --no-audit --no-fund

$(SDK_BUNDLE): $(SDK_DIR)/node_modules/.package-lock.json $(SDK_DIR)/entry.js
	npm run --prefix $(SDK_DIR) build

demo: $(STAMP)
	$(VENV)/bin/pexbot demo

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(STAMP)
	$(VENV)/bin/mypy

unit: $(SYSDEPS) $(SDK_BUNDLE)
	$(PY) -m pytest -q

test: lint typecheck unit

# docker when its daemon answers (`docker info`), else podman, which builds on a local
# Debian base (mmdebstrap, this machine's CA certificates; BASE=python:3.11-slim to skip it)
# with runc and capped ulimits: scripts/container.py keeps all that out of the Dockerfile.
# `make test` builds the image too (tests/container), with podman from `make sysdeps`.
image:
	IMAGE=$(IMAGE) $(PYTHON) scripts/container.py build

bench: $(STAMP)
	$(PY) -m bench

# Ten bots through ten minutes of injected faults (issue 12); `make test` runs one minute.
soak: $(STAMP)
	$(PY) -m bench soak

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache $(SDK_DIR)/node_modules $(SDK_DIR)/dist
	rm -rf build/container
