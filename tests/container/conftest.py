"""The container image, built once per test session with podman, the engine `make test`
installs (`scripts/sysdeps.sh`). A machine where it cannot be built fails these tests; it
never skips them.

Each checkout builds its own tag (`localhost/pexbot:test-<hash of the checkout path>`), so
test runs in two checkouts on one machine never run each other's code; the base image and
the dependency layers are shared through podman's cache.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "container.py"
BUILD_TIMEOUT = 900


@dataclass(frozen=True)
class Podman:
    """podman with the local settings `scripts/container.py` writes (runc, ulimits)."""

    env: dict[str, str]

    def __call__(
        self, *args: str, timeout: float = 120, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            ["podman", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check and done.returncode != 0:
            pytest.fail(f"podman {' '.join(args)} exited {done.returncode}:\n{done.stderr}")
        return done


@dataclass(frozen=True)
class Image:
    tag: str
    podman: Podman


def _script(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT,
        check=False,
    )


@pytest.fixture(scope="session")
def podman() -> Podman:
    if shutil.which("podman") is None:
        pytest.fail("podman is not installed: `make sysdeps` installs it (scripts/sysdeps.sh)")
    env = {**os.environ, "ENGINE": "podman"}
    conf = _script("conf", env=env)
    assert conf.returncode == 0, conf.stderr
    return Podman({**env, "CONTAINERS_CONF": conf.stdout.strip()})


@pytest.fixture(scope="session")
def image(podman: Podman) -> Iterator[Image]:
    digest = hashlib.sha256(str(REPO).encode()).hexdigest()[:10]
    tag = f"localhost/pexbot:test-{digest}"
    built = _script("build", env={**podman.env, "IMAGE": tag})
    if built.returncode != 0:
        tail = "\n".join((built.stdout + built.stderr).splitlines()[-30:])
        pytest.fail(f"the image did not build (scripts/container.py build):\n{tail}")
    yield Image(tag, podman)


@pytest.fixture(scope="session")
def redis_image(podman: Podman) -> str:
    """Redis for the compose file: Debian's, on the local base (no registry here)."""
    built = _script("redis", env=podman.env)
    if built.returncode != 0:
        pytest.fail(f"the Redis image did not build:\n{built.stderr[-3000:]}")
    return built.stdout.strip()
