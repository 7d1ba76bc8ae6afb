"""The built image, run for real: what it is made of, and a containerized `pexbot run` that
joins the local node on the host (host networking), records, and leaves cleanly."""

from __future__ import annotations

import asyncio
import json
import os
import re
import time
import uuid
from pathlib import Path

import aiohttp
import pytest

from agent.config import parse_config
from agent.node import LocalNode
from agent.runtime.bot import Bot
from tests.container.conftest import Image
from tests.support.inspect_node import names_in, with_control

pytestmark = pytest.mark.container

COMPILERS = ("gcc", "cc", "c++", "g++", "clang", "make", "ld")


def _inspect(image: Image) -> dict[str, object]:
    out = image.podman("image", "inspect", image.tag).stdout
    data: list[dict[str, object]] = json.loads(out)
    return data[0]


def test_image_runs_pexbot_as_an_unprivileged_user(image: Image) -> None:
    inspected = _inspect(image)
    config = inspected["Config"]
    assert isinstance(config, dict)
    assert config["Entrypoint"] == ["pexbot"]
    assert config["User"] == "10001:10001"
    # Kept by the docker image format (an OCI image would drop it).
    health = inspected["Healthcheck"]
    assert isinstance(health, dict)
    assert health["Test"] == ["CMD", "python3", "/opt/pexbot/healthcheck.py"]
    ran = image.podman("run", "--rm", "--no-healthcheck", image.tag, "--version")
    assert ran.stdout.strip().startswith("pexbot ")
    ident = image.podman("run", "--rm", "--no-healthcheck", "--entrypoint", "id", image.tag)
    assert ident.stdout.startswith("uid=10001(pexbot) gid=10001(pexbot)")


def test_final_image_has_no_compilers(image: Image) -> None:
    script = "for c in " + " ".join(COMPILERS) + '; do command -v "$c"; done; true'
    found = image.podman(
        "run", "--rm", "--no-healthcheck", "--entrypoint", "sh", image.tag, "-c", script
    )
    assert found.stdout.split() == []


async def _wait_for(condition_url: str, deadline: float) -> float:
    """Seconds until `condition_url` answers 200."""
    started = time.monotonic()
    async with aiohttp.ClientSession() as http:
        while time.monotonic() - started < deadline:
            try:
                async with http.get(condition_url) as reply:
                    if reply.status == 200:
                        return time.monotonic() - started
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.05)
    raise AssertionError(f"{condition_url} did not answer within {deadline} s")


async def test_node_container_is_ready_and_healthy(image: Image, unused_tcp_port: int) -> None:
    name = f"pexbot-test-node-{uuid.uuid4().hex[:8]}"
    url = f"http://127.0.0.1:{unused_tcp_port}/health"
    started = time.monotonic()
    image.podman(
        "run", "-d", "--name", name, "--network", "host",
        "--env", f"PEXBOT_HEALTH_URL={url}",
        image.tag, "node", "--host", "127.0.0.1", "--port", str(unused_tcp_port),
    )  # fmt: skip
    try:
        await _wait_for(url, 30)
        print(f"node container: ready {time.monotonic() - started:.2f} s after `podman run`")
        # The image's own HEALTHCHECK, run on demand (no systemd timers here).
        health = image.podman("healthcheck", "run", name, check=False)
        assert health.returncode == 0, health.stdout + health.stderr
        # It can fail: pointed at nothing, the same check reports unhealthy.
        bad = image.podman(
            "exec", "--env", "PEXBOT_HEALTH_URL=http://127.0.0.1:1/", name,
            "python3", "/opt/pexbot/healthcheck.py", check=False,
        )  # fmt: skip
        assert bad.returncode == 1
        assert bad.stderr.startswith("unhealthy: http://127.0.0.1:1/: ")
        # SIGTERM stops the node cleanly and quickly.
        stopped = image.podman("stop", "--time", "10", name)
        assert stopped.returncode == 0
        state = image.podman("inspect", "--format", "{{.State.ExitCode}}", name).stdout
        assert state.strip() == "0"
    finally:
        image.podman("rm", "-f", name, check=False)


async def test_containerized_bot_joins_the_host_node_records_and_leaves(
    image: Image, tmp_path: Path
) -> None:
    recordings = tmp_path / "recordings"
    recordings.mkdir()
    os.chmod(recordings, 0o777)  # the container's user (10001) writes here
    name = f"pexbot-test-run-{uuid.uuid4().hex[:8]}"
    async with LocalNode(with_control()) as node:
        talker = Bot(
            parse_config(
                {
                    "node": node.base_url,
                    "alias": "meet",
                    "display_name": "Talker",
                    "media": {"audio": "tone:440", "video": "pattern", "receive_video": False},
                    "leave": {"alone_seconds": None},
                }
            )
        )
        talking = asyncio.create_task(talker.run())
        proc = await asyncio.create_subprocess_exec(
            "podman", "run", "--rm", "--name", name, "--network", "host", "--no-healthcheck",
            "--volume", f"{recordings}:/data/recordings",
            image.tag,
            "run", "--node", node.base_url, "--alias", "meet", "--name", "Boxed",
            "--audio", "tone:880", "--video", "pattern", "--duration", "5",
            "--plugin", "recorder",
            "--plugin-config", "recorder.output_dir=/data/recordings",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=image.podman.env,
        )  # fmt: skip
        try:
            async with asyncio.timeout(60):
                while "Boxed" not in await names_in(node, "meet"):  # noqa: ASYNC110
                    await asyncio.sleep(0.1)
            _out, err = await asyncio.wait_for(proc.communicate(), 60)
            text = err.decode()
            assert proc.returncode == 0, text
            assert "Traceback" not in text
            assert re.search(r"^pexbot: left meet \(leave\.duration", text, re.M), text
            # The bot released its token: the node no longer lists it.
            assert "Boxed" not in await names_in(node, "meet")
        finally:
            if proc.returncode is None:
                await asyncio.create_subprocess_exec(
                    "podman", "rm", "-f", name, env=image.podman.env
                )
                proc.kill()
                await proc.wait()
            talker.request_leave()
            await asyncio.wait_for(talking, 15)
    (session,) = [p for p in recordings.iterdir() if p.is_dir()]
    written = {p.name for p in session.iterdir()}
    assert {"recording-000.webm", "timeline.jsonl", "summary.json", "speakers.png"} <= written
    assert (session / "recording-000.webm").stat().st_size > 10_000
    summary = json.loads((session / "summary.json").read_text())
    assert summary["talk_time"].get("Talker", 0) > 1.0
