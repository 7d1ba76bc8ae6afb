"""`Http11Transport` against real servers on 127.0.0.1: aiohttp's web server for well-formed
HTTP, and a raw asyncio server for what a broken node or proxy can send (chunked,
close-delimited, truncated, malformed, resets, silence). Every failure is one line naming the
URL without its query (which may hold the token) and classified for the retry logic."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import socket
import ssl
import struct
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from agent.infinity import Http11Transport, HttpRequest, TransportError

TOKEN = "SECRET-TOKEN-1"
Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


class RawServer:
    """A TCP server on 127.0.0.1 running `handler` per connection; counts connections."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.connections = 0
        self.url = ""
        self.requests: list[bytes] = []
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def __aenter__(self) -> RawServer:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            await self.handler(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError, asyncio.CancelledError):
                await writer.wait_closed()

    async def head(self, reader: asyncio.StreamReader) -> bytes:
        """One request's head (these tests send no bodies to the raw server)."""
        data = await reader.readuntil(b"\r\n\r\n")
        self.requests.append(data)
        return data


def answers(*responses: bytes, then: str = "wait") -> Callable[[RawServer], Handler]:
    """A handler answering each request on a connection with the next response; after the
    last: `wait` (keep the connection open), `close`, or `reset` (RST)."""

    def make(server: RawServer) -> Handler:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            for response in responses:
                await server.head(reader)
                writer.write(response)
                await writer.drain()
            if then == "reset":
                sock = writer.get_extra_info("socket")
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                writer.transport.abort()
            elif then == "wait":
                await reader.read()

        return handle

    return make


async def raw(make: Callable[[RawServer], Handler]) -> RawServer:
    server = RawServer(lambda r, w: asyncio.sleep(0))
    server.handler = make(server)
    return server


def get(url: str) -> HttpRequest:
    return HttpRequest("GET", url, {"token": TOKEN})


OK = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"


@pytest.fixture
async def transport() -> AsyncIterator[Http11Transport]:
    t = Http11Transport()
    yield t
    await t.aclose()


async def failure(
    transport: Http11Transport, url: str, *, timeout: float = 5.0, method: str = "GET"
) -> TransportError:
    with pytest.raises(TransportError) as err:
        await transport.send(HttpRequest(method, url, {"token": TOKEN}), timeout=timeout)
    assert TOKEN not in str(err.value) and "\n" not in str(err.value)
    return err.value


# --- well-formed HTTP -------------------------------------------------------------------


async def test_requests_and_answers_through_aiohttps_server(transport: Http11Transport) -> None:
    seen: list[tuple[str, str, str | None, bytes]] = []

    async def handle(request: web.Request) -> web.Response:
        seen.append((request.method, request.path_qs, request.headers.get("token"), b""))
        body = await request.read()
        seen[-1] = (*seen[-1][:3], body)
        return web.json_response({"echo": body.decode()}, headers={"Retry-After": "3"})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        base = f"http://127.0.0.1:{port}"
        post = HttpRequest("POST", f"{base}/a/b?x=1", {"token": TOKEN}, b'{"k": 1}')
        answer = await transport.send(post, timeout=5)
        assert answer.status == 200 and answer.content_type.startswith("application/json")
        assert answer.body == b'{"echo": "{\\"k\\": 1}"}'
        assert answer.header("retry-after") == answer.header("Retry-After") == "3"
        empty = await transport.send(HttpRequest("POST", f"{base}/c", {}), timeout=5)
        assert empty.status == 200
        assert seen == [("POST", "/a/b?x=1", TOKEN, b'{"k": 1}'), ("POST", "/c", None, b"")]
    finally:
        await runner.cleanup()


async def test_a_kept_alive_connection_is_reused(transport: Http11Transport) -> None:
    async with await raw(answers(OK, OK, OK)) as server:
        for _ in range(3):
            assert (await transport.send(get(server.url + "/x"), timeout=5)).body == b"{}"
        assert server.connections == 1
        assert server.requests[0].startswith(b"GET /x HTTP/1.1\r\n")
        assert b"host: 127.0.0.1:" in server.requests[0].lower()


async def test_chunked_and_close_delimited_bodies(transport: Http11Transport) -> None:
    chunked = (
        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
    )
    until_close = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nto the end"
    async with await raw(answers(chunked, until_close, then="close")) as server:
        assert (await transport.send(get(server.url), timeout=5)).body == b"hello world"
        assert (await transport.send(get(server.url), timeout=5)).body == b"to the end"
        assert server.connections == 1  # chunked keeps the connection; then read to its end
        assert (await transport.send(get(server.url), timeout=5)).body == b"hello world"
        assert server.connections == 2  # a close-delimited body ends its connection


async def test_redirects_are_not_followed(transport: Http11Transport) -> None:
    moved = b"HTTP/1.1 302 Found\r\nLocation: http://elsewhere.test/\r\nContent-Length: 0\r\n\r\n"
    async with await raw(answers(moved)) as server:
        answer = await transport.send(get(server.url), timeout=5)
    assert answer.status == 302 and answer.header("location") == "http://elsewhere.test/"


async def test_an_idle_connection_the_server_closed_is_not_used_again(
    transport: Http11Transport,
) -> None:
    async with await raw(answers(OK, then="close")) as server:
        for _ in range(2):
            post = HttpRequest("POST", server.url + "/p?token=" + TOKEN, {}, b"x")
            assert (await transport.send(post, timeout=5)).status == 200
            await asyncio.sleep(0.05)  # the server's FIN arrives
        assert server.connections == 2


async def test_a_stale_kept_alive_connection_is_replaced_for_a_get(
    transport: Http11Transport,
) -> None:
    """The server drops the idle connection as the next request goes out: a GET is sent
    again on a new connection, once."""

    def make(server: RawServer) -> Handler:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await server.head(reader)
            writer.write(OK)
            await writer.drain()
            if server.connections == 1:
                await server.head(reader)  # read the next request, then drop it unanswered
            else:
                await reader.read()

        return handle

    async with await raw(make) as server:
        assert (await transport.send(get(server.url), timeout=5)).status == 200
        assert (await transport.send(get(server.url), timeout=5)).status == 200
        assert server.connections == 2 and len(server.requests) == 3


# --- failures: one line, the URL without its query, classified --------------------------


async def test_refused_connection(transport: Http11Transport) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    err = await failure(transport, f"http://127.0.0.1:{port}/a/events?token={TOKEN}")
    assert str(err) == f"connection refused: http://127.0.0.1:{port}/a/events"
    assert (err.cause, err.sent, err.transient) == ("connect", False, True)


@pytest.mark.parametrize(
    ("url", "said"),
    [
        ("ftp://h/x?token=T", "invalid URL (not http or https): ftp://h/x"),
        ("http:///x", "invalid URL (no host): http:///x"),
        ("http://h:99999/x", "invalid URL (Port out of range 0-65535): http://h:99999/x"),
    ],
)
async def test_invalid_urls_are_not_retried(
    transport: Http11Transport, url: str, said: str
) -> None:
    err = await failure(transport, url)
    assert str(err) == said
    assert (err.cause, err.sent, err.transient) == ("url", False, False)


async def test_no_answer_in_time(transport: Http11Transport) -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()

    async with await raw(lambda server: silent) as server:
        err = await failure(transport, f"{server.url}/a?token={TOKEN}", timeout=0.2)
    assert str(err) == f"no answer in 0.2 s: {server.url}/a"
    assert (err.cause, err.sent, err.transient) == ("timeout", True, True)


@pytest.mark.parametrize(
    ("response", "then", "said", "cause"),
    [
        (b"", "close", "server closed the connection: {url}", "reset"),
        (b"", "reset", "server closed the connection: {url}", "reset"),
        (
            b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc",
            "close",
            "response cut short: {url}",
            "reset",
        ),
        (b"HTTP/1.1 200 OK\r\nContent-Len", "close", "response cut short: {url}", "reset"),
        (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab",
            "close",
            "response cut short: {url}",
            "reset",
        ),
        (
            b"SSH-2.0-OpenSSH_9.6\r\n\r\n",
            "wait",
            "bad HTTP response from {url}: illegal status line",
            "network",
        ),
        (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            "wait",
            "bad HTTP response from {url}: illegal chunk header",
            "network",
        ),
        (
            b"HTTP/1.1 200 OK\r\nBad Header\r\n\r\n",
            "wait",
            "bad HTTP response from {url}: illegal header line",
            "network",
        ),
        (  # an echo server: the request line (with the token) comes back
            f"POST /a/b?token={TOKEN} HTTP/1.1\r\n\r\n".encode(),
            "wait",
            "bad HTTP response from {url}: illegal status line",
            "network",
        ),
    ],
    ids=[
        "closed",
        "reset",
        "short-body",
        "short-head",
        "short-chunk",
        "not-http",
        "bad-chunk",
        "bad-header",
        "echo",
    ],
)
async def test_broken_responses(
    transport: Http11Transport, response: bytes, then: str, said: str, cause: str
) -> None:
    async with await raw(answers(response, then=then)) as server:
        err = await failure(transport, f"{server.url}/a/b?token={TOKEN}", method="POST")
    assert str(err) == said.format(url=f"{server.url}/a/b")
    assert (err.cause, err.sent, err.transient) == (cause, True, True)


# --- TLS ----------------------------------------------------------------------------------


def self_signed(tmp: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(__import__("ipaddress").ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp / "cert.pem", tmp / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


async def test_tls_verifies_the_server_and_trusts_a_given_ca(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cert, key = self_signed(tmp_path)
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(cert, key)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                await reader.readuntil(b"\r\n\r\n")
                writer.write(OK)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError):
            pass
        finally:
            writer.transport.abort()

    server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=server_ctx)
    port = server.sockets[0].getsockname()[1]
    url = f"https://127.0.0.1:{port}/a?token={TOKEN}"
    try:
        default = Http11Transport()
        try:
            err = await failure(default, url)
        finally:
            await default.aclose()
        assert str(err).startswith(f"TLS handshake failed: https://127.0.0.1:{port}/a: ")
        assert "self-signed certificate" in str(err)
        assert (err.cause, err.sent, err.transient) == ("tls", False, False)

        trusting = Http11Transport(ssl_context=ssl.create_default_context(cafile=str(cert)))
        try:
            for _ in range(2):
                assert (await trusting.send(get(url), timeout=5)).body == b"{}"
        finally:
            await trusting.aclose()

        # The default context is made on first use, from the CA store the environment names.
        from_env = Http11Transport()
        monkeypatch.setenv("SSL_CERT_FILE", str(cert))
        try:
            assert (await from_env.send(get(url), timeout=5)).status == 200
        finally:
            await from_env.aclose()
    finally:
        server.close()
        await server.wait_closed()


# --- the event stream ---------------------------------------------------------------------


async def test_a_stream_delivers_chunks_as_they_come_and_reports_a_break(
    transport: Http11Transport,
) -> None:
    go_on = asyncio.Event()

    def make(server: RawServer) -> Handler:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await server.head(reader)
            writer.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                b"Transfer-Encoding: chunked\r\n\r\n6\r\nhello\n\r\n"
            )
            await writer.drain()
            await go_on.wait()
            writer.write(b"6\r\nworld\n\r\n3\r\nab")  # then the connection drops mid-chunk
            await writer.drain()

        return handle

    async with await raw(make) as server:
        url = f"{server.url}/a/events?token={TOKEN}"
        async with transport.stream(get(url)) as stream:
            assert stream.status == 200 and stream.content_type == "text/event-stream"
            chunks = stream.chunks()
            assert await anext(chunks) == b"hello\n"  # before the server sent more
            go_on.set()
            got = [await anext(chunks)]
            with pytest.raises(TransportError) as err:
                async for chunk in chunks:
                    got.append(chunk)
        assert b"".join(got).startswith(b"world\n")
    said = str(err.value)
    assert said == f"event stream broken: response cut short: {server.url}/a/events"
    assert err.value.cause == "reset" and TOKEN not in said


async def test_a_refused_stream_reads_its_error_body_and_keeps_the_connection(
    transport: Http11Transport,
) -> None:
    refused = (
        b"HTTP/1.1 403 Forbidden\r\nContent-Type: application/json\r\nContent-Length: 38\r\n\r\n"
        b'{"status":"failed","result":"invalid"}'
    )
    async with await raw(answers(refused, OK)) as server:
        async with transport.stream(get(server.url + "/events")) as stream:
            assert stream.status == 403
            assert await stream.read() == b'{"status":"failed","result":"invalid"}'
        assert (await transport.send(get(server.url), timeout=5)).status == 200
        assert server.connections == 1


async def test_a_stream_that_cannot_connect(transport: Http11Transport) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(TransportError) as err:
        async with transport.stream(get(f"http://127.0.0.1:{port}/events?token={TOKEN}")):
            pass
    assert str(err.value) == f"event stream: connection refused: http://127.0.0.1:{port}/events"
    assert (err.value.cause, err.value.sent) == ("connect", False)


async def test_leaving_a_stream_early_drops_its_connection(transport: Http11Transport) -> None:
    endless = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\n: keepalive\n"
    closed = asyncio.Event()

    def make(server: RawServer) -> Handler:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await server.head(reader)
            writer.write(endless)
            await writer.drain()
            await reader.read()  # until the client goes
            closed.set()

        return handle

    async with await raw(make) as server:
        async with transport.stream(get(server.url)) as stream:
            assert await anext(stream.chunks()) == b": keepalive\n"
        await asyncio.wait_for(closed.wait(), 5)


async def test_aclose_closes_idle_connections() -> None:
    transport = Http11Transport()
    closed = asyncio.Event()

    def make(server: RawServer) -> Handler:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await server.head(reader)
            writer.write(OK)
            await writer.drain()
            assert await reader.read() == b""
            closed.set()

        return handle

    async with await raw(make) as server:
        await transport.send(get(server.url), timeout=5)
        await transport.aclose()
        await asyncio.wait_for(closed.wait(), 5)


async def test_no_connection_in_time_is_a_connect_failure(transport: Http11Transport) -> None:
    """A listener whose backlog is full drops the SYN: nothing was sent, safe to repeat."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        port = listener.getsockname()[1]
        fillers = []
        try:
            for _ in range(3):  # fill the backlog: later connects hang in SYN_SENT
                filler = socket.socket()
                filler.setblocking(False)
                filler.connect_ex(("127.0.0.1", port))
                fillers.append(filler)
            await asyncio.sleep(0.05)
            err = await failure(transport, f"http://127.0.0.1:{port}/a?token={TOKEN}", timeout=0.3)
        finally:
            for filler in fillers:
                filler.close()
    assert str(err) == f"no connection in 0.3 s: http://127.0.0.1:{port}/a"
    assert (err.cause, err.sent, err.transient) == ("connect", False, True)
