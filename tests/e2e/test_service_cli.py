"""`pexbot serve` on its own (no Redis: the embedded queue and worker in one process)
against the local node, with signed webhooks; and the commands' configuration errors as a
user meets them (exit code, one line, no traceback)."""

from __future__ import annotations

import asyncio
import json
import signal
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from agent._http_server import AppServer
from agent.node import LocalNode
from plugins.webhook import SIGNATURE_HEADER, sign
from tests.e2e.service_harness import Process, spawn
from tests.support.pexbot_cmd import finish, pexbot, start
from tests.support.redis_server import free_port

pytestmark = pytest.mark.e2e

KEY = "serve-alone-key-0123456789"
HOOK_SECRET = "hook-secret-for-the-test"


async def _url(proc: Process) -> str:
    for _ in range(600):
        first = proc.text().split("\n", 1)[0]
        if first.startswith("http://"):
            return first.strip()
        await asyncio.sleep(0.05)
    raise AssertionError(proc.text())


async def test_serve_alone_runs_bots_with_signed_webhooks(tmp_path: Path) -> None:
    hooks: list[tuple[dict[str, Any], bool]] = []

    async def receive(request: web.Request) -> web.Response:
        body = await request.read()
        valid = request.headers.get(SIGNATURE_HEADER) == sign(HOOK_SECRET.encode(), body)
        hooks.append((json.loads(body), valid))
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/hook", receive)
    hooks_server = AppServer(app)
    await hooks_server.start()
    hook_url = f"{hooks_server.base_url}/hook"
    proc: Process | None = None
    try:
        async with LocalNode() as node, aiohttp.ClientSession() as http:
            proc = await spawn(
                ["serve", "--port", "0", "--capacity", "2", "--output-dir", str(tmp_path)],
                tmp_path / "serve.log",
                env={
                    "PEXBOT_API_KEYS": KEY,
                    "PEXBOT_SECRET_PIN": "1234",
                    "PEXBOT_SECRET_HOOK": HOOK_SECRET,
                },
            )
            url = await _url(proc)
            auth = {"Authorization": f"Bearer {KEY}", "Idempotency-Key": "standup-0930"}
            body = {
                "meeting": {
                    "node": node.base_url,
                    "alias": "secure",
                    "display_name": "Scribe",
                    "pin": "env:PEXBOT_SECRET_PIN",
                },
                "media": {"audio": "silence", "receive_video": False},
                "webhook": {"url": hook_url, "secret_env": "PEXBOT_SECRET_HOOK"},
            }
            replies = []
            for _ in range(2):
                async with http.post(f"{url}/v1/bots", json=body, headers=auth) as r:
                    replies.append((r.status, await r.json()))
            assert [s for s, _ in replies] == [201, 200]
            bot_id = replies[0][1]["id"]
            assert replies[1][1]["id"] == bot_id
            bot: dict[str, Any] = {}
            for _ in range(200):
                async with http.get(f"{url}/v1/bots/{bot_id}", headers=auth) as r:
                    bot = await r.json()
                if bot["state"] == "in_call":
                    break
                await asyncio.sleep(0.1)
            assert bot["state"] == "in_call", bot
            conference = node.ctx.state.conferences["secure"]
            members = [p for p in conference.participants.values()]
            assert [(p.display_name, p.role) for p in members] == [("Scribe", "chair")]
            async with http.post(f"{url}/v1/bots/{bot_id}/leave", headers=auth) as r:
                assert r.status == 202
            for _ in range(100):
                async with http.get(f"{url}/v1/bots/{bot_id}", headers=auth) as r:
                    bot = await r.json()
                if bot["state"] == "left":
                    break
                await asyncio.sleep(0.1)
            assert (bot["state"], bot["exit_code"]) == ("left", 0)
            assert not conference.participants
            proc.signal(signal.SIGTERM)
            assert await proc.wait(20) == 0
        log = proc.text()
        assert "1234" not in log and HOOK_SECRET not in log and KEY not in log
        transitions = [(h["old"], h["new"]) for h, _ in hooks]
        # As with `pexbot run`: the runtime stops plugins before its final `left`, so the
        # webhook's last transition is `leaving` (the API shows `left`).
        assert transitions == [
            ("joining", "connected"),
            ("connected", "in_call"),
            ("in_call", "leaving"),
        ]
        assert all(valid for _, valid in hooks)
        assert hooks[0][0]["bot"] == "Scribe" and hooks[0][0]["alias"] == "secure"
    finally:
        if proc is not None:
            await proc.stop()
        await hooks_server.stop()


@pytest.mark.parametrize(
    ("args", "env", "code", "line"),
    [
        (
            ["serve"],
            {"PEXBOT_API_KEYS": ""},
            2,
            "pexbot: invalid configuration: no API keys: set PEXBOT_API_KEYS or give "
            "--api-keys-file",
        ),
        (
            ["serve"],
            {"PEXBOT_API_KEYS": "too-short"},
            2,
            "pexbot: invalid configuration: PEXBOT_API_KEYS: entry 1: a key needs at least "
            "16 characters",
        ),
        (
            ["worker", "--redis", "http://example.com", "--capacity", "2"],
            {},
            2,
            "pexbot: invalid configuration: command line: --redis: expected "
            "redis://HOST:PORT/DB, rediss://... or unix://PATH",
        ),
        (
            ["worker", "--redis", "redis://127.0.0.1:6379/0", "--capacity", "0"],
            {},
            2,
            "pexbot: invalid configuration: command line: capacity: Input should be greater "
            "than or equal to 1",
        ),
        (
            [
                "worker",
                "--redis",
                "redis://127.0.0.1:6379/0",
                "--capacity",
                "2",
                "--cpu-budget=lots",
            ],
            {},
            2,
            "pexbot: invalid configuration: command line: --cpu-budget: expected a number of "
            "cores or `auto`, got 'lots'",
        ),
        (
            ["worker", "--redis", "redis://127.0.0.1:6379/0", "--capacity", "2", "--cpu-budget=-1"],
            {},
            2,
            "pexbot: invalid configuration: command line: cpu_budget: Input should be greater "
            "than 0",
        ),
    ],
)
async def test_configuration_errors_are_one_line(
    args: list[str], env: dict[str, str], code: int, line: str
) -> None:
    ran = await pexbot(*args, env=env, timeout=30)
    assert ran.code == code
    assert ran.only_line == line


async def test_unreachable_redis_exits_4_naming_it() -> None:
    port = free_port()
    ran = await pexbot("worker", "--redis", f"redis://127.0.0.1:{port}/0", "--capacity", "1")
    assert ran.code == 4
    assert ran.only_line.startswith(f"pexbot: cannot reach Redis at redis://127.0.0.1:{port}/0: ")
    ran = await pexbot(
        "serve", "--redis", f"redis://:pw@127.0.0.1:{port}/0", env={"PEXBOT_API_KEYS": KEY}
    )
    assert ran.code == 4
    assert ran.only_line.startswith(f"pexbot: cannot reach Redis at redis://127.0.0.1:{port}/0")
    assert ":pw@" not in ran.err


async def test_a_port_in_use_exits_2() -> None:
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        proc = await start("serve", "--port", str(port), env={"PEXBOT_API_KEYS": KEY})
        ran = await finish(proc, 30)
    finally:
        server.close()
        await server.wait_closed()
    assert ran.code == 2
    assert ran.only_line == f"pexbot: port {port} is in use"
