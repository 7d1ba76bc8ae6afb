"""`LimitedLog`: a flood of one kind of warning becomes a few lines and a count."""

from __future__ import annotations

import logging

import pytest

from agent.infinity._ratelimit import LimitedLog

log = logging.getLogger("test.ratelimit")


class Now:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == log.name]


def test_a_flood_is_a_few_lines_and_one_summary(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    now = Now()
    limited = LimitedLog(log, burst=2, window=60.0, now=now)
    for i in range(10_000):
        now.t = i * 0.001
        limited.log("event %r is malformed: %s", "stage", f"error {i}")
    assert lines(caplog) == [
        "event 'stage' is malformed: error 0",
        "event 'stage' is malformed: error 1",
    ]
    assert limited.suppressed == 9_998
    now.t = 61.0
    limited.log("event %r is malformed: %s", "stage", "error again")
    assert lines(caplog)[2:] == [
        "9998 more like this in the last 61 s (last: event 'stage' is malformed: error 9999)",
        "event 'stage' is malformed: error again",
    ]


def test_kinds_are_counted_apart_and_flush_summarises(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    now = Now()
    limited = LimitedLog(log, burst=1, window=60.0, now=now)
    for _ in range(3):
        limited.log("a %s", 1)
        limited.log("b %s", 2)
        limited.log("x", key="custom")
    assert lines(caplog) == ["a 1", "b 2", "x"]
    now.t = 5.0
    limited.flush()
    assert sorted(lines(caplog)[3:]) == [
        "2 more like this in the last 5 s (last: a 1)",
        "2 more like this in the last 5 s (last: b 2)",
        "2 more like this in the last 5 s (last: x)",
    ]
    limited.flush()  # nothing pending: nothing written
    assert len(lines(caplog)) == 6


def test_no_summary_without_suppressed_lines(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    now = Now()
    limited = LimitedLog(log, burst=3, window=10.0, level=logging.INFO, now=now)
    limited.log("once")
    now.t = 100.0
    limited.log("once")
    limited.flush()
    assert lines(caplog) == ["once", "once"]
    assert all(r.levelno == logging.INFO for r in caplog.records)


def test_ever_changing_keys_do_not_grow_without_bound() -> None:
    limited = LimitedLog(log, burst=1, now=Now())
    for i in range(5_000):
        limited.log("k", key=str(i))
    assert len(limited._windows) <= 256


def test_two_instances_share_nothing(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    first, second = LimitedLog(log, burst=1, now=Now()), LimitedLog(log, burst=1, now=Now())
    assert first.log("same") and not first.log("same")
    assert second.log("same")
    assert first.suppressed == 1 and second.suppressed == 0


def test_bad_settings() -> None:
    with pytest.raises(ValueError):
        LimitedLog(log, burst=0)
    with pytest.raises(ValueError):
        LimitedLog(log, window=0)
