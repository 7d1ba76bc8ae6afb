"""The production transport: HTTP/1.1 over asyncio streams, parsed by h11.

A bot talks to one node over a handful of kept-alive connections, so this is all it needs
of an HTTP client, and it costs a process a fraction of aiohttp's import (no multidict,
yarl or SSL contexts built at import; the verified TLS context is made on first https use).
Redirects are never followed (a node that redirects is reported by the caller).

Every failure becomes a `TransportError` whose one-line message names the URL without its
query string (which may carry the token), classified as the retry logic needs it: nothing
sent (`connect`, `tls`, `url`), or maybe processed (`timeout`, `reset`, `network`).
Once `aclose()`d it refuses every request and event stream with a `RuntimeError` (a bug in
its owner, as the other clients here do), before opening any connection.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from urllib.parse import urlsplit

import h11

from ._transport import HttpRequest, HttpResponse, StreamResponse, TransportError, public_url

#: An idle connection older than this is closed rather than reused: servers drop idle
#: keep-alive connections after a while (aiohttp's client uses the same 15 s).
KEEPALIVE = 15.0
#: Idle connections kept per (scheme, host, port).
MAX_IDLE = 8
#: The event stream: time to connect, and the longest silence before it counts as broken
#: (nodes send keepalives far more often).
STREAM_CONNECT = 10.0
STREAM_READ_GAP = 120.0
#: Seconds `aclose` waits for a TLS connection's orderly shutdown before dropping it.
CLOSE_WAIT = 2.0
_READ = 65536
# RFC 9110 9.2.2: safe to send again on a fresh connection if a kept-alive one was stale.
_IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})


@dataclass(frozen=True)
class _Target:
    scheme: str
    host: str
    port: int
    host_header: str
    path: str

    @property
    def key(self) -> tuple[str, str, int]:
        return (self.scheme, self.host, self.port)


def _target(url: str) -> _Target:
    def invalid(why: str) -> TransportError:
        return TransportError(
            f"invalid URL ({why}): {public_url(url)}", cause="url", sent=False, transient=False
        )

    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise invalid(str(exc)) from None
    if parts.scheme not in ("http", "https"):
        raise invalid("not http or https")
    if not parts.hostname:
        raise invalid("no host")
    default = 443 if parts.scheme == "https" else 80
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    netloc = parts.netloc.rpartition("@")[2]  # never send credentials as a Host
    return _Target(parts.scheme, parts.hostname, port or default, netloc, path)


class _Conn:
    """One open connection and its HTTP/1.1 state."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.h11 = h11.Connection(our_role=h11.CLIENT)
        self.idle_since = 0.0
        self.reused = False
        #: Response bytes seen on this cycle: none means a stale kept-alive connection.
        self.received = 0
        self.eof = False

    def usable(self, now: float) -> bool:
        return (
            now - self.idle_since < KEEPALIVE
            and not self.reader.at_eof()
            and not self.writer.is_closing()
            and self.h11.our_state is h11.IDLE
        )

    def reusable(self) -> bool:
        return self.h11.our_state is h11.DONE and self.h11.their_state is h11.DONE

    async def write(self, event: h11.Event) -> None:
        data = self.h11.send(event)
        if data:
            self.writer.write(data)
            await self.writer.drain()

    async def next_event(self) -> h11.Event | type[h11.PAUSED] | type[h11.NEED_DATA]:
        """The next event of the response, reading from the socket as needed."""
        while True:
            event = self.h11.next_event()
            if event is not h11.NEED_DATA:
                return event
            data = await self.reader.read(_READ)
            self.received += len(data)
            self.eof = not data
            self.h11.receive_data(data)

    def abort(self) -> None:
        """Drop the connection now (broken, cancelled or not reusable)."""
        self.writer.transport.abort()

    async def close(self) -> None:
        self.writer.close()
        try:
            async with asyncio.timeout(CLOSE_WAIT):
                await self.writer.wait_closed()
        except (OSError, TimeoutError):
            self.abort()


class _Failure(Exception):
    """Raised inside an exchange: what went wrong, before classification."""

    def __init__(self, kind: str, detail: str = "") -> None:
        super().__init__(kind)
        self.kind = kind
        self.detail = detail


def _malformed(exc: h11.RemoteProtocolError) -> _Failure:
    # Only h11's words, not the bytes it quotes after them: a server that echoes the
    # request would put the token in a log line.
    return _Failure("malformed", str(exc).split(":", 1)[0][:80])


def _connect_error(exc: OSError, where: str) -> TransportError:
    if isinstance(exc, ssl.SSLCertVerificationError):
        return TransportError(
            f"TLS handshake failed: {where}: {exc.verify_message}",
            cause="tls",
            sent=False,
            transient=False,
        )
    if isinstance(exc, ssl.SSLError):
        reason = exc.reason or type(exc).__name__
        return TransportError(
            f"TLS handshake failed: {where}: {reason}", cause="tls", sent=False, transient=False
        )
    if isinstance(exc, socket.gaierror):
        return TransportError(f"unknown host: {where}", cause="connect", sent=False)
    if isinstance(exc, ConnectionRefusedError):
        return TransportError(f"connection refused: {where}", cause="connect", sent=False)
    why = exc.strerror or type(exc).__name__
    return TransportError(f"cannot connect: {where}: {why}", cause="connect", sent=False)


def _exchange_error(exc: BaseException, where: str) -> TransportError:
    """A failure after the connection was made: the node may have seen the request."""
    if isinstance(exc, _Failure) and exc.kind == "malformed":
        return TransportError(f"bad HTTP response from {where}: {exc.detail}")
    if isinstance(exc, _Failure) and exc.kind == "truncated":
        return TransportError(f"response cut short: {where}", cause="reset")
    return TransportError(f"server closed the connection: {where}", cause="reset")


class _Stream:
    """The streaming response `Http11Transport.stream` yields."""

    def __init__(self, conn: _Conn, response: h11.Response, where: str) -> None:
        self._conn = conn
        self._where = where
        self.status: int = response.status_code
        self.content_type = _headers(response).get("content-type", "")
        self.complete = False

    async def chunks(self) -> AsyncIterator[bytes]:
        while not self.complete:
            try:
                async with asyncio.timeout(STREAM_READ_GAP):
                    event = await _body_event(self._conn)
            except TimeoutError:
                raise TransportError(
                    f"event stream broken: no data in {STREAM_READ_GAP:g} s: {self._where}",
                    cause="timeout",
                ) from None
            except (OSError, _Failure) as exc:
                raise TransportError(
                    f"event stream broken: {_exchange_error(exc, self._where)}",
                    cause="reset",
                ) from None
            if isinstance(event, h11.Data):
                yield bytes(event.data)
            else:
                self.complete = True

    async def read(self) -> bytes:
        parts = [chunk async for chunk in self.chunks()]
        return b"".join(parts)


async def _body_event(conn: _Conn) -> h11.Data | h11.EndOfMessage:
    """The next piece of a response body: data, or its end."""
    try:
        event = await conn.next_event()
    except h11.RemoteProtocolError as exc:
        raise (_Failure("truncated") if conn.eof else _malformed(exc)) from None
    if isinstance(event, h11.Data | h11.EndOfMessage):
        return event
    raise _Failure("truncated" if conn.eof else "malformed", f"unexpected {type(event).__name__}")


async def _response_head(conn: _Conn) -> h11.Response:
    """Read up to the final response's head, skipping 1xx answers."""
    while True:
        try:
            event = await conn.next_event()
        except h11.RemoteProtocolError as exc:
            if conn.eof:
                raise _Failure("closed" if conn.received == 0 else "truncated") from None
            raise _malformed(exc) from None
        if isinstance(event, h11.Response):
            return event
        if isinstance(event, h11.ConnectionClosed):
            raise _Failure("closed")
        if not isinstance(event, h11.InformationalResponse):
            raise _Failure("malformed", f"unexpected {type(event).__name__}")


def _headers(response: h11.Response) -> dict[str, str]:
    """Response headers by lower-case name; repeated ones joined as RFC 9110 allows."""
    out: dict[str, str] = {}
    for name, value in response.headers:
        key = name.decode("ascii")
        text = value.decode("latin-1")
        out[key] = f"{out[key]}, {text}" if key in out else text
    return out


class _Progress:
    """How far one request got: `conn` is set once connected (a timeout before is a
    connect failure: nothing was sent)."""

    def __init__(self, then: float | None = None) -> None:
        self.conn: _Conn | None = None
        #: The stream's timeout, moved to `then` seconds from now once connected.
        self.budget: asyncio.Timeout | None = None
        self._then = then

    def connected_on(self, conn: _Conn) -> None:
        self.conn = conn
        if self.budget is not None and self._then is not None:
            self.budget.reschedule(asyncio.get_running_loop().time() + self._then)

    @property
    def connected(self) -> _Conn:
        assert self.conn is not None
        return self.conn


def _send_error(
    exc: BaseException, where: str, timeout: float, progress: _Progress
) -> TransportError | None:
    """The `TransportError` for a failed request; None for what is not the network's doing
    (cancellation, a bug), which propagates as it is."""
    if isinstance(exc, _ConnectFailed):
        return _connect_error(exc.error, where)
    if isinstance(exc, TimeoutError):
        if progress.conn is None:
            return TransportError(
                f"no connection in {timeout:g} s: {where}", cause="connect", sent=False
            )
        return TransportError(f"no answer in {timeout:g} s: {where}", cause="timeout")
    if isinstance(exc, OSError | _Failure):
        return _exchange_error(exc, where)
    if isinstance(exc, h11.LocalProtocolError):
        # Its text may quote a header value (the token): name only the URL.
        return TransportError(
            f"invalid request headers: {where}", cause="url", sent=False, transient=False
        )
    return None


class _ConnectFailed(Exception):
    def __init__(self, error: OSError) -> None:
        super().__init__(str(error))
        self.error = error


class Http11Transport:
    """HTTP/1.1 over asyncio streams with kept-alive connections per (scheme, host, port).

    `ssl_context` verifies https servers (the default: the system's CA store, made on first
    use; `SSL_CERT_FILE` / `SSL_CERT_DIR` point it at another one).
    """

    def __init__(self, *, ssl_context: ssl.SSLContext | None = None) -> None:
        self._ssl = ssl_context
        self._idle: dict[tuple[str, str, int], list[_Conn]] = {}
        self._busy: set[_Conn] = set()
        self._closed = False

    def _refuse_if_closed(self, request: HttpRequest, what: str) -> None:
        if self._closed:
            # A connection opened now would outlive its owner: nothing closes it any more.
            raise RuntimeError(
                f"{what}{request.method} {public_url(request.url)}: the HTTP transport is closed"
            )

    def _context(self) -> ssl.SSLContext:
        if self._ssl is None:
            self._ssl = ssl.create_default_context()
        return self._ssl

    async def _connect(self, target: _Target) -> _Conn:
        reader, writer = await asyncio.open_connection(
            target.host,
            target.port,
            ssl=self._context() if target.scheme == "https" else None,
            limit=_READ,
            happy_eyeballs_delay=0.25,  # RFC 8305, as aiohttp and browsers
        )
        return _Conn(reader, writer)

    def _pooled(self, target: _Target) -> _Conn | None:
        idle = self._idle.get(target.key, [])
        now = asyncio.get_running_loop().time()
        while idle:
            conn = idle.pop()
            if conn.usable(now):
                conn.reused = True
                return conn
            conn.abort()
        return None

    def _release(self, conn: _Conn, target: _Target) -> None:
        """Back to the pool if its response was read to the end and both sides keep it."""
        self._busy.discard(conn)
        idle = self._idle.setdefault(target.key, [])
        if self._closed or not conn.reusable() or len(idle) >= MAX_IDLE:
            conn.abort()
            return
        conn.h11.start_next_cycle()
        conn.idle_since = asyncio.get_running_loop().time()
        conn.received = 0
        idle.append(conn)

    async def _open(
        self, target: _Target, request: HttpRequest, progress: _Progress
    ) -> h11.Response:
        """Send `request` and read its response head on `progress.conn`. A kept-alive
        connection the server closed meanwhile is replaced once, for requests safe to repeat.
        Raises `_ConnectFailed`, `_Failure` or OSError; the failed connection is dropped."""
        while True:
            conn = self._pooled(target)
            if conn is None:
                try:
                    conn = await self._connect(target)
                except OSError as exc:
                    raise _ConnectFailed(exc) from None
                if self._closed:  # closed while connecting: nothing would close this one
                    conn.abort()
                    self._refuse_if_closed(request, "")
            progress.connected_on(conn)
            self._busy.add(conn)
            try:
                await conn.write(_head(target, request))
                if request.body:
                    await conn.write(h11.Data(data=request.body))
                await conn.write(h11.EndOfMessage())
                return await _response_head(conn)
            except (OSError, _Failure):
                self._drop(conn)
                progress.conn = None
                if not (conn.reused and conn.received == 0 and request.method in _IDEMPOTENT):
                    raise

    def _drop(self, conn: _Conn) -> None:
        self._busy.discard(conn)
        conn.abort()

    async def send(self, request: HttpRequest, *, timeout: float) -> HttpResponse:
        self._refuse_if_closed(request, "")
        target = _target(request.url)
        where = public_url(request.url)
        progress = _Progress()
        try:
            async with asyncio.timeout(timeout):
                head = await self._open(target, request, progress)
                body = await _read_body(progress.connected)
        except BaseException as exc:
            if progress.conn is not None:
                self._drop(progress.conn)
            failed = _send_error(exc, where, timeout, progress)
            if failed is None:
                raise
            raise failed from None
        self._release(progress.connected, target)
        headers = _headers(head)
        return HttpResponse(head.status_code, headers.get("content-type", ""), body, headers)

    @asynccontextmanager
    async def stream(self, request: HttpRequest) -> AsyncIterator[StreamResponse]:
        self._refuse_if_closed(request, "event stream: ")
        target = _target(request.url)
        where = public_url(request.url)
        progress = _Progress(then=STREAM_READ_GAP)
        try:
            async with asyncio.timeout(STREAM_CONNECT) as progress.budget:
                head = await self._open(target, request, progress)
        except BaseException as exc:
            if progress.conn is not None:
                self._drop(progress.conn)
            if isinstance(exc, TimeoutError):
                waited = STREAM_CONNECT if progress.conn is None else STREAM_READ_GAP
                raise TransportError(
                    f"event stream: no answer in {waited:g} s: {where}", cause="timeout", sent=False
                ) from None
            failed = _send_error(exc, where, STREAM_CONNECT, progress)
            if failed is None:
                raise
            raise TransportError(
                f"event stream: {failed}",
                cause=failed.cause,
                sent=failed.sent,
                transient=failed.transient,
            ) from None
        conn = progress.connected
        stream = _Stream(conn, head, where)
        try:
            yield stream
        finally:
            if stream.complete:
                self._release(conn, target)
            else:
                self._drop(conn)

    async def aclose(self) -> None:
        self._closed = True
        conns = [c for idle in self._idle.values() for c in idle]
        self._idle.clear()
        for conn in self._busy:
            conn.abort()
        self._busy.clear()
        await asyncio.gather(*(c.close() for c in conns))
        # Let the transports' connection_lost callbacks run before the loop may end.
        await asyncio.sleep(0)


def _head(target: _Target, request: HttpRequest) -> h11.Request:
    headers = [
        ("Host", target.host_header),
        ("User-Agent", "pexbot"),
        ("Accept-Encoding", "identity"),
    ]
    headers += [
        (k, v) for k, v in request.headers.items() if k.lower() not in ("host", "content-length")
    ]
    if request.body or request.method in ("POST", "PUT", "PATCH"):
        headers.append(("Content-Length", str(len(request.body or b""))))
    return h11.Request(method=request.method, target=target.path, headers=headers)


async def _read_body(conn: _Conn) -> bytes:
    parts: list[bytes] = []
    while True:
        event = await _body_event(conn)
        if isinstance(event, h11.EndOfMessage):
            return b"".join(parts)
        parts.append(bytes(event.data))
