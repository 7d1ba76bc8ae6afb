"""Bounded retries for transient answers (429, 502, 503, 504, no response).

A manager that says `Retry-After` is believed, within the budget: a wait longer than
`max_delay`, or one that would take the request past `max_total_wait`, ends the retries at
once instead of sleeping. Without the header the delay grows exponentially with jitter, so
many clients that hit the same busy manager do not come back in lockstep.

Commands (POST) are not idempotent (a repeated `dial` places a second call), so they are
retried only on answers that say the request was not served: 429 and 503.
"""

from __future__ import annotations

import asyncio
import math
import random
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

RETRY_STATUSES = frozenset({429, 502, 503, 504})
UNSERVED_STATUSES = frozenset({429, 503})


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a `Retry-After` header (delta-seconds or an HTTP date);
    None when absent or unreadable."""
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


@dataclass
class RetryPolicy:
    """How transient failures are retried.

    `max_attempts` counts the first try; `max_total_wait` bounds the time spent sleeping
    across all retries of one request; `max_delay` bounds a single wait (a longer
    `Retry-After` gives up at once). `sleep` and `rng` are injectable for tests.
    """

    max_attempts: int = 4
    base_delay: float = 0.5
    max_delay: float = 30.0
    max_total_wait: float = 60.0
    jitter: float = 0.2
    retry_statuses: frozenset[int] = RETRY_STATUSES
    rng: random.Random = field(default_factory=random.Random)
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep

    def retryable(self, status: int | None, method: str) -> bool:
        """Whether an answer (None: no response) may be retried for this method."""
        if method.upper() != "GET":
            return status is not None and status in UNSERVED_STATUSES & self.retry_statuses
        return status is None or status in self.retry_statuses

    def delay(self, attempt: int, headers: Mapping[str, str] | None) -> float:
        """The wait before attempt `attempt + 1` (attempt is 1-based)."""
        advised = parse_retry_after((headers or {}).get("retry-after"))
        if advised is not None:
            return advised
        delay = min(self.max_delay, self.base_delay * 2.0 ** min(attempt - 1, 32))
        if self.jitter:
            delay *= 1.0 + self.rng.uniform(-self.jitter, self.jitter)
        return max(0.0, delay)

    def allows(self, attempt: int, waited: float, delay: float) -> bool:
        """Whether one more try fits the budget."""
        return (
            attempt < self.max_attempts
            and delay <= self.max_delay
            and waited + delay <= self.max_total_wait
        )


NO_RETRY = RetryPolicy(max_attempts=1)
