"""Fencing at the node: a bot whose worker may have lost the job's lease sends nothing.

The worker renews each lease well before it runs out and knows, on its own clock, until
when the lease is surely still its own (Redis started the TTL after the worker sent the
renewal). Past that moment, say after a SIGSTOP or a long pause, every request of the
job's bot is refused here, before it reaches the node: no token refresh keeps a stale
participant alive and no rejoin adds a second one. Only `release_token` still goes out,
so a stale bot can always leave.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

from ..infinity import (
    HttpRequest,
    HttpResponse,
    StreamResponse,
    Transport,
    TransportError,
    public_url,
)


class LeaseLostError(TransportError):
    """The worker no longer surely holds the job's lease."""


class FencedTransport:
    """A `Transport` that refuses all but `release_token` once the lease may be lost."""

    def __init__(self, inner: Transport, lease_valid: Callable[[], bool]) -> None:
        self._inner = inner
        self._lease_valid = lease_valid
        self.refused = 0

    def _check(self, request: HttpRequest) -> None:
        if self._lease_valid() or public_url(request.url).endswith("/release_token"):
            return
        self.refused += 1
        raise LeaseLostError("lease lost: this worker no longer holds the job")

    async def send(self, request: HttpRequest, *, timeout: float) -> HttpResponse:
        self._check(request)
        return await self._inner.send(request, timeout=timeout)

    def stream(self, request: HttpRequest) -> AbstractAsyncContextManager[StreamResponse]:
        self._check(request)
        return self._inner.stream(request)

    async def aclose(self) -> None:
        await self._inner.aclose()
