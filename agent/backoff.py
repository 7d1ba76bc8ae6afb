"""Jittered exponential backoff, as Pexip's SDK does it (base 100 ms, x2, max 30 s, +-20%).

One implementation for every layer (event stream, token refresh, rejoins, webhooks).
Jitter keeps a fleet of bots that lost the same node from reconnecting in lockstep.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["Backoff", "Budget", "backoff_delay"]


def backoff_delay(
    step: int,
    *,
    base_delay: float,
    max_delay: float,
    jitter: float,
    rng: random.Random,
    factor: float = 2.0,
) -> float:
    """The delay before retry number `step` (1-based): base * factor^(step-1), capped,
    jittered."""
    delay = min(max_delay, base_delay * factor ** min(step - 1, 64))
    if jitter:
        delay *= 1.0 + rng.uniform(-jitter, jitter)
    return max(0.0, delay)


@dataclass
class Backoff:
    """Delays for successive attempts; `reset()` after a success."""

    base: float = 0.1
    factor: float = 2.0
    max_delay: float = 30.0
    jitter: float = 0.2
    rng: random.Random = field(default_factory=random.Random)
    attempts: int = 0

    def next_delay(self) -> float:
        """The delay before the next attempt; counts the attempt."""
        self.attempts += 1
        return backoff_delay(
            self.attempts,
            base_delay=self.base,
            max_delay=self.max_delay,
            jitter=self.jitter,
            rng=self.rng,
            factor=self.factor,
        )

    def reset(self) -> None:
        self.attempts = 0


# A retry budget per incident.
# A retry budget per incident: a bot that has been fine for a while starts afresh.
#
# A lifetime budget punishes long runs: six isolated token losses 25 s apart end a bot with
# `max_rejoins = 5`, its backoff grown to 16 s, although each one was recovered at once.
# `Budget` counts tries within one incident only. An incident ends when `reset_after` seconds
# have passed since the last try began (its backoff delay elapsed) without another try being
# needed; the next failure is then a new incident with the full budget and the shortest delay.
class Budget:
    """At most `limit` tries per incident, each after the backoff's next delay."""

    def __init__(
        self,
        limit: int,
        *,
        reset_after: float,
        backoff: Backoff,
        now: Callable[[], float],
    ) -> None:
        if limit < 0:
            raise ValueError("limit must be >= 0")
        if reset_after <= 0:
            raise ValueError("reset_after must be positive")
        self.limit = limit
        self.reset_after = reset_after
        self._backoff = backoff
        self._now = now
        self._resumed_at: float | None = None
        #: Tries taken in the current incident.
        self.used = 0
        #: Incidents so far (1 once the first try was taken).
        self.incidents = 0

    def take(self) -> float | None:
        """The delay to wait before the next try, or None when this incident's budget is
        spent (give up)."""
        now = self._now()
        if self._resumed_at is None or now - self._resumed_at >= self.reset_after:
            # Healthy for long enough since the last try (or the first incident).
            self.used = 0
            self._backoff.reset()
            self.incidents += 1
        if self.used >= self.limit:
            return None
        self.used += 1
        delay = self._backoff.next_delay()
        self._resumed_at = now + delay
        return delay
