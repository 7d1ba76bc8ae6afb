"""Time as a seam: the refresh loop and backoffs read time through a `Clock`, so tests can
run hours of token refreshes in virtual time without sleeping."""

from __future__ import annotations

import asyncio
import time
from typing import Protocol


class Clock(Protocol):
    def monotonic(self) -> float: ...

    async def sleep(self, seconds: float) -> None: ...


class SystemClock:
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
