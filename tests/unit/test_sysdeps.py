"""scripts/sysdeps.sh asks apt for each missing tool on its own.

Runs the real script with a PATH holding only fakes: an ``apt-get`` that records what it was
asked for, a ``dpkg-query`` that answers what the installed ``nodejs`` provides, and stubs for
the tools that count as present.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "sysdeps.sh"
# The container engine and what the local image build needs (each its own package).
CONTAINER_TOOLS = ["podman", "runc", "mmdebstrap"]
#: Every tool after the first four, in the order the script asks for them.
OTHER_TOOLS = [*CONTAINER_TOOLS, "redis-server"]


def _stub(path: Path, body: str) -> None:
    path.write_text("#!/bin/sh\n" + body + "\n")
    path.chmod(0o755)


def _run(tmp_path: Path, present: list[str], nodejs_provides: str | None) -> list[str]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "apt.log"
    log.touch()
    _stub(bin_dir / "apt-get", f'echo "$*" >> {log}')
    if nodejs_provides is None:
        _stub(bin_dir / "dpkg-query", "exit 1")
    else:
        _stub(bin_dir / "dpkg-query", f"printf '%s' '{nodejs_provides}'")
    os.symlink("/usr/bin/env", bin_dir / "env")
    for tool in present:
        _stub(bin_dir / tool, "exit 0")
    subprocess.run(
        ["/bin/sh", str(SCRIPT)],
        env={"PATH": str(bin_dir)},
        check=True,
        capture_output=True,
        timeout=30,
    )
    return log.read_text().splitlines()


def _installs(calls: list[str]) -> list[str]:
    return [c.split()[-1] for c in calls if c.startswith("install")]


def test_nothing_installed_asks_for_each_tool_alone(tmp_path: Path) -> None:
    calls = _run(tmp_path, present=[], nodejs_provides=None)
    assert calls[0] == "update -qq"
    assert calls.count("update -qq") == 1
    assert _installs(calls) == [
        "ffmpeg",
        "chromium",
        "nodejs",
        "npm",
        *CONTAINER_TOOLS,
        "redis-server",
    ]
    # One package per apt-get call: a conflict on one cannot sink the others.
    for call in calls[1:]:
        assert call == "install -y -qq --no-install-recommends " + call.split()[-1]


def test_nodejs_with_bundled_npm_never_asks_for_npm(tmp_path: Path) -> None:
    calls = _run(
        tmp_path,
        present=["node", "npm", *OTHER_TOOLS],
        nodejs_provides="nodejs-dev, nodejs-doc, nodejs-legacy, npm",
    )
    assert _installs(calls) == ["ffmpeg", "chromium"]


def test_nodejs_that_provides_npm_but_hides_it_is_left_alone(tmp_path: Path) -> None:
    calls = _run(
        tmp_path,
        present=["node", "ffprobe", "chromium", *OTHER_TOOLS],
        nodejs_provides="npm",
    )
    assert calls == []


@pytest.mark.parametrize("provides", ["", "nodejs-doc"])
def test_debian_nodejs_without_npm_gets_npm(tmp_path: Path, provides: str) -> None:
    calls = _run(
        tmp_path,
        present=["node", "ffprobe", "chromium", *OTHER_TOOLS],
        nodejs_provides=provides,
    )
    assert _installs(calls) == ["npm"]


def test_all_present_asks_apt_nothing(tmp_path: Path) -> None:
    calls = _run(
        tmp_path,
        present=["ffprobe", "chromium", "node", "npm", *OTHER_TOOLS],
        nodejs_provides="npm",
    )
    assert calls == []


@pytest.mark.parametrize("missing", CONTAINER_TOOLS)
def test_each_missing_container_tool_is_installed_alone(tmp_path: Path, missing: str) -> None:
    present = ["ffprobe", "chromium", "node", "npm", "redis-server"]
    present += [t for t in CONTAINER_TOOLS if t != missing]
    calls = _run(tmp_path, present=present, nodejs_provides="npm")
    assert calls == ["update -qq", f"install -y -qq --no-install-recommends {missing}"]


def test_missing_redis_server_is_installed_alone(tmp_path: Path) -> None:
    calls = _run(
        tmp_path,
        present=["ffprobe", "chromium", "node", "npm", *CONTAINER_TOOLS],
        nodejs_provides="npm",
    )
    assert calls == [
        "update -qq",
        "install -y -qq --no-install-recommends redis-server",
    ]
