"""Log lines name the bot whose task wrote them (many bots share one process in a fleet)."""

from __future__ import annotations

import asyncio
import io
import json
import logging

import pytest

from agent.runtime.logs import BotNameFilter, JsonFormatter, TextFormatter, current_bot


@pytest.mark.parametrize("fmt", ["text", "json"])
async def test_each_bots_tasks_log_under_its_name(fmt: str) -> None:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(TextFormatter() if fmt == "text" else JsonFormatter())
    handler.addFilter(BotNameFilter())
    log = logging.getLogger("pexbot.test.logs")
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False

    async def bot(name: str) -> None:
        current_bot.set(name)  # as Bot.run does; the child task inherits it
        await asyncio.create_task(asyncio.sleep(0))
        await asyncio.create_task(_say(log, "from a child task"))

    try:
        await asyncio.gather(bot("0:Same"), bot("1:Same"))
        log.info("outside any bot")
    finally:
        log.removeHandler(handler)
    lines = out.getvalue().splitlines()
    if fmt == "json":
        bots = sorted(str(json.loads(line).get("bot")) for line in lines)
        assert bots == ["0:Same", "1:Same", "None"]
    else:
        assert sorted(line.split(": ", 1)[1] for line in lines) == [
            "[0:Same] from a child task",
            "[1:Same] from a child task",
            "outside any bot",
        ]


async def _say(log: logging.Logger, text: str) -> None:
    log.info(text)
