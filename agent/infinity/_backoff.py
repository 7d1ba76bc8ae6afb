"""Jittered exponential backoff, as Pexip's SDK does it (base 100 ms, x2, max 30 s, +-20%).

Jitter keeps a fleet of bots that lost the same node from reconnecting in lockstep.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass
class Backoff:
    base: float = 0.1
    factor: float = 2.0
    max_delay: float = 30.0
    jitter: float = 0.2
    rng: random.Random = field(default_factory=random.Random)
    attempts: int = 0

    def next_delay(self) -> float:
        """The delay before the next attempt; counts the attempt."""
        raw = min(self.max_delay, self.base * self.factor**self.attempts)
        self.attempts += 1
        return raw * (1.0 + self.rng.uniform(-self.jitter, self.jitter))

    def reset(self) -> None:
        self.attempts = 0
