"""Helpers for the chat plugin's end-to-end tests: a bot with plugins on the local node, and
people who chat with it over raw HTTP (their own event streams show the bot's replies)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from agent import Bot, BotState, Plugin
from agent.node import LocalNode
from tests.support import bots
from tests.support.bots import NO_MEDIA, local_config

from .conftest import Api, EventStream, Member

ALIAS = "secure"  # built-in: host PIN 1234, guest PIN 5678
HOST_PIN = "1234"
GUEST_PIN = "5678"


def bot_config(
    node: LocalNode, name: str, *, media: dict[str, Any] | None = None, pin: str = HOST_PIN
) -> Any:
    return local_config(node.base_url, name, media or NO_MEDIA, alias=ALIAS, pin=pin)


async def until(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    """`tests.support.bots.until`, with the chat tests' 5 s."""
    await bots.until(predicate, timeout)


@asynccontextmanager
async def running(
    node: LocalNode,
    plugins: list[Plugin[Any]],
    *,
    name: str = "Chatbot",
    media: dict[str, Any] | None = None,
    state: BotState = BotState.CONNECTED,
    pin: str = HOST_PIN,
) -> AsyncIterator[Bot]:
    """A bot with `plugins` joined to `ALIAS` (as a host by default); it leaves at the end."""
    bot = Bot(bot_config(node, name, media=media, pin=pin), plugins)
    task = asyncio.create_task(bot.run())
    try:
        await until(lambda: bot.state.state == state or task.done(), 20)
        assert bot.state.state == state, bot.state.history
        yield bot
    finally:
        bot.request_leave()
        await asyncio.wait_for(task, 30)


async def ended(bot: Bot, timeout: float = 10.0) -> None:
    await until(lambda: bot.state.finished, timeout)


class Person:
    """A participant joined with raw HTTP who chats and reads what reaches them."""

    def __init__(self, member: Member, stream: EventStream) -> None:
        self.member = member
        self.stream = stream
        self.uuid = member.uuid
        self.received: list[dict[str, Any]] = []
        self._task = asyncio.create_task(self._read())
        self._changed = asyncio.Event()

    @classmethod
    async def join(cls, api: Api, name: str, pin: str = HOST_PIN) -> Person:
        member = await api.joined(ALIAS, name, pin)
        return cls(member, await member.events())

    async def _read(self) -> None:
        while True:
            item = await self.stream.queue.get()
            if item is None:
                return
            event, data = item
            if event == "message_received":
                self.received.append(data)
                self._changed.set()

    async def say(self, text: str) -> None:
        reply = await self.member.conf(
            "message_conference", "message", {"type": "text/plain", "payload": text}
        )
        assert reply.status == 200, reply.body

    async def tell(self, uuid: str, text: str) -> None:
        reply = await self.member.part(
            "message_participant", uuid, "message", {"type": "text/plain", "payload": text}
        )
        assert reply.status == 200, reply.body

    def from_(self, uuid: str) -> list[dict[str, Any]]:
        return [m for m in self.received if m.get("uuid") == uuid]

    async def reply_from(self, uuid: str, after: int = 0, timeout: float = 10.0) -> dict[str, Any]:
        """The first message from `uuid` beyond the first `after` ones."""
        await until(lambda: len(self.from_(uuid)) > after, timeout)
        return self.from_(uuid)[after]

    async def ask(self, bot_uuid: str, text: str, timeout: float = 10.0) -> dict[str, Any]:
        """Say `text` in the room; the bot's next message to this person."""
        before = len(self.from_(bot_uuid))
        await self.say(text)
        return await self.reply_from(bot_uuid, before, timeout)

    async def close(self) -> None:
        """Leave: stop reading, release the token."""
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)
        await self.stream.close()
        m = self.member
        await m.api.call("release_token", "POST", m.alias, "release_token", token=m.token)
