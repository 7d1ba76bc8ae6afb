"""The node's wrong-PIN accounting (`agent/node/pins.py`) on a hand-driven clock."""

from __future__ import annotations

from agent.node.pins import PRUNE_ABOVE, PinGuard


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def guard(clock: Clock, retries: int = 3, per_address: int = 5) -> PinGuard:
    return PinGuard(retries=retries, per_address=per_address, window=60.0, clock=clock)


def test_renaming_does_not_buy_guesses() -> None:
    clock = Clock()
    pins = guard(clock)
    ended = [pins.failed("secure", "10.0.0.1", f"name{i}") for i in range(5)]
    assert ended == [False, False, False, False, True]
    assert pins.locked_out("secure", "10.0.0.1")
    # Per conference and per address: the others are untouched.
    assert not pins.locked_out("other", "10.0.0.1")
    assert not pins.locked_out("secure", "10.0.0.2")
    clock.now += 59
    assert pins.locked_out("secure", "10.0.0.1")
    clock.now += 2  # the window has passed
    assert not pins.locked_out("secure", "10.0.0.1")


def test_retries_per_name_end_the_attempt_and_a_right_pin_clears_only_the_name() -> None:
    clock = Clock()
    pins = guard(clock, retries=2, per_address=10)
    assert pins.failed("secure", "a", "x") is False
    assert pins.failed("secure", "a", "x") is True  # the attempt ends
    assert pins.failed("secure", "a", "x") is False  # a new attempt counts afresh
    pins.succeeded("secure", "a", "x")  # e.g. the guest PIN
    assert pins.failed("secure", "a", "x") is False
    # The address's window kept all four wrong PINs: a known guest PIN buys no guesses.
    for i in range(5):
        pins.failed("secure", "a", f"other{i}")
    assert not pins.locked_out("secure", "a")  # 9 of 10
    assert pins.failed("secure", "a", "other") is True
    assert pins.locked_out("secure", "a")


def test_memory_stays_bounded() -> None:
    clock = Clock()
    pins = guard(clock, retries=3, per_address=5)
    for i in range(10_000):
        pins.failed("secure", "a", f"name{i}")  # one address, endless renames
        clock.now += 0.001
    record = pins._addresses[("secure", "a")]
    assert len(record.failures) <= 5 and len(record.names) <= 5
    for i in range(5 * PRUNE_ABOVE):
        pins.failed("secure", f"10.{i}", "x")  # many addresses, each idle after one guess
        clock.now += 0.1
    clock.now += 120
    pins.failed("secure", "last", "x")
    assert len(pins._addresses) <= PRUNE_ABOVE + 1
