"""The conference event stream: typed events from `GET .../events`, reconnecting on loss.

`EventStream` is an async iterator driven entirely by its consumer (no background task): each
`__anext__` reads from the open response, and reconnects when needed, in the consumer's task.

Reconnect policy (as Pexip's web SDK): on a transport error, an error status (a 403 "Invalid
token" included: the token may have been refreshed meanwhile) or the server ending the stream,
reopen with the newest token (read through the `token` callable on every attempt) after a
jittered exponential backoff: 100 ms, x2, at most 30 s, +-20%. The delay and the attempt
counter reset on every successful open. After `max_attempts` consecutive failed opens the
iterator raises `EventStreamLost`; `max_attempts=None` retries forever.

Besides the node's events it yields `StreamOpened` after each successful open and
`StreamInterrupted` after each failure, so consumers (roster, logs) see reconnects. A payload
that is not valid JSON or does not fit its model is logged (event name and field errors only,
never the payload: a `refer` holds a one-time token; a few lines a minute, the rest counted)
and yielded as `MalformedEvent`.

A line or an event larger than `max_line`/`max_event` characters is dropped with a warning
and the stream reopened: memory stays bounded whatever the node sends. Such reconnects back
off like failed opens, and after `max_attempts` of them within one incident (without a
healthy minute in between) the stream is given up as lost.
"""

from __future__ import annotations

import asyncio
import logging
import random
import sys
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from types import TracebackType
from typing import TypeAlias

from ..backoff import Backoff, Budget, backoff_delay
from ._http import ApiClient
from ._ratelimit import LimitedLog
from ._sse import MAX_EVENT, MAX_LINE, SseLimitExceeded, SseMessage, SseParser
from ._transport import TransportError
from .errors import InfinityError, InfinityHTTPError
from .models.events import InfinityEvent, MalformedEvent, parse_event

__all__ = [
    "MAX_EVENT",
    "MAX_LINE",
    "EventStream",
    "EventStreamLost",
    "StreamInterrupted",
    "StreamItem",
    "StreamMarker",
    "StreamOpened",
]

log = logging.getLogger(__name__)


class EventStreamLost(InfinityError):
    """The event stream could not be reopened `attempts` times in a row."""

    def __init__(self, attempts: int, reason: str) -> None:
        super().__init__(f"event stream lost after {attempts} failed attempt(s): {reason}")
        self.attempts = attempts
        self.reason = reason


@dataclass(frozen=True, slots=True)
class StreamOpened:
    """The stream is open. `attempt`: 1 when the first try succeeded, n after n-1 failures;
    `connection`: how many times the stream has been opened so far (1 = first open)."""

    attempt: int
    connection: int = 1

    @property
    def reconnected(self) -> bool:
        return self.connection > 1


@dataclass(frozen=True, slots=True)
class StreamInterrupted:
    """The stream is not (or no longer) open. `reason` never holds the token; `failures`:
    consecutive failed opens so far; `retry_in`: seconds until the next attempt, or `None`
    when the iterator is about to raise `EventStreamLost`."""

    reason: str
    failures: int = 0
    retry_in: float | None = None


StreamMarker: TypeAlias = StreamOpened | StreamInterrupted
StreamItem: TypeAlias = InfinityEvent | StreamMarker


class EventStream:
    """Typed events of one conference, across reconnects. Use `async with` or call
    `aclose()`; iterate from one task only (cancel that task to stop a pending read)."""

    def __init__(
        self,
        api: ApiClient,
        alias: str,
        token: Callable[[], str],
        *,
        max_attempts: int | None = 8,
        base_delay: float = 0.1,
        max_delay: float = 30.0,
        jitter: float = 0.2,
        rng: random.Random | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        max_line: int = MAX_LINE,
        max_event: int = MAX_EVENT,
        now: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_attempts is not None and max_attempts < 1:
            raise ValueError("max_attempts must be at least 1 (or None for no limit)")
        if not 0 <= jitter < 1:
            raise ValueError("jitter must be in [0, 1)")
        self._api = api
        self._alias = alias
        self._token = token
        self._max_attempts = max_attempts
        self._base_delay = base_delay
        self._max_delay = max_delay
        self._jitter = jitter
        self._rng = rng or random.Random()
        self._sleep = sleep
        self._max_line = max_line
        self._max_event = max_event
        # Reconnects after an oversized line or event: bounded per incident, with backoff.
        self._oversize_budget = Budget(
            max_attempts - 1 if max_attempts is not None else sys.maxsize,
            reset_after=60.0,
            backoff=Backoff(base_delay, max_delay=max_delay, jitter=jitter, rng=self._rng),
            now=now,
        )
        self._log = LimitedLog(log, burst=3, window=60.0, now=now)
        self._gen: AsyncGenerator[StreamItem, None] = self._run()
        #: Successful opens so far.
        self.connections = 0
        #: Lines or events dropped for their size.
        self.oversized = 0
        #: Events whose payload did not fit its model.
        self.malformed = 0
        #: Whether the stream is open right now.
        self.connected = False

    def __aiter__(self) -> AsyncIterator[StreamItem]:
        return self

    async def __anext__(self) -> StreamItem:
        return await self._gen.__anext__()

    async def aclose(self) -> None:
        """Close the open response (if any) and end the iteration."""
        await self._gen.aclose()
        self.connected = False
        self._log.flush()

    async def __aenter__(self) -> EventStream:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def _event(self, msg: SseMessage) -> InfinityEvent:
        event = parse_event(msg)
        if type(event) is MalformedEvent:
            self.malformed += 1
            # A flood of these must not flood the log: a few lines a minute, then a count.
            self._log.log(
                "event %r has a malformed payload: %s", event.name, event.error, key="malformed"
            )
        return event

    def _delay(self, step: int) -> float:
        return backoff_delay(
            step,
            base_delay=self._base_delay,
            max_delay=self._max_delay,
            jitter=self._jitter,
            rng=self._rng,
        )

    async def _run(self) -> AsyncGenerator[StreamItem, None]:
        failed_opens = 0  # consecutive failed opens since the last successful one
        step = 0  # consecutive failures of any kind (sets the backoff delay)
        while True:
            opened = False
            oversized = False
            oversize_delay: float | None = None
            try:
                async with self._api.open_events(self._alias, self._token()) as response:
                    opened = True
                    self.connected = True
                    self.connections += 1
                    attempt, failed_opens, step = failed_opens + 1, 0, 0
                    log.info("event stream open (connection %d)", self.connections)
                    yield StreamOpened(attempt=attempt, connection=self.connections)
                    parser = SseParser(max_line=self._max_line, max_event=self._max_event)
                    chunks = response.chunks()
                    try:
                        async for chunk in chunks:
                            try:
                                messages = parser.feed(chunk)
                            except SseLimitExceeded as exc:
                                messages, oversized, reason = exc.messages, True, str(exc)
                            for msg in messages:
                                yield self._event(msg)
                            if oversized:
                                break
                    finally:
                        aclose = getattr(chunks, "aclose", None)
                        if aclose is not None:
                            await aclose()
                    parser.close()
                if oversized:
                    self.oversized += 1
                    self._log.log(
                        "%s: dropped (%d so far); reopening the event stream",
                        reason,
                        self.oversized,
                        key="oversized",
                    )
                else:
                    reason = "server ended the event stream"
            except TransportError as exc:
                reason = str(exc) or type(exc).__name__
            except InfinityHTTPError as exc:
                reason = str(exc)
            finally:
                self.connected = False
            if not opened:
                failed_opens += 1
            step += 1
            given_up: int | None = None
            if oversized:
                oversize_delay = self._oversize_budget.take()
                if oversize_delay is None:  # the first connection plus every reconnect
                    given_up = self._oversize_budget.used + 1
            elif self._max_attempts is not None and failed_opens >= self._max_attempts:
                given_up = failed_opens
            if given_up is not None:
                log.warning("event stream lost: %s", reason)
                yield StreamInterrupted(reason=reason, failures=given_up, retry_in=None)
                raise EventStreamLost(given_up, reason)
            delay = self._delay(step) if oversize_delay is None else oversize_delay
            log.info("event stream interrupted (%s); retrying in %.2f s", reason, delay)
            yield StreamInterrupted(reason=reason, failures=failed_opens, retry_in=delay)
            await self._sleep(delay)
