"""A retry budget per incident: a bot that has been fine for a while starts afresh.

A lifetime budget punishes long runs: six isolated token losses 25 s apart end a bot with
`max_rejoins = 5`, its backoff grown to 16 s, although each one was recovered at once.
`Budget` counts tries within one incident only. An incident ends when `reset_after` seconds
have passed since the last try began (its backoff delay elapsed) without another try being
needed; the next failure is then a new incident with the full budget and the shortest delay.
"""

from __future__ import annotations

from collections.abc import Callable

from ._backoff import Backoff

__all__ = ["Budget"]


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
