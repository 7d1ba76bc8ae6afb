"""scripts/container.py: which engine it picks, the podman settings it writes, the apt
mirrors it bootstraps the local base from, and when it rebuilds that base.

Engines are fakes on a PATH of their own (as in test_sysdeps.py): a `docker` whose `info`
fails is a client without a daemon.
"""

from __future__ import annotations

import importlib.util
import os
import resource
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "container.py"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("pexbot_container_script", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


container = _load()


def _stub(path: Path, body: str) -> None:
    path.write_text("#!/bin/sh\n" + body + "\n")
    path.chmod(0o755)


def _engine_on(tmp_path: Path, tools: dict[str, str], env: dict[str, str] | None = None) -> str:
    """Run `container.py engine` with only `tools` (name -> shell body) on PATH."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, body in tools.items():
        _stub(bin_dir / name, body)
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "engine"],
        env={"PATH": str(bin_dir), **(env or {})},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert "Traceback" not in done.stderr
    if done.returncode != 0:
        return "exit 1: " + done.stderr.strip()
    return done.stdout.strip()


def test_a_docker_client_without_a_daemon_is_not_picked(tmp_path: Path) -> None:
    docker = 'echo "Cannot connect to the Docker daemon" >&2; exit 1'
    assert _engine_on(tmp_path, {"docker": docker, "podman": "exit 0"}) == "podman"


def test_a_working_docker_is_picked(tmp_path: Path) -> None:
    assert _engine_on(tmp_path, {"docker": "exit 0", "podman": "exit 0"}) == "docker"


def test_engine_can_be_forced(tmp_path: Path) -> None:
    tools = {"docker": "exit 0", "podman": "exit 0"}
    assert _engine_on(tmp_path, tools, {"ENGINE": "podman"}) == "podman"


def test_no_engine_fails_with_one_line_saying_what_to_do(tmp_path: Path) -> None:
    assert _engine_on(tmp_path, {"docker": "exit 1"}) == (
        "exit 1: container.py: no container engine: neither a working docker "
        "(`docker info`) nor podman; `make sysdeps` installs podman"
    )


def test_an_unknown_forced_engine_is_refused(tmp_path: Path) -> None:
    out = _engine_on(tmp_path, {"podman": "exit 0"}, {"ENGINE": "nerdctl"})
    assert out == "exit 1: container.py: ENGINE must be docker or podman, not 'nerdctl'"


def test_containers_conf_uses_runc_and_stays_under_the_hard_limits(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    hard = {resource.RLIMIT_NOFILE: 20000, resource.RLIMIT_NPROC: 96364}
    monkeypatch.setattr(resource, "getrlimit", lambda which: (1024, hard[which]))
    monkeypatch.setattr(container.shutil, "which", lambda name: f"/usr/sbin/{name}")
    text = container.containers_conf_text()
    assert 'default_ulimits = ["nofile=20000:20000", "nproc=4096:4096"]' in text
    assert '[engine]\nruntime = "runc"' in text


def test_containers_conf_without_runc_keeps_the_default_runtime(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(
        resource, "getrlimit", lambda which: (resource.RLIM_INFINITY, resource.RLIM_INFINITY)
    )
    monkeypatch.setattr(container.shutil, "which", lambda name: None)
    text = container.containers_conf_text()
    assert 'default_ulimits = ["nofile=65536:65536", "nproc=4096:4096"]' in text
    assert "runtime" not in text


def test_mirrors_come_from_the_hosts_debian_entries_only(tmp_path: Path) -> None:
    (tmp_path / "sources.list").write_text(
        "# comment\n"
        "deb [arch=amd64 signed-by=/k.gpg] http://mirror.example/debian bookworm main contrib\n"
        "deb-src http://mirror.example/debian bookworm main\n"
        "deb https://packages.cloud.google.com/apt cloud-sdk-bookworm main\n"
    )
    parts = tmp_path / "sources.list.d"
    parts.mkdir()
    (parts / "debian.sources").write_text(
        "Types: deb\n"
        "# http://snapshot.debian.org/archive/debian/20250520T000000Z\n"
        "URIs: http://deb.debian.org/debian\n"
        "Suites: bookworm bookworm-updates\n"
        "Components: main\n"
        "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n"
        "\n"
        "Types: deb\n"
        "URIs: http://deb.debian.org/debian-security\n"
        "Suites: bookworm-security\n"
        "Components: main\n"
        "\n"
        "Types: deb\n"
        "URIs: http://disabled.example/debian\n"
        "Suites: bookworm\n"
        "Components: main\n"
        "Enabled: no\n"
    )
    (parts / "nodesource.sources").write_text(
        "Types: deb\nURIs: https://deb.nodesource.com/node_20.x\nSuites: nodistro\n"
        "Components: main\n"
    )
    (parts / "old.sources.disabled-by-farm").write_text(
        "Types: deb\nURIs: http://old.example/debian\nSuites: bookworm\nComponents: main\n"
    )
    mirrors = container.mirror_lines("bookworm", (tmp_path / "sources.list", parts))
    assert mirrors == [
        "deb http://mirror.example/debian bookworm main contrib",
        "deb http://deb.debian.org/debian bookworm main",
        "deb http://deb.debian.org/debian bookworm-updates main",
        "deb http://deb.debian.org/debian-security bookworm-security main",
    ]


def test_base_is_rebuilt_when_a_local_ca_or_a_mirror_changes(tmp_path: Path) -> None:
    ca = tmp_path / "corp.crt"
    ca.write_text("one")
    mirrors = ["deb http://deb.debian.org/debian bookworm main"]
    first = container.base_fingerprint(mirrors, [ca])
    assert container.base_fingerprint(mirrors, [ca]) == first
    ca.write_text("two")
    assert container.base_fingerprint(mirrors, [ca]) != first
    assert container.base_fingerprint([*mirrors, "deb http://x bookworm main"], [ca]) != first


def test_the_script_needs_nothing_but_the_standard_library() -> None:
    # It runs before the virtualenv exists: the system python3, no site packages.
    done = subprocess.run(
        [sys.executable, "-S", "-I", str(SCRIPT), "--help"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
        env={"PATH": os.environ["PATH"]},
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: scripts/container.py")


def _build_with(tmp_path: Path, engine: str, env: dict[str, str]) -> list[str]:
    """`container.py build` against a fake engine that logs its arguments."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "calls.log"
    _stub(bin_dir / engine, f'echo "$*" >> {log}')
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "build"],
        env={"PATH": str(bin_dir), "PEXBOT_CONTAINER_STATE": str(tmp_path / "state"), **env},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""  # the engine's chatter goes to stderr
    return log.read_text().splitlines()


def test_docker_builds_the_plain_dockerfile(tmp_path: Path) -> None:
    repo = SCRIPT.parents[1]
    calls = _build_with(tmp_path, "docker", {})
    assert calls == ["info", f"build -f {repo}/docker/Dockerfile -t pexbot:latest {repo}"]


def test_podman_with_a_given_base_skips_the_local_one(tmp_path: Path) -> None:
    repo = SCRIPT.parents[1]
    calls = _build_with(
        tmp_path, "podman", {"BASE": "python:3.11-slim", "IMAGE": "pexbot:x", "NO_CACHE": "1"}
    )
    assert calls == [
        f"build -f {repo}/docker/Dockerfile -t pexbot:x --build-arg BASE=python:3.11-slim "
        f"--no-cache --format docker --network host {repo}"
    ]
    # podman ran with the generated settings (no runc on this PATH: the default runtime).
    conf = (tmp_path / "state" / "containers.conf").read_text()
    assert conf.startswith("[containers]\ndefault_ulimits = [")
    assert "runtime" not in conf
