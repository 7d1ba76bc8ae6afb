"""Real bots on a local node, for the end-to-end tests: a configuration that keeps ICE on
loopback and stays until told to leave, starting a bot and waiting until it is in the
call, and waiting for a condition."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from agent.config import BotConfig, parse_config
from agent.runtime.bot import Bot
from agent.runtime.outcome import BotResult
from agent.runtime.states import BotState

#: Sends nothing and receives nothing: signalling, chat and host controls only.
NO_MEDIA: dict[str, Any] = {
    "audio": "none",
    "video": "none",
    "receive_audio": False,
    "receive_video": False,
}


def local_config(
    node_url: str,
    name: str,
    media: dict[str, Any] | None = None,
    *,
    alias: str = "meet",
    leave: dict[str, Any] | None = None,
    **extra: Any,
) -> BotConfig:
    """`name` in `alias` on the node at `node_url`, ICE on 127.0.0.1 only; it does not leave
    when alone (`leave` adds to that, e.g. a `duration`); `extra` are further top-level
    settings (`pin`, `rejoin`...)."""
    return parse_config(
        {
            "node": node_url,
            "alias": alias,
            "display_name": name,
            "media": {"ice_host_addresses": ["127.0.0.1"], **(media or {})},
            "leave": {"alone_seconds": None, **(leave or {})},
            **extra,
        }
    )


async def in_call(bot: Bot, timeout: float = 15.0) -> asyncio.Task[BotResult]:
    """Run `bot` and return its task once it is in the call; a bot that ends first fails
    the test with its state history."""
    task = asyncio.create_task(bot.run())
    async with asyncio.timeout(timeout):
        while bot.state.state != BotState.IN_CALL:
            assert not task.done(), bot.state.history
            await asyncio.sleep(0.05)
    return task


async def until(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    """Wait until `condition()` holds; TimeoutError after `timeout` seconds."""
    async with asyncio.timeout(timeout):
        while not condition():  # noqa: ASYNC110
            await asyncio.sleep(0.02)
