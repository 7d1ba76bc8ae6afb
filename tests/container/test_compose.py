"""docker/compose.yaml brought up and down with podman-compose, on free ports of 127.0.0.1.

Redis and the local node always come up. The API and the two workers come up when the image
has `pexbot serve` (checked with `pexbot serve --help` in the image); until that command
lands, this test covers what exists and says so in its output.
"""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.container.conftest import REPO, Image

pytestmark = pytest.mark.container

COMPOSE_FILE = REPO / "docker" / "compose.yaml"
PODMAN_COMPOSE = Path(sys.executable).with_name("podman-compose")
BASE_SERVICES = ["redis", "node"]
SERVICE_SERVICES = ["api", "worker-1", "worker-2"]


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def _redis(port: int, *command: str) -> bytes:
    """One command in RESP, its raw reply (enough for PING and CLIENT LIST)."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        parts = [f"*{len(command)}\r\n".encode()]
        for word in command:
            parts.append(f"${len(word)}\r\n{word}\r\n".encode())
        conn.sendall(b"".join(parts))
        time.sleep(0.2)
        return conn.recv(65536)


class Compose:
    def __init__(self, image: Image, redis_image: str) -> None:
        self.podman = image.podman
        self.project = f"pexbot-test-{uuid.uuid4().hex[:8]}"
        redis_port, node_port, api_port = _free_ports(3)
        self.redis_port, self.node_port, self.api_port = redis_port, node_port, api_port
        self.env = {
            **image.podman.env,
            "PEXBOT_IMAGE": image.tag,
            "PEXBOT_REDIS_IMAGE": redis_image,
            "PEXBOT_REDIS_PORT": str(redis_port),
            "PEXBOT_NODE_PORT": str(node_port),
            "PEXBOT_API_PORT": str(api_port),
            "PEXBOT_WORKER_CAPACITY": "5",
            "PEXBOT_API_KEYS": "compose-test-key",
        }

    def __call__(self, *args: str) -> subprocess.CompletedProcess[str]:
        assert PODMAN_COMPOSE.exists(), f"{PODMAN_COMPOSE} missing: run `make .venv/.installed`"
        cmd = [str(PODMAN_COMPOSE), "-p", self.project, "-f", str(COMPOSE_FILE), *args]
        return subprocess.run(
            cmd, env=self.env, capture_output=True, text=True, timeout=180, check=False
        )

    def containers(self) -> dict[str, str]:
        """Service name -> state (`running`, `exited`, ...) of this project's containers."""
        out = self.podman(
            "ps", "-a", "--filter", f"label=io.podman.compose.project={self.project}",
            "--format", "json",
        ).stdout  # fmt: skip
        listed: list[dict[str, Any]] = json.loads(out or "[]")
        return {c["Labels"]["com.docker.compose.service"]: c["State"] for c in listed}


@pytest.fixture
def compose(image: Image, redis_image: str) -> Iterator[Compose]:
    project = Compose(image, redis_image)
    try:
        yield project
    finally:
        project("down", "-v", "--timeout", "10")


async def _until_200(url: str, deadline: float) -> None:
    async with aiohttp.ClientSession() as http, asyncio.timeout(deadline):
        while True:
            try:
                async with http.get(url) as reply:
                    if reply.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)


async def test_compose_up_serves_and_down_removes_everything(
    image: Image, compose: Compose
) -> None:
    services = BASE_SERVICES + SERVICE_SERVICES
    up = compose("up", "-d", *services)
    assert up.returncode == 0, up.stdout + up.stderr

    await _until_200(f"http://127.0.0.1:{compose.node_port}/health", 30)
    async with asyncio.timeout(30):
        while True:
            try:
                if _redis(compose.redis_port, "PING") == b"+PONG\r\n":
                    break
            except OSError:
                pass
            await asyncio.sleep(0.1)
    # The image's HEALTHCHECK and Redis's own, as compose configured them.
    for service in ("node", "redis"):
        health = compose.podman("healthcheck", "run", f"{compose.project}_{service}_1", check=False)
        assert health.returncode == 0, f"{service}: {health.stdout}{health.stderr}"

    await _until_200(f"http://127.0.0.1:{compose.api_port}/v1/openapi.json", 30)
    await asyncio.sleep(3)  # the workers have had time to connect, or to crash
    clients = _redis(compose.redis_port, "CLIENT", "LIST").decode()
    assert clients.count("addr=127.0.0.1") >= 3, clients  # the test's, and 2 workers'
    assert compose.containers() == {service: "running" for service in services}

    down = compose("down", "-v", "--timeout", "10")
    assert down.returncode == 0, down.stdout + down.stderr
    assert compose.containers() == {}
    volumes = compose.podman("volume", "ls", "--format", "{{.Name}}").stdout.split()
    assert not [v for v in volumes if v.startswith(compose.project)]
