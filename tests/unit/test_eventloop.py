"""`PEXBOT_EVENT_LOOP`: asyncio's loop by default, uvloop on request, a bad value named."""

from __future__ import annotations

import asyncio
import inspect
import sys
import types

import pytest

from agent import _eventloop
from agent._eventloop import EventLoopChoiceError, loop_choice, run
from tests.support.pexbot_cmd import pexbot


async def _loop_type() -> type:
    return type(asyncio.get_running_loop())


def test_asyncio_is_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(_eventloop.ENV, raising=False)
    assert loop_choice() == "asyncio"
    assert run(_loop_type()).__module__.startswith("asyncio")


def test_uvloop_on_request(monkeypatch: pytest.MonkeyPatch) -> None:
    made: list[asyncio.AbstractEventLoop] = []

    def new_event_loop() -> asyncio.AbstractEventLoop:
        made.append(asyncio.new_event_loop())
        return made[-1]

    fake = types.ModuleType("uvloop")
    fake.new_event_loop = new_event_loop  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "uvloop", fake)
    monkeypatch.setenv(_eventloop.ENV, " UVLOOP ")
    run(_loop_type())
    assert len(made) == 1


def test_uvloop_not_installed_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "uvloop", None)  # import raises ImportError
    monkeypatch.setenv(_eventloop.ENV, "uvloop")
    coro = _loop_type()
    with pytest.raises(EventLoopChoiceError, match="uvloop is not installed"):
        run(coro)
    assert inspect.getcoroutinestate(coro) == "CORO_CLOSED"  # not left un-awaited


async def test_a_bad_value_is_one_line_through_the_command() -> None:
    ran = await pexbot(
        "run", "--node", "http://127.0.0.1:9", "--alias", "meet",
        env={"PEXBOT_EVENT_LOOP": "trio"},
    )  # fmt: skip
    assert ran.code == 2
    assert ran.only_line == "pexbot: PEXBOT_EVENT_LOOP='trio' is not one of: asyncio, uvloop"
