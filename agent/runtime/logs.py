"""Logging for the `pexbot` command: text or JSON lines, with secrets scrubbed, each line
naming the bot it belongs to.

Secrets are kept out of log calls by design; the scrubber is a second line of defence for
values the command knows (the PIN it resolved), in case a library logs a request.

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

#: The id of the bot whose task is running (None outside any bot).
current_bot: ContextVar[str | None] = ContextVar("pexbot_bot", default=None)


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


class _Scrub(logging.Filter):
    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self._secrets = [s for s in secrets if s and len(s) >= 3]

    def filter(self, record: logging.LogRecord) -> bool:
        if self._secrets:
            message = record.getMessage()
            for secret in self._secrets:
                message = message.replace(secret, "***")
            record.msg, record.args = message, None
        return True


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
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(TextFormatter())
    handler.addFilter(_Scrub(secrets))
    handler.addFilter(BotNameFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # aiortc/aioice are chatty at INFO about every candidate pair.
    for noisy in ("aioice", "aiortc", "aiohttp.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
