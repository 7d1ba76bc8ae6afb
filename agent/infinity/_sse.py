"""An incremental `text/event-stream` parser (WHATWG HTML, "Server-sent events", 9.2.6).

`SseParser.feed()` takes body bytes split anywhere (inside a line, between CR and LF, inside a
UTF-8 sequence) and returns the messages completed by them. It does no I/O and never raises
on malformed input: undecodable bytes become U+FFFD and unknown fields are ignored, as the
specification requires.

What it holds is bounded: a line longer than `max_line` or an event whose data grows past
`max_event` (both in characters) raises `SseLimitExceeded` instead of growing without end (a
node sending a line that never ends grew a bot by ~29 MB/s). The connection should then be
dropped: what follows on it cannot be trusted to start a fresh line.
"""

from __future__ import annotations

import codecs
from typing import NamedTuple, NoReturn

__all__ = ["MAX_EVENT", "MAX_LINE", "SseLimitExceeded", "SseMessage", "SseParser"]

_BOM = "\ufeff"

#: Default caps, generous: Pexip's largest events (a participant list, a layout) are a few
#: KiB; a line or an event beyond these is a broken or hostile node.
MAX_LINE = 1 << 20
MAX_EVENT = 4 << 20


class SseMessage(NamedTuple):
    """One dispatched event.

    `id` is the stream's last event ID at dispatch time (it persists across events until the
    server sets another; `None` when never set). `retry` is the reconnection time the server
    set while this event was being built, if any (see `SseParser.retry` for the latest one).
    """

    event: str
    data: str
    id: str | None = None
    retry: int | None = None


class SseLimitExceeded(ValueError):
    """A line or an event is larger than the parser's cap. `messages`: those completed in the
    same `feed()` before it (deliver them); the parser is reset."""

    def __init__(self, what: str, limit: int, messages: list[SseMessage]) -> None:
        super().__init__(f"event stream {what} longer than {limit} characters")
        self.messages = messages


class SseParser:
    """Parses one event stream connection; make a new parser for each connection."""

    __slots__ = (
        "_data",
        "_data_len",
        "_decoder",
        "_event",
        "_last_id",
        "_pending",
        "_pending_len",
        "_retry_here",
        "_skip_lf",
        "_started",
        "max_event",
        "max_line",
        "retry",
    )

    def __init__(self, *, max_line: int = MAX_LINE, max_event: int = MAX_EVENT) -> None:
        if max_line < 1 or max_event < 1:
            raise ValueError("max_line and max_event must be positive")
        self.max_line = max_line
        self.max_event = max_event
        self.retry: int | None = None
        self._reset()

    def _reset(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._pending: list[str] = []  # the current, not yet terminated line, in parts
        self._pending_len = 0
        self._skip_lf = False  # the previous chunk ended with CR: drop a leading LF
        self._started = False  # a BOM is only stripped at the very start
        self._data: list[str] = []
        self._data_len = 0  # characters in `_data`, newlines included
        self._event = ""
        self._last_id: str | None = None
        self._retry_here: int | None = None
        #: The latest reconnection time (ms) the server asked for, if any.
        self.retry = None

    @property
    def last_event_id(self) -> str | None:
        return self._last_id

    def feed(self, chunk: bytes) -> list[SseMessage]:
        """Messages completed by `chunk`, in order."""
        text = self._decoder.decode(chunk)
        if not text:
            return []
        if not self._started:
            self._started = True
            if text[0] == _BOM:
                text = text[1:]
                if not text:
                    return []
        if self._skip_lf:
            self._skip_lf = False
            if text[0] == "\n":
                text = text[1:]
                if not text:
                    return []
        if "\r" in text:
            # A CR at the very end ends its line now; an LF starting the next chunk is then
            # the second half of a CRLF, not an empty line.
            self._skip_lf = text[-1] == "\r"
            text = text.replace("\r\n", "\n").replace("\r", "\n")
        if "\n" not in text:
            self._pending.append(text)
            self._pending_len += len(text)
            if self._pending_len > self.max_line:
                self._overflow("line", self.max_line, [])
            return []
        if self._pending:
            self._pending.append(text)
            text = "".join(self._pending)
            self._pending.clear()
            self._pending_len = 0
        lines = text.split("\n")
        tail = lines.pop()
        # Only a text longer than the cap can hold a line longer than it: skip the per-line
        # check otherwise (the common case; it keeps the parser's speed).
        out = self._process(lines, len(text) > self.max_line)
        if tail:
            if len(tail) > self.max_line:
                self._overflow("line", self.max_line, out)
            self._pending.append(tail)
            self._pending_len = len(tail)
        return out

    def _overflow(self, what: str, limit: int, done: list[SseMessage]) -> NoReturn:
        self._reset()  # free what was held before saying so
        raise SseLimitExceeded(what, limit, done)

    def close(self) -> list[SseMessage]:
        """End of stream: an unterminated line and an undispatched event are discarded (as
        the specification says). Always returns `[]`; the parser is reset for reuse."""
        self._decoder.decode(b"", final=True)
        self._reset()
        return []

    def _process(self, lines: list[str], check_lines: bool) -> list[SseMessage]:
        out: list[SseMessage] = []
        data = self._data
        data_len = self._data_len
        max_line = self.max_line
        max_event = self.max_event
        for line in lines:
            if check_lines and len(line) > max_line:
                self._overflow("line", max_line, out)
            if not line:
                if data:
                    out.append(
                        SseMessage(
                            self._event or "message",
                            "\n".join(data),
                            self._last_id,
                            self._retry_here,
                        )
                    )
                    data.clear()
                    data_len = 0
                self._event = ""
                self._retry_here = None
                continue
            colon = line.find(":")
            if colon == 0:
                continue  # a comment (keep-alive)
            if colon < 0:
                name = line
                value = ""
            else:
                name = line[:colon]
                # One optional space after the colon; slice once (data lines are long).
                value = line[colon + 2 :] if line.startswith(" ", colon + 1) else line[colon + 1 :]
            if name == "data":
                data_len += len(value) + 1
                if data_len > max_event:
                    self._overflow("event", max_event, out)
                data.append(value)
            elif name == "event":
                self._event = value
            elif name == "id":
                if "\0" not in value:
                    self._last_id = value
            elif name == "retry" and value and value.isascii() and value.isdigit():
                self._retry_here = self.retry = int(value)
            # Any other field name is ignored.
        self._data_len = data_len
        return out
