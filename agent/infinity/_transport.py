"""The network seam: every byte the client sends or receives goes through a `Transport`.

Tests replace it with an in-memory transport (no sockets); production uses
`Http11Transport` (`_http11.py`: kept-alive connections over asyncio streams). Kept
deliberately small: a request/response call and a streaming GET.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Protocol
from urllib.parse import urlsplit, urlunsplit


class TransportError(Exception):
    """The request did not produce an HTTP response (connection refused, reset, timeout).

    `cause` names the failure for retry counters (`connect`, `timeout`, `reset`, `tls`,
    `url`, `network`); `sent` is False when nothing can have reached the node (no connection), so
    repeating even a non-idempotent request is safe; `transient` is False for failures a
    retry cannot fix (a bad certificate, an invalid URL).
    """

    def __init__(
        self,
        message: str = "",
        *,
        cause: str = "network",
        sent: bool = True,
        transient: bool = True,
    ) -> None:
        super().__init__(message)
        self.cause = cause
        self.sent = sent
        self.transient = transient


@dataclass(frozen=True)
class HttpRequest:
    """One request as the transport sends it (headers may hold the token: never log)."""

    method: str
    url: str
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes | None = None


@dataclass(frozen=True)
class HttpResponse:
    """A complete response: status, content type, body bytes and (some) headers."""

    status: int
    content_type: str
    body: bytes
    #: Header lookups should be case-insensitive; see `header()`.
    headers: Mapping[str, str] = field(default_factory=dict)

    def header(self, name: str) -> str | None:
        """A header's value, whatever the case of its name; None when absent."""
        value = self.headers.get(name)
        if value is not None:
            return value
        lowered = name.lower()
        return next((v for k, v in self.headers.items() if k.lower() == lowered), None)

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")


class StreamResponse(Protocol):
    """An open streaming response: status and content type known, body still arriving."""

    @property
    def status(self) -> int: ...

    @property
    def content_type(self) -> str: ...

    def chunks(self) -> AsyncIterator[bytes]:
        """Body chunks as they arrive, split anywhere; ends when the server closes."""
        ...

    async def read(self) -> bytes:
        """The whole (remaining) body; used for error responses."""
        ...


class Transport(Protocol):
    """The network seam: replace it to run the client without sockets."""

    async def send(self, request: HttpRequest, *, timeout: float) -> HttpResponse: ...

    def stream(self, request: HttpRequest) -> AbstractAsyncContextManager[StreamResponse]: ...

    async def aclose(self) -> None: ...


def public_url(url: str) -> str:
    """`url` without its query string, which may carry the token (`events?token=`)."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
