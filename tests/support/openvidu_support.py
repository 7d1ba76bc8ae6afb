"""Helpers for the OpenVidu tests: the emulated server with a client on it, a transport
that records what the client sent (over real HTTP), a scripted HTTP server for error
shapes, and a polling wait."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web

from agent._http_server import HttpServer
from agent.admin.openvidu import AuditLog, MemoryAuditLog, OpenViduClient
from agent.infinity import Http11Transport, HttpRequest, HttpResponse
from agent.openvidu_server import NodeSpec, OpenViduServer, OpenViduServerConfig

SECRET = "MY_SECRET"


class RecordingTransport:
    """The production transport, plus a list of (method, path, query) it sent."""

    def __init__(self) -> None:
        self._inner = Http11Transport()
        self.sent: list[tuple[str, str, str]] = []

    async def send(self, request: HttpRequest, *, timeout: float) -> HttpResponse:
        url = urlsplit(request.url)
        self.sent.append((request.method, url.path, url.query))
        return await self._inner.send(request, timeout=timeout)

    def stream(self, request: HttpRequest) -> Any:
        return self._inner.stream(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


def two_nodes(profile: str, **kw: Any) -> OpenViduServerConfig:
    """`idle` (load 10, no sessions) and `busy` (load 30, session ses_1)."""
    nodes = kw.pop(
        "nodes",
        [NodeSpec(id="idle", load=10), NodeSpec(id="busy", load=30, sessions=["ses_1"])],
    )
    return OpenViduServerConfig.model_validate({"profile": profile, "nodes": nodes, **kw})


@asynccontextmanager
async def running(
    config: OpenViduServerConfig,
    *,
    admin: bool = True,
    audit: AuditLog | None = None,
    secret: str = SECRET,
) -> AsyncIterator[tuple[OpenViduServer, OpenViduClient, RecordingTransport]]:
    transport = RecordingTransport()
    async with OpenViduServer(config) as server:
        client = OpenViduClient(
            server.base_url,
            secret,
            allow_admin_actions=admin,
            audit_log=audit if audit is not None else MemoryAuditLog(),
            transport=transport,
            timeout=5.0,
            wait_timeout=10.0,
        )
        async with client:
            yield server, client, transport


async def eventually(predicate: Callable[[], bool], timeout: float = 3.0) -> float:
    """Wait until `predicate()` holds; returns the seconds it took (fails on timeout)."""
    start = time.monotonic()
    while not predicate():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"condition not met within {timeout} s")
        await asyncio.sleep(0.01)
    return time.monotonic() - start


@dataclass
class _Reply:
    method: str
    path: re.Pattern[str]
    status: int
    body: bytes
    content_type: str
    delay: float
    repeat: bool


class ScriptedServer(HttpServer):
    """A real HTTP server on 127.0.0.1 that answers each request with the next scripted
    reply matching its method and path (for error shapes the emulator never produces).
    aioresponses 0.7.9 cannot build responses for aiohttp 3.14, hence this."""

    kind = "scripted server"

    def __init__(self) -> None:
        super().__init__()
        self.replies: list[_Reply] = []
        #: (method, path with query, body) of every request, in order.
        self.requests: list[tuple[str, str, bytes]] = []
        self.authorizations: list[str | None] = []

    def add(
        self,
        method: str,
        path: str,
        status: int = 200,
        *,
        body: str | bytes = b"",
        json_body: Any = None,
        delay: float = 0.0,
        repeat: bool = False,
    ) -> None:
        content_type = "text/plain"
        if json_body is not None:
            body, content_type = json.dumps(json_body), "application/json"
        raw = body.encode() if isinstance(body, str) else body
        pattern = re.compile(path)
        self.replies.append(_Reply(method, pattern, status, raw, content_type, delay, repeat))

    @property
    def url(self) -> str:
        return self.base_url

    async def _handle(self, request: web.Request) -> web.Response:
        self.requests.append((request.method, request.raw_path, await request.read()))
        self.authorizations.append(request.headers.get("Authorization"))
        raw_path = request.raw_path.split("?", 1)[0]  # still percent-encoded
        for reply in self.replies:
            if reply.method == request.method and reply.path.fullmatch(raw_path):
                if not reply.repeat:
                    self.replies.remove(reply)
                await asyncio.sleep(reply.delay)
                return web.Response(
                    status=reply.status, body=reply.body, content_type=reply.content_type
                )
        return web.Response(status=404, text="not scripted")

    def build_app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        return app
