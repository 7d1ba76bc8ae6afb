from __future__ import annotations

import re
from pathlib import Path

import pytest

from agent.runtime.states import (
    EXIT_CODES,
    BotState,
    FailureReason,
    IllegalTransition,
    StateChanged,
    StateMachine,
)


def test_happy_path_is_recorded_and_announced() -> None:
    seen: list[StateChanged] = []
    t = iter(range(100))
    sm = StateMachine(clock=lambda: float(next(t)), listeners=[seen.append])
    for state in (BotState.CONNECTED, BotState.IN_CALL, BotState.LEAVING, BotState.LEFT):
        sm.to(state)
    assert [c.new for c in seen] == [
        BotState.CONNECTED,
        BotState.IN_CALL,
        BotState.LEAVING,
        BotState.LEFT,
    ]
    assert [c.at for c in seen] == [0.0, 1.0, 2.0, 3.0]
    assert sm.finished and sm.exit_code() == 0
    assert sm.to(BotState.LEFT) is None  # same state: no-op


def test_impossible_transitions_raise() -> None:
    sm = StateMachine()
    with pytest.raises(IllegalTransition):
        sm.to(BotState.LEFT)
    sm.to(BotState.FAILED, FailureReason.INVALID_PIN)
    with pytest.raises(IllegalTransition):
        sm.to(BotState.JOINING)


def test_failures_need_a_reason_and_map_to_distinct_exit_codes() -> None:
    sm = StateMachine()
    with pytest.raises(ValueError):
        sm.to(BotState.FAILED)
    sm.to(BotState.FAILED, FailureReason.INVALID_PIN, "Invalid PIN")
    assert sm.exit_code() == EXIT_CODES[FailureReason.INVALID_PIN]
    assert set(EXIT_CODES) == set(FailureReason)
    codes = list(EXIT_CODES.values())
    assert len(codes) == len(set(codes)) and 0 not in codes


def test_readme_lists_every_exit_code() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    rows = dict(re.findall(r"^\| (\d+) \| `(\w+)` \|", readme, flags=re.MULTILINE))
    assert {reason: int(code) for code, reason in rows.items()} == {
        str(r): c for r, c in EXIT_CODES.items()
    }
