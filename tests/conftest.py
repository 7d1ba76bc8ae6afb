"""Every test must leave nothing running: no asyncio task, no thread.

A task or a thread that outlives its test is a leak in the code under test (a bot that
does not cancel what it started, a node that forgets a handler), and it is what turns a
long-running bot into one that slowly fills its memory. aiohttp's own suite does the same.

Order matters and is what pytest gives autouse fixtures: `_no_leaked_threads` is set up
first and torn down last, after the test's event loop has been closed (which also stops the
loop's default executor); `_no_leaked_tasks` is torn down inside the loop, after every
other fixture of the test.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Iterator

import pytest

#: How long a leftover is given to finish on its own before it counts as a leak: a task
#: that is already cancelled, or a thread on its way out, needs a few loop turns.
GRACE = 2.0

#: Threads that a library starts once per process, on first use, and keeps by design.
LONG_LIVED_THREADS: tuple[str, ...] = ()


def _describe(task: asyncio.Task[object]) -> str:
    coro = task.get_coro()
    where = getattr(coro, "__qualname__", repr(coro))
    return f"{task.get_name()} ({where})"


@pytest.fixture(autouse=True)
def _no_leaked_threads() -> Iterator[None]:
    before = set(threading.enumerate())
    yield
    deadline = time.monotonic() + GRACE
    while True:
        leftover = [
            t
            for t in threading.enumerate()
            if t not in before and t.is_alive() and not t.name.startswith(LONG_LIVED_THREADS)
        ]
        if not leftover or time.monotonic() > deadline:
            break
        time.sleep(0.02)
    assert not leftover, f"threads left running: {[t.name for t in leftover]}"


@pytest.fixture(autouse=True)
async def _no_leaked_tasks(_no_leaked_threads: None) -> AsyncIterator[None]:
    yield
    me = asyncio.current_task()
    deadline = asyncio.get_running_loop().time() + GRACE
    while True:
        leftover = [t for t in asyncio.all_tasks() if t is not me and not t.done()]
        if not leftover or asyncio.get_running_loop().time() > deadline:
            break
        await asyncio.sleep(0.02)
    assert not leftover, f"asyncio tasks left running: {sorted(map(_describe, leftover))}"


# `pytester` runs the guard above on a file of deliberate leaks (tests/unit/test_leak_guard.py).
pytest_plugins = ("pytester",)
