"""Pexip's web SDK in headless Chromium as a host (tests/interop/sdk/breakout.html) opens a
breakout room and moves a pexbot bot into it; the bot follows the `refer` into the room
and, when the SDK closes the rooms, back. Every answer the SDK got from the node through
the proxy is validated against the client API schema."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Awaitable, Callable
from functools import cache
from typing import Any

import pytest

from agent.config import parse_config
from agent.node import LocalNode
from agent.runtime.bot import Bot
from agent.runtime.states import BotState
from tests.e2e.conftest import Seen, schema, validate

from .conftest import require_prerequisites
from .harness import Chromium, PageServer

pytestmark = pytest.mark.interop

ALIAS = "secure"
BOT = "Bot"
ROOM = "Room A"
STEP = 30.0


@cache
def _routes() -> list[tuple[str, re.Pattern[str], str]]:
    """(method, path pattern, schema key) for every endpoint; RTMP calls share WebRTC's."""
    routes = []
    for key, spec in schema()["x-endpoints"].items():
        if key == "calls_rtmp_participant":
            continue
        path = spec["path"].split("{conferenceAlias}/", 1)[1].split("?")[0]
        pattern = re.escape(path)
        pattern = re.sub(r"\\\{[A-Za-z]+\\\}", "[^/]+", pattern)
        routes.append((spec["method"], re.compile(f"^{pattern}$"), key))
    # Literal paths before the ones with placeholders (`breakouts/message` is not a room).
    routes.sort(key=lambda r: r[1].pattern.count("[^/]+"))
    return routes


def endpoint_key(method: str, path: str) -> str | None:
    tail = path.split("/conferences/", 1)[1].split("/", 1)[1]
    return next((k for m, p, k in _routes() if m == method and p.match(tail)), None)


async def until(condition: Callable[[], bool], what: str, server: PageServer) -> None:
    for _ in range(int(STEP / 0.05)):
        if condition():
            return
        await asyncio.sleep(0.05)
    pytest.fail(f"timed out: {what}\n{server.transcript()}")


async def test_web_sdk_host_moves_a_bot_into_a_breakout_room(
    node: LocalNode,
    page_server: PageServer,
    chromium: Callable[[str], Awaitable[Chromium]],
) -> None:
    require_prerequisites()
    server = page_server
    bot = Bot(
        parse_config(
            {
                "node": node.base_url,
                "alias": ALIAS,
                "display_name": BOT,
                "pin": "5678",
                "media": {
                    "audio": "tone:440",
                    "video": "none",
                    "receive_audio": True,
                    "receive_video": False,
                    "ice_host_addresses": ["127.0.0.1"],
                },
                "leave": {"alone_seconds": None, "duration": 120},
            }
        )
    )
    task = asyncio.create_task(bot.run())
    try:
        await until(lambda: bot.state.state == BotState.IN_CALL, "the bot is in", server)
        await chromium(server.breakout_page_url(alias=ALIAS, pin="1234", bot=BOT, room=ROOM))
        reached = await server.wait_for_log(
            "moved", "breakout_failed", "fatal", "call_failed", timeout=60
        )
        assert reached["event"] == "moved", server.transcript()
        room_uuid = reached["data"]["room"]
        # The bot followed the refer into the room, with its media.
        await until(
            lambda: bot.room == ROOM and bot.state.state == BotState.IN_CALL, "bot in room", server
        )
        room = node.ctx.state.conferences["secure"].breakouts[room_uuid]
        assert [p.display_name for p in room.participants.values()] == [BOT]
        assert all(c.peer is not None for p in room.participants.values() for c in p.calls.values())
        # The SDK saw the room open and the bot in the room's participant list.

        def bot_in_room() -> bool:
            return any(
                e["data"]["room"] == room_uuid
                and BOT in [p["displayName"] for p in e["data"]["participants"]]
                for e in server.events("participants")
            ) or any(
                e["data"]["room"] == room_uuid and e["data"]["displayName"] == BOT
                for e in server.events("participant_joined")
            )

        await until(bot_in_room, "the SDK sees the bot in the room", server)
        begin = server.first("breakout_begin")
        assert begin is not None and begin["data"]["breakout_uuid"] == room_uuid
        # Closing the rooms brings the bot back.
        server.open_gate("close")
        await server.wait_for_log("closed", "breakout_failed", timeout=STEP)
        await until(
            lambda: bot.room is None and bot.state.state == BotState.IN_CALL, "bot back", server
        )
        await server.wait_for_log("breakout_end", timeout=STEP)
        server.open_gate("leave")
        await server.wait_for_log("left", "leave_failed", timeout=STEP)
    finally:
        bot.request_leave()
        result = await asyncio.wait_for(task, 30)
    assert result.state == BotState.LEFT, result
    assert bot.moves == 2
    assert not server.events("breakout_failed") and not server.events("error"), server.transcript()

    # Every answer the SDK got, validated against the schema (its breakout calls included).
    seen = Seen()
    for request in server.requests:
        key = endpoint_key(request.method, request.path)
        if key is None or key == "events":
            continue
        props = schema()["definitions"][key]["properties"]
        raw = props.get(str(request.status), {}).get("type") == "string"
        body: Any = (
            request.response_body.decode()
            if raw or request.status == 204
            else json.loads(request.response_body)
        )
        validate(key, request.status, body, seen)
    called = {k for k, _ in seen.pairs}
    assert {"breakouts", "breakout_move_participants_from_main", "breakouts_disconnect"} <= called
    assert all(status == 200 for k, status in seen.pairs if k.startswith("breakout")), seen.pairs
