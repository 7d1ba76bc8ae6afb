"""Logging for the `pexbot` command: text or JSON lines, with secrets scrubbed, each line
naming the bot it belongs to.

Secrets are kept out of log calls by design; the lines are written through a
`agent.redact.RedactingStream`, the second line of defence for the secrets the command knows
(PINs, passwords, tokens), in case a node or a library echoes one.

The bot's name comes from a context variable `Bot.run` sets: every task a bot starts
(events, media, plugins, aiortc's own) inherits it, so lines from many bots in one process
(`pexbot fleet`) say whose they are without any logger knowing about bots.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Iterable
from contextvars import ContextVar

from ..redact import RedactingStream, Redactor
from .states import StateChanged

#: State changes are the bot's story: logged under the bot's logger name.
log = logging.getLogger("agent.runtime.bot")

#: The id of the bot whose task is running (None outside any bot).
current_bot: ContextVar[str | None] = ContextVar("pexbot_bot", default=None)


def log_state(bot_name: str, change: StateChanged) -> None:
    """The log line of a bot's state change (a warning when it carries a failure reason)."""
    if change.reason is not None:
        log.warning(
            "bot %s: %s -> %s (%s: %s)",
            bot_name,
            change.old,
            change.new,
            change.reason,
            change.detail,
        )
    else:
        log.info("bot %s: %s -> %s", bot_name, change.old, change.new)


class BotNameFilter(logging.Filter):
    """Stamps each record with the bot whose task logged it (`record.bot`)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "bot"):
            record.bot = current_bot.get()
        return True


class TextFormatter(logging.Formatter):
    """`time level logger: [bot] message`; the `[bot]` only inside a bot's tasks."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(bot_tag)s%(message)s")

    def formatMessage(self, record: logging.LogRecord) -> str:
        bot = getattr(record, "bot", None)
        record.bot_tag = f"[{bot}] " if bot is not None else ""
        return super().formatMessage(record)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        bot = getattr(record, "bot", None)
        if bot is not None:
            entry["bot"] = bot
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry)


def setup_logging(
    fmt: str = "text", *, level: int = logging.INFO, secrets: Iterable[str] = ()
) -> None:
    """Log lines on stderr, scrubbed of `secrets` (and of every secret already known to the
    `pexbot` command's redactor, when stderr is its `RedactingStream`)."""
    stream = sys.stderr
    if not isinstance(stream, RedactingStream):
        stream = RedactingStream(stream, Redactor())
    stream.redactor.add(*secrets)
    handler = logging.StreamHandler(stream)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(TextFormatter())
    handler.addFilter(BotNameFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # aiortc/aioice are chatty at INFO about every candidate pair.
    for noisy in ("aioice", "aiortc", "aiohttp.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
