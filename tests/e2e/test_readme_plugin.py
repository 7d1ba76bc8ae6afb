"""The plugin example of README.md, copied as a user would, runs on the local node."""

from __future__ import annotations

import asyncio
import importlib
import re
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from agent import Bot, BotState, MessageReceived, Plugin
from agent.node import LocalNode, default_config
from tests.support.bots import local_config

pytestmark = pytest.mark.e2e

README = Path(__file__).resolve().parents[2] / "README.md"


def readme_plugin_source() -> str:
    section = README.read_text().split("## Write a plugin", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert match is not None, "no python example under 'Write a plugin'"
    return match.group(1)


@pytest.fixture
async def node() -> AsyncIterator[LocalNode]:
    async with LocalNode(default_config()) as n:
        yield n


class Inbox(Plugin[Any]):
    def __init__(self) -> None:
        super().__init__()
        self.messages: list[MessageReceived] = []

    async def on_message_received(self, event: MessageReceived) -> None:
        self.messages.append(event)


def bot(node: LocalNode, name: str, plugins: list[Plugin[Any]]) -> Bot:
    return Bot(local_config(node.base_url, name, {"audio": "silence", "video": "none"}), plugins)


async def test_the_readme_greeter_greets(
    node: LocalNode, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "greeter.py").write_text(readme_plugin_source())
    monkeypatch.syspath_prepend(str(tmp_path))
    greeter_module = importlib.import_module("greeter")
    try:
        greeter = greeter_module.Greeter(None, greeter_module.GreeterConfig(greeting="hi"))
        inbox = Inbox()
        host, guest = bot(node, "Greeter", [greeter]), bot(node, "Alice", [inbox])
        host_task = asyncio.create_task(host.run())
        async with asyncio.timeout(15):
            while host.state.state != BotState.IN_CALL:
                assert not host_task.done(), host.state.history
                await asyncio.sleep(0.05)
            guest_task = asyncio.create_task(guest.run())
            while not inbox.messages:  # noqa: ASYNC110
                await asyncio.sleep(0.05)
        assert [m.payload for m in inbox.messages] == ["hi, Alice"]
        assert greeter.context.metrics["greeted"] == 1
        # `!lock` from a chat: the greeter joined `meet` as host, so the conference locks.
        assert inbox.has_context
        await inbox.context.send_message("!lock")
        conference = node.ctx.state.conferences["meet"]
        async with asyncio.timeout(5):
            while not conference.locked:  # noqa: ASYNC110
                await asyncio.sleep(0.05)
        for b in (host, guest):
            b.request_leave()
        await asyncio.wait_for(asyncio.gather(host_task, guest_task), 15)
    finally:
        sys.modules.pop("greeter", None)
