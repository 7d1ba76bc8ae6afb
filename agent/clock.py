"""One clock for the whole bot: time is a seam.

The refresh loop, backoffs, the state machine, the media taps and the plugins read time
through a `Clock`, so every packet and event is stamped on the same monotonic time line and
tests can run hours in virtual time without sleeping.
"""

from __future__ import annotations

import asyncio
import time
from typing import Protocol

__all__ = ["Clock", "SystemClock", "sleep_or_event"]


class Clock(Protocol):
    """Monotonic seconds and a sleep on the same time line."""

    def monotonic(self) -> float: ...

    async def sleep(self, seconds: float) -> None: ...


class SystemClock:
    """The real clock: `time.monotonic()` and `asyncio.sleep()`."""

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


async def sleep_or_event(clock: Clock, delay: float, event: asyncio.Event) -> None:
    """Return after `delay` seconds on `clock`, or as soon as `event` is set."""
    sleeper = asyncio.ensure_future(clock.sleep(delay))
    waiter = asyncio.ensure_future(event.wait())
    try:
        await asyncio.wait({sleeper, waiter}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (sleeper, waiter):
            task.cancel()
        await asyncio.gather(sleeper, waiter, return_exceptions=True)
