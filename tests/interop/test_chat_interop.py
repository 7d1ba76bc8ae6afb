"""Pexip's own web SDK in headless Chromium talks to the chat plugin: the page (the
harness's page.html) joins as a host, sends `!status` to the conference, and receives the
bot's reply as a private message (`direct`) through the SDK's `onMessage`."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable

import pytest

from agent import Bot, BotState
from agent.node import LocalNode
from plugins.chat import ChatPlugin
from tests.e2e.chat_support import ALIAS, HOST_PIN, bot_config, until
from tests.e2e.test_chat_commands import Events

from .conftest import require_prerequisites
from .harness import Chromium, PageServer

pytestmark = pytest.mark.interop

SDK_NAME = "SDK host"
JOIN_TIMEOUT = 40.0
FAILURES = ("fatal", "call_failed", "leave_failed", "message_failed")


async def test_web_sdk_sends_a_command_and_gets_the_private_reply(
    node: LocalNode,
    page_server: PageServer,
    chromium: Callable[[str], Awaitable[Chromium]],
) -> None:
    require_prerequisites()
    chat, events = ChatPlugin(), Events()
    bot = Bot(bot_config(node, "Chatbot"), [chat, events])
    task = asyncio.create_task(bot.run())
    try:
        await until(lambda: bot.state.state == BotState.CONNECTED, 15)
        server = page_server
        browser = await chromium(
            server.page_url(alias=ALIAS, name=SDK_NAME, pin=HOST_PIN, message="!status")
        )
        try:
            reached = await server.wait_for_log("waiting_to_leave", *FAILURES, timeout=JOIN_TIMEOUT)
            transcript = "\n" + server.transcript() + "\n" + browser.log_tail()
            assert reached["event"] == "waiting_to_leave", transcript
            sent = server.first("message_sent")
            assert sent is not None and sent["data"]["result"] is True, transcript
            # The bot's answer reached the SDK as a private message from the bot.
            got = await server.wait_for_log("message", timeout=10)
            data = got["data"]
            assert data["displayName"] == "Chatbot", server.transcript()
            assert data["direct"] is True, server.transcript()
            first, *rest = data["message"].splitlines()
            assert re.fullmatch(
                r"Chatbot \(host\) in secure: connected, up 0:00:\d\d, 1 other participant", first
            ), data
            assert rest == ["recording: no recorder in this bot", "moderator: not loaded"]
            # Only the one reply; the bot saw the SDK's participant as a host.
            assert len(server.events("message")) == 1
            (command,) = [e.data for e in events.seen if e.kind == "command"]
            assert (command["command"], command["role"], command["outcome"]) == (
                "status",
                "host",
                "done",
            )
            assert command["name"] == SDK_NAME
        finally:
            server.open_gate("leave")
            await server.wait_for_log("left", "leave_failed", timeout=10)
            await browser.stop()
    finally:
        bot.request_leave()
        await asyncio.wait_for(task, 20)
