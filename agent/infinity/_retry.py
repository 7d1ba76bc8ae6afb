"""Retrying transient failures: one policy for every request the client sends.

A node that restarts, is overloaded or sits behind a flaky proxy answers 5xx or 429, refuses
connections or times out; a browser shrugs that off, so must a bot. `Retrier.send` repeats
such requests within a bounded budget (attempts and total time) with jittered exponential
backoff, honouring `Retry-After`. Any other answer (2xx, 3xx, 4xx but 429) is definitive and
goes back to the caller at once, as does the last transient one when the budget is spent.

Whether a failure may be retried depends on whether repeating the request could do its
effect twice (a second chat line, a second dial-out, a ghost participant):

- an HTTP 429 or 5xx answer: the node says it did not complete the request. Retried for
  every endpoint, also the non-idempotent `request_token`, `calls`, `update` and `dial`;
- no connection (refused, DNS, connect timeout): nothing reached the node. Always retried;
- a timeout or a reset once the request may have been sent: the node may have acted on it.
  Retried only for idempotent endpoints (GETs and state-setting functions such as `lock`,
  `mute`, `ack`, `new_candidate`), or when the policy says `retry_unsafe` (the token
  refresh, as Pexip's SDK does).
"""

from __future__ import annotations

import logging
import math
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime

from ..backoff import backoff_delay
from ..clock import Clock
from ._ratelimit import LimitedLog
from ._transport import HttpRequest, HttpResponse, Transport, TransportError

__all__ = ["Retrier", "RetryPolicy", "RetryStats", "is_transient_status", "retry_after"]

#: Answers that mean "not done, try again": too many requests, and the server-side failures
#: of a node or a proxy in front of it (Pexip's 529 and the 52x of CDNs included). 501 and
#: 505 are not here: they do not change on a retry.
_TRANSIENT = frozenset({429, 500, 502, 503, 504, *range(520, 530)})


def is_transient_status(status: int) -> bool:
    """Whether an answer with this status may well differ on a later try (429, 5xx)."""
    return status in _TRANSIENT


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try. `attempts` counts the first try (1 = never retry; None = bounded by
    time only); no retry starts later than `total` seconds after the first try began."""

    attempts: int | None = 4
    total: float = 15.0
    base_delay: float = 0.5
    max_delay: float = 4.0
    jitter: float = 0.2
    #: Also retry timeouts and resets of non-idempotent requests.
    retry_unsafe: bool = False

    def __post_init__(self) -> None:
        if self.attempts is not None and self.attempts < 1:
            raise ValueError("retry attempts must be at least 1")
        if not math.isfinite(self.total) or self.total < 0:
            raise ValueError("retry total must be a finite number of seconds >= 0")
        if not 0 < self.base_delay <= self.max_delay:
            raise ValueError("retry delays must satisfy 0 < base_delay <= max_delay")
        if not 0 <= self.jitter < 1:
            raise ValueError("retry jitter must be in [0, 1)")

    @classmethod
    def off(cls) -> RetryPolicy:
        """Try once; every failure goes straight to the caller."""
        return cls(attempts=1)


@dataclass
class RetryStats:
    """What the retries did, for metrics (read at scrape time; never reset)."""

    #: Retries sent, by cause: an HTTP status ("503") or a transport cause ("connect").
    retries: Counter[str] = field(default_factory=Counter)
    #: Requests that got a definitive answer after at least one retry.
    recovered: int = 0
    #: Requests that failed transiently with the budget spent.
    exhausted: int = 0

    @property
    def total(self) -> int:
        return sum(self.retries.values())


def retry_after(response: HttpResponse, *, now: float | None = None) -> float | None:
    """Seconds the node asked us to wait (`Retry-After`: seconds or an HTTP date), if any."""
    value = response.header("Retry-After")
    if value is None:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value).timestamp()
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
        seconds = when - (time.time() if now is None else now)
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


class Retrier:
    """Sends requests under a `RetryPolicy`; owned by one `ApiClient`."""

    def __init__(
        self,
        policy: RetryPolicy,
        *,
        clock: Clock,
        rng: random.Random,
        logger: logging.Logger,
    ) -> None:
        self.policy = policy
        self.stats = RetryStats()
        self._clock = clock
        self._rng = rng
        # One line per endpoint and failure kind per minute; the rest are counted.
        self._log = LimitedLog(logger, burst=3, window=60.0, now=clock.monotonic)

    async def send(
        self,
        transport: Transport,
        request: HttpRequest,
        *,
        key: str,
        timeout: float,
        idempotent: bool,
        policy: RetryPolicy | None = None,
    ) -> HttpResponse:
        """The first definitive answer, or the last transient one (or its `TransportError`)
        once the budget is spent."""
        policy = policy or self.policy
        started = self._clock.monotonic()
        attempt = 0
        while True:
            attempt += 1
            response: HttpResponse | None = None
            hint: float | None = None
            try:
                response = await transport.send(request, timeout=timeout)
            except TransportError as exc:
                if not exc.transient or (exc.sent and not (idempotent or policy.retry_unsafe)):
                    raise
                cause, failure = exc.cause, str(exc)
                error: TransportError | None = exc
            else:
                if not is_transient_status(response.status):
                    if attempt > 1:
                        self.stats.recovered += 1
                    return response
                cause, failure, error = str(response.status), f"HTTP {response.status}", None
                hint = retry_after(response)
            delay = backoff_delay(
                attempt,
                base_delay=policy.base_delay,
                max_delay=policy.max_delay,
                jitter=policy.jitter,
                rng=self._rng,
            )
            if hint is not None:
                delay = max(delay, hint)
            elapsed = self._clock.monotonic() - started
            spent = policy.attempts is not None and attempt >= policy.attempts
            if spent or elapsed + delay >= policy.total:
                if policy.attempts != 1:
                    self.stats.exhausted += 1
                    self._log.log(
                        "%s: giving up after %d attempt(s) in %.1f s: %s",
                        key,
                        attempt,
                        elapsed,
                        failure,
                        key=f"giveup:{key}",
                    )
                if error is not None:
                    raise error
                assert response is not None
                return response
            self.stats.retries[cause] += 1
            self._log.log(
                "%s: %s; retry %d in %.2f s",
                key,
                failure,
                attempt,
                delay,
                key=f"retry:{key}:{cause}",
            )
            await self._clock.sleep(delay)
