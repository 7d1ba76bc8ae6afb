"""The event loop the `pexbot` commands that run bots use: asyncio's own by default.

`PEXBOT_EVENT_LOOP=uvloop` runs them on uvloop instead, when it is installed (`pip install
uvloop`; not a dependency). Measured on this project's benchmarks it saves a bot too little
to be worth a dependency (README, "Media cost"): aiortc's per-packet Python work, not the
loop, is what a media bot spends its CPU on. The switch stays so that it can be measured
again (`PEXBOT_EVENT_LOOP=uvloop python -m bench senders`).
"""

from __future__ import annotations

import asyncio
import importlib
import os
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

ENV = "PEXBOT_EVENT_LOOP"
CHOICES = ("asyncio", "uvloop")

T = TypeVar("T")


class EventLoopChoiceError(ValueError):
    """`PEXBOT_EVENT_LOOP` names no loop this machine has."""


def loop_choice() -> str:
    """The loop `PEXBOT_EVENT_LOOP` asks for (EventLoopChoiceError names a bad value)."""
    choice = os.environ.get(ENV, "").strip().lower() or "asyncio"
    if choice not in CHOICES:
        raise EventLoopChoiceError(f"{ENV}={os.environ[ENV]!r} is not one of: {', '.join(CHOICES)}")
    return choice


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """A factory for the chosen loop (None: asyncio's default)."""
    if loop_choice() == "asyncio":
        return None
    try:
        # Imported by name: uvloop is optional, and only a run that asks for it pays.
        uvloop = importlib.import_module("uvloop")
    except ImportError as exc:
        raise EventLoopChoiceError(
            f"{ENV}=uvloop but uvloop is not installed (pip install uvloop)"
        ) from exc
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory


def run(main: Coroutine[Any, Any, T]) -> T:
    """`asyncio.run(main)` on the chosen loop."""
    try:
        factory = loop_factory()
    except EventLoopChoiceError:
        main.close()  # never awaited: no "coroutine was never awaited" warning
        raise
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(main)
