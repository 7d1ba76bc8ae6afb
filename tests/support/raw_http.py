"""Real servers on 127.0.0.1 for the transport's tests (tests/unit/test_http11*.py): a raw
asyncio server that sends exactly the bytes a test gives (well-formed or broken)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

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


async def a_transport() -> AsyncIterator[Http11Transport]:
    """The body of each test module's `transport` fixture."""
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
