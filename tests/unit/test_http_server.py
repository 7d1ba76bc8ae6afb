"""The lifecycle every pexbot HTTP server shares (`agent._http_server.HttpServer`): a free
port when asked for port 0, `base_url` only while running, nothing left open when the
port is taken, and a stop that may be repeated."""

from __future__ import annotations

import socket

import aiohttp
import pytest
from aiohttp import web

from agent._http_server import AppServer


async def _hello(request: web.Request) -> web.Response:
    return web.Response(text="hello")


def _app() -> web.Application:
    app = web.Application()
    app.router.add_get("/", _hello)
    return app


async def test_port_zero_takes_a_free_port_and_serves_until_stopped() -> None:
    server = AppServer(_app())
    with pytest.raises(RuntimeError, match="server not started"):
        _ = server.base_url
    async with server:
        assert server.running and server.port > 0
        assert server.base_url == f"http://127.0.0.1:{server.port}"
        async with aiohttp.ClientSession() as http, http.get(server.base_url) as reply:
            assert await reply.text() == "hello"
    assert not server.running
    with pytest.raises(RuntimeError, match="not started"):
        _ = server.base_url
    await server.stop()  # a second stop is harmless


async def test_a_taken_port_raises_and_leaves_nothing_open() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        taken = sock.getsockname()[1]
        server = AppServer(_app(), port=taken)
        with pytest.raises(OSError):
            await server.start()
        assert not server.running
        assert server.port == taken


async def test_started_twice_is_refused() -> None:
    async with AppServer(_app()) as server:
        with pytest.raises(RuntimeError, match="already started"):
            await server.start()
