"""Jittered exponential backoff, as Pexip's SDK does it (base 100 ms, x2, max 30 s, +-20%).

One implementation for every layer (event stream, token refresh, rejoins, webhooks).
Jitter keeps a fleet of bots that lost the same node from reconnecting in lockstep.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

__all__ = ["Backoff", "backoff_delay"]


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
