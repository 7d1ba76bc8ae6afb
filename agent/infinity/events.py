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
never the payload: a `refer` holds a one-time token) and yielded as `MalformedEvent`.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from types import TracebackType
from typing import TypeAlias

from ..backoff import backoff_delay
from ._http import ApiClient
from ._sse import SseParser
from ._transport import TransportError
from .errors import InfinityError, InfinityHTTPError
from .models.events import InfinityEvent, MalformedEvent, parse_event

__all__ = [
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
        self._gen: AsyncGenerator[StreamItem, None] = self._run()
        #: Successful opens so far.
        self.connections = 0
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

    async def __aenter__(self) -> EventStream:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

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
            try:
                async with self._api.open_events(self._alias, self._token()) as response:
                    opened = True
                    self.connected = True
                    self.connections += 1
                    attempt, failed_opens, step = failed_opens + 1, 0, 0
                    log.info("event stream open (connection %d)", self.connections)
                    yield StreamOpened(attempt=attempt, connection=self.connections)
                    parser = SseParser()
                    chunks = response.chunks()
                    try:
                        async for chunk in chunks:
                            for msg in parser.feed(chunk):
                                event = parse_event(msg)
                                if type(event) is MalformedEvent:
                                    log.warning(
                                        "event %r has a malformed payload: %s",
                                        event.name,
                                        event.error,
                                    )
                                yield event
                    finally:
                        aclose = getattr(chunks, "aclose", None)
                        if aclose is not None:
                            await aclose()
                    parser.close()
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
            if self._max_attempts is not None and failed_opens >= self._max_attempts:
                log.warning("event stream lost: %s", reason)
                yield StreamInterrupted(reason=reason, failures=failed_opens, retry_in=None)
                raise EventStreamLost(failed_opens, reason)
            delay = self._delay(step)
            log.info("event stream interrupted (%s); retrying in %.2f s", reason, delay)
            yield StreamInterrupted(reason=reason, failures=failed_opens, retry_in=delay)
            await self._sleep(delay)
