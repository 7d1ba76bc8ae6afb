"""`Http11Transport` against real servers on 127.0.0.1: aiohttp's web server for well-formed
HTTP, and a raw asyncio server for what a broken node or proxy can send (chunked,
close-delimited, truncated, malformed, resets, silence). Every failure is one line naming the
URL without its query (which may hold the token) and classified for the retry logic. TLS and
the event stream: test_http11_stream.py."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from agent.infinity import Http11Transport, HttpRequest
from tests.support.raw_http import (
    OK,
    TOKEN,
    Handler,
    RawServer,
    a_transport,
    answers,
    failure,
    get,
    raw,
)


@pytest.fixture
async def transport() -> AsyncIterator[Http11Transport]:
    async for t in a_transport():
        yield t


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
