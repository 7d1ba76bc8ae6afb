"""The container image: build time cold and warm, size, and start-to-ready time.

Builds `localhost/pexbot:bench` with `scripts/container.py` and podman (as `make test` does):
- cold: `NO_CACHE=1`, every layer rebuilt and every wheel downloaded again (the local base
  image is kept; bootstrapping it takes another ~40-60 s, once per machine);
- warm: the same build again with nothing changed;
- size: what `podman image inspect` reports;
- start-to-ready: from `podman run -d ... node` until the node's URL answers 200 on the host
  network, five times (median and worst);
- `pexbot --version` in a fresh container, five times (median): container and interpreter
  start-up with nothing listening.
"""

from __future__ import annotations

import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "scripts" / "container.py"
TAG = "localhost/pexbot:bench"
RUNS = 5
# Targets: the budget `make test` gives a first build, and what a scheduler waits for.
TARGET_COLD_S = 180.0
TARGET_WARM_S = 30.0
TARGET_SIZE_MB = 600.0
TARGET_READY_S = 3.0


def _env() -> dict[str, str]:
    env = {**os.environ, "ENGINE": "podman", "IMAGE": TAG}
    conf = subprocess.run(
        [sys.executable, str(SCRIPT), "conf"], env=env, capture_output=True, text=True, check=True
    )
    env["CONTAINERS_CONF"] = conf.stdout.strip()
    return env


def _build(env: dict[str, str], cold: bool) -> float:
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, str(SCRIPT), "build"],
        env={**env, **({"NO_CACHE": "1"} if cold else {})},
        capture_output=True,
        check=True,
        timeout=900,
    )
    return time.perf_counter() - started


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _ready_seconds(env: dict[str, str]) -> float:
    port = _free_port()
    name = f"pexbot-bench-{port}"
    url = f"http://127.0.0.1:{port}/_node/state"
    no_proxy = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    started = time.perf_counter()
    subprocess.run(
        ["podman", "run", "-d", "--name", name, "--network", "host", "--no-healthcheck",
         TAG, "node", "--host", "127.0.0.1", "--port", str(port)],
        env=env, capture_output=True, check=True,
    )  # fmt: skip
    try:
        while time.perf_counter() - started < 30:
            try:
                with no_proxy.open(url, timeout=1) as reply:
                    if reply.status == 200:
                        return time.perf_counter() - started
            except (urllib.error.URLError, OSError):
                time.sleep(0.02)
        raise RuntimeError(f"{url} did not answer within 30 s")
    finally:
        subprocess.run(["podman", "rm", "-f", name], env=env, capture_output=True, check=False)


def _version_seconds(env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(
        ["podman", "run", "--rm", "--no-healthcheck", TAG, "--version"],
        env=env, capture_output=True, check=True,
    )  # fmt: skip
    return time.perf_counter() - started


def _dangling(env: dict[str, str]) -> set[str]:
    out = subprocess.run(
        ["podman", "images", "-q", "--no-trunc", "--filter", "dangling=true"],
        env=env, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    return set(out.split())


def bench_container() -> bool:
    env = _env()
    before = _dangling(env)
    cold = _build(env, cold=True)
    warm = _build(env, cold=False)
    size = subprocess.run(
        ["podman", "image", "inspect", "--format", "{{.Size}}", TAG],
        env=env, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    size_mb = int(size) / 1e6
    ready = [_ready_seconds(env) for _ in range(RUNS)]
    version = [_version_seconds(env) for _ in range(RUNS)]
    print(f"  build, cold (no cache, base kept): {cold:6.1f} s   (target < {TARGET_COLD_S:.0f} s)")
    print(f"  build, warm (nothing changed):     {warm:6.1f} s   (target < {TARGET_WARM_S:.0f} s)")
    print(
        f"  image size:                        {size_mb:6.0f} MB  (target < {TARGET_SIZE_MB:.0f})"
    )
    print(
        f"  node container start-to-ready:     {statistics.median(ready):6.2f} s   "
        f"(worst {max(ready):.2f} s; target < {TARGET_READY_S:.0f} s)"
    )
    print(f"  `pexbot --version` in a container: {statistics.median(version):6.2f} s")
    # The uncached build left its own stages behind (~300 MB): remove those, and only those.
    subprocess.run(["podman", "rmi", TAG], env=env, capture_output=True, check=False)
    left = sorted(_dangling(env) - before)
    if left:
        subprocess.run(["podman", "rmi", *left], env=env, capture_output=True, check=False)
    return (
        cold < TARGET_COLD_S
        and warm < TARGET_WARM_S
        and size_mb < TARGET_SIZE_MB
        and max(ready) < TARGET_READY_S
    )
