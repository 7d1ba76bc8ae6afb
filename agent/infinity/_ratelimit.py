"""Rate-limited log lines: a node that misbehaves a thousand times a second gets a few lines
and a count from us, not a thousand lines.

`LimitedLog` is a plain object owned by whoever logs (an event stream, a client): no global
state, so two bots never share or hide each other's counts.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["LimitedLog"]

#: Distinct kinds tracked at once; past this the windows are summarised and forgotten, so a
#: caller that (wrongly) uses ever-changing keys cannot grow memory without bound.
_MAX_KINDS = 256


@dataclass
class _Window:
    start: float
    logged: int = 0
    suppressed: int = 0
    # The latest suppressed line, formatted only for the summary (floods stay cheap).
    last_msg: str = ""
    last_args: tuple[object, ...] = ()


class LimitedLog:
    """Logs the first `burst` lines of each kind per `window` seconds and counts the rest.

    The count is written as one summary line ("N more like this in the last 60 s") when the
    window has passed and the kind occurs again, or on `flush()` (call it when the source of
    the lines closes). A kind is the message's format string unless a `key` is given.
    """

    def __init__(
        self,
        logger: logging.Logger,
        *,
        burst: int = 3,
        window: float = 60.0,
        level: int = logging.WARNING,
        now: Callable[[], float] = time.monotonic,
    ) -> None:
        if burst < 1:
            raise ValueError("burst must be at least 1")
        if window <= 0:
            raise ValueError("window must be positive")
        self._logger = logger
        self._burst = burst
        self._window = window
        self._level = level
        self._now = now
        self._windows: dict[str, _Window] = {}
        #: Lines counted instead of logged, over the object's life.
        self.suppressed = 0

    def log(self, msg: str, *args: object, key: str | None = None) -> bool:
        """Log `msg % args` unless this kind already had `burst` lines in this window.
        Returns whether the line was written."""
        kind = msg if key is None else key
        now = self._now()
        win = self._windows.get(kind)
        if win is not None and now - win.start >= self._window:
            self._summarise(win, now)
            win = None
        if win is None:
            if len(self._windows) >= _MAX_KINDS:
                self.flush()
            win = self._windows[kind] = _Window(now)
        if win.logged < self._burst:
            win.logged += 1
            self._logger.log(self._level, msg, *args)
            return True
        win.suppressed += 1
        self.suppressed += 1
        win.last_msg, win.last_args = msg, args
        return False

    def flush(self) -> None:
        """Write the pending summaries and start every kind afresh."""
        now = self._now()
        for win in self._windows.values():
            self._summarise(win, now)
        self._windows.clear()

    def _summarise(self, win: _Window, now: float) -> None:
        if win.suppressed:
            last = win.last_msg % win.last_args if win.last_args else win.last_msg
            self._logger.log(
                self._level,
                "%d more like this in the last %.0f s (last: %s)",
                win.suppressed,
                max(now - win.start, 0.0),
                last[:300],
            )
            win.suppressed = 0
            win.last_args = ()
