"""`Budget`: tries per incident, afresh after a healthy stretch (issue 12, point 2)."""

from __future__ import annotations

import random

import pytest

from agent.backoff import Backoff, Budget


class Now:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def budget(limit: int, now: Now, reset_after: float = 60.0) -> Budget:
    backoff = Backoff(base=1.0, max_delay=30.0, jitter=0.0, rng=random.Random(1))
    return Budget(limit, reset_after=reset_after, backoff=backoff, now=now)


def test_one_incident_spends_the_budget_with_growing_delays() -> None:
    now = Now()
    b = budget(3, now)
    delays = []
    for _ in range(3):
        delay = b.take()
        assert delay is not None
        delays.append(delay)
        now.t += delay + 5.0  # rejoined, lost again 5 s later: the same incident
    assert delays == [1.0, 2.0, 4.0]
    assert b.take() is None
    assert b.incidents == 1 and b.used == 3


def test_isolated_incidents_each_get_the_full_budget() -> None:
    # Six refusals 25 s apart with max_rejoins = 5 ended a bot before (issue 12).
    now = Now()
    b = budget(5, now, reset_after=20.0)
    for _ in range(6):
        assert b.take() == 1.0  # the shortest delay every time
        now.t += 25.0
    assert b.incidents == 6


def test_health_is_counted_from_when_the_last_try_began() -> None:
    now = Now()
    b = budget(2, now, reset_after=10.0)
    assert b.take() == 1.0  # the try starts at t = 1
    now.t = 10.5  # 9.5 s after it: still the same incident
    assert b.take() == 2.0  # starts at t = 12.5
    now.t = 22.5  # 10 s of health
    assert b.take() == 1.0 and b.used == 1 and b.incidents == 2


def test_zero_budget_never_tries() -> None:
    assert budget(0, Now()).take() is None


def test_bad_settings() -> None:
    with pytest.raises(ValueError):
        budget(-1, Now())
    with pytest.raises(ValueError):
        budget(1, Now(), reset_after=0)
