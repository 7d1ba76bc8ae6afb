"""The network seam: every byte the client sends or receives goes through a `Transport`.

Tests replace it with an in-memory transport (no sockets); production uses one pooled
aiohttp session. Kept deliberately small: a request/response call and a streaming GET.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from typing import Protocol
from urllib.parse import urlsplit, urlunsplit

import aiohttp


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


def describe_failure(exc: BaseException, url: str) -> str:
    """One line saying why no response came back, naming the URL (without its query)."""
    where = public_url(url)
    if isinstance(exc, aiohttp.ClientSSLError):
        return f"TLS handshake failed: {where}"
    if isinstance(exc, aiohttp.ClientConnectorDNSError) or isinstance(
        getattr(exc, "os_error", None), socket.gaierror
    ):
        return f"unknown host: {where}"
    if isinstance(exc, ConnectionRefusedError) or isinstance(
        getattr(exc, "os_error", None), ConnectionRefusedError
    ):
        return f"connection refused: {where}"
    if isinstance(exc, aiohttp.ClientConnectorError):
        return f"cannot connect: {where}: {exc.strerror or type(exc.os_error).__name__}"
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return f"server closed the connection: {where}"
    if isinstance(exc, aiohttp.ClientPayloadError | aiohttp.ClientResponseError):
        return f"bad HTTP response from {where}"
    return f"{type(exc).__name__}: {where}"


class _AiohttpStream:
    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self._response = response

    @property
    def status(self) -> int:
        return self._response.status

    @property
    def content_type(self) -> str:
        return self._response.headers.get("Content-Type", "")

    async def chunks(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._response.content.iter_any():
                yield chunk
        except (aiohttp.ClientError, OSError) as exc:
            raise TransportError(f"event stream broken: {type(exc).__name__}") from None

    async def read(self) -> bytes:
        try:
            return await self._response.read()
        except (aiohttp.ClientError, OSError) as exc:
            raise TransportError(f"read failed: {type(exc).__name__}") from None


def _transport_error(exc: BaseException, url: str, timeout: float | None) -> TransportError:
    """One line naming the URL (`describe_failure`), classified: could the node have seen
    the request, can a retry help?"""
    where = public_url(url)
    waited = f"{timeout:g} s" if timeout is not None else "time"
    # Order matters: the connect timeout is a TimeoutError too, certificate errors are
    # connector errors too.
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return TransportError(f"no connection in {waited}: {where}", cause="connect", sent=False)
    if isinstance(exc, TimeoutError):
        return TransportError(f"no answer in {waited}: {where}", cause="timeout")
    message = describe_failure(exc, url)
    if isinstance(exc, aiohttp.ClientConnectorCertificateError | aiohttp.ClientSSLError):
        return TransportError(message, cause="tls", sent=False, transient=False)
    if isinstance(exc, aiohttp.ClientConnectorError):
        return TransportError(message, cause="connect", sent=False)
    if isinstance(exc, aiohttp.InvalidURL):
        return TransportError(message, cause="url", sent=False, transient=False)
    if isinstance(exc, aiohttp.ServerDisconnectedError | aiohttp.ClientPayloadError | OSError):
        return TransportError(message, cause="reset")
    return TransportError(message)


class AiohttpTransport:
    """One pooled aiohttp session for every request of a bot.

    Error texts name the URL without its query string: that may carry the token
    (`events?token=`).
    """

    def __init__(self, session: aiohttp.ClientSession | None = None) -> None:
        self._session = session
        self._owns_session = session is None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=100, enable_cleanup_closed=True),
                # Pexip answers with JSON; we never want aiohttp to add its own cookies.
                cookie_jar=aiohttp.DummyCookieJar(),
            )
            self._owns_session = True
        return self._session

    async def send(self, request: HttpRequest, *, timeout: float) -> HttpResponse:
        try:
            async with self._client().request(
                request.method,
                request.url,
                headers=dict(request.headers),
                data=request.body,
                timeout=aiohttp.ClientTimeout(total=timeout),
                allow_redirects=False,
            ) as resp:
                body = await resp.read()
                return HttpResponse(
                    resp.status, resp.headers.get("Content-Type", ""), body, resp.headers
                )
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            raise _transport_error(exc, request.url, timeout) from None

    @asynccontextmanager
    async def stream(self, request: HttpRequest) -> AsyncIterator[StreamResponse]:
        try:
            resp = await self._client().request(
                request.method,
                request.url,
                headers=dict(request.headers),
                data=request.body,
                # No total timeout: the event stream lives for hours. A read gap longer
                # than this means the server is gone (nodes send keepalives far more often).
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=10, sock_read=120),
                allow_redirects=False,
            )
        except TimeoutError:
            where = public_url(request.url)
            raise TransportError(
                f"event stream: no answer in 10 s: {where}", cause="timeout", sent=False
            ) from None
        except (aiohttp.ClientError, OSError) as exc:
            classified = _transport_error(exc, request.url, None)
            raise TransportError(
                f"event stream: {classified}",
                cause=classified.cause,
                sent=classified.sent,
                transient=classified.transient,
            ) from None
        try:
            yield _AiohttpStream(resp)
        finally:
            resp.release()
            resp.close()

    async def aclose(self) -> None:
        if self._session is not None and self._owns_session and not self._session.closed:
            await self._session.close()
            # Let aiohttp's SSL/transport close callbacks run before the loop may end.
            await asyncio.sleep(0)
