"""An in-memory Transport whose event-stream connections a test scripts, and helpers."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import parse_qs, urlsplit

from agent.infinity._http import ApiClient
from agent.infinity._transport import HttpRequest, HttpResponse, StreamResponse, TransportError

NODE = "https://node.example"
ALIAS = "meet"


def sse(name: str, data: object = None, *, event_id: str | None = None) -> bytes:
    """One event as the node sends it (always with a data line)."""
    text = data if isinstance(data, str) else json.dumps(data)
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {name}\ndata: {text}\n\n".encode()


def participant(uuid: str, **fields: object) -> dict[str, object]:
    return {"uuid": uuid, "display_name": f"Name {uuid}", "role": "guest", **fields}


def sync(*participants: dict[str, object]) -> bytes:
    body = sse("participant_sync_begin")
    for p in participants:
        body += sse("participant_create", p)
    return body + sse("participant_sync_end")


@dataclass
class Conn:
    """One scripted connection attempt.

    `connect_error`: the open fails (TransportError). Otherwise the node answers `status`;
    on 200 it sends `chunks`, then ends the stream (`then="eof"`), breaks it
    (`then="drop"`, a TransportError) or keeps it open forever (`then="hang"`).
    """

    status: int = 200
    chunks: list[bytes] = field(default_factory=list)
    then: Literal["eof", "drop", "hang"] = "eof"
    body: bytes = b""
    connect_error: bool = False

    @classmethod
    def refused(cls) -> Conn:
        return cls(connect_error=True)

    @classmethod
    def invalid_token(cls) -> Conn:
        return cls(status=403, body=b'{"status": "success", "result": "Invalid token"}')


class FakeStream:
    def __init__(self, conn: Conn, transport: FakeTransport) -> None:
        self._conn = conn
        self._transport = transport

    @property
    def status(self) -> int:
        return self._conn.status

    @property
    def content_type(self) -> str:
        return "text/event-stream" if self._conn.status == 200 else "application/json"

    async def chunks(self) -> AsyncIterator[bytes]:
        for chunk in self._conn.chunks:
            await asyncio.sleep(0)  # a real read suspends; lets cancellation in
            yield chunk
        if self._conn.then == "drop":
            raise TransportError("event stream broken: ClientPayloadError")
        if self._conn.then == "hang":
            await asyncio.Event().wait()

    async def read(self) -> bytes:
        return self._conn.body


class FakeTransport:
    """Plays `script` one connection per `stream()` call; records every request."""

    def __init__(self, script: list[Conn]) -> None:
        self.script = list(script)
        self.requests: list[HttpRequest] = []
        self.open_streams = 0
        self.closed_streams = 0

    @property
    def tokens(self) -> list[str]:
        """The `?token=` of every events request, in order."""
        return [parse_qs(urlsplit(r.url).query)["token"][0] for r in self.requests]

    async def send(self, request: HttpRequest, *, timeout: float) -> HttpResponse:
        raise AssertionError(f"unexpected request {request.method}")

    @asynccontextmanager
    async def stream(self, request: HttpRequest) -> AsyncIterator[StreamResponse]:
        self.requests.append(request)
        if not self.script:
            raise AssertionError("the test script has no more connections")
        conn = self.script.pop(0)
        await asyncio.sleep(0)
        if conn.connect_error:
            raise TransportError("event stream connect failed: ClientConnectorError")
        self.open_streams += 1
        try:
            yield FakeStream(conn, self)
        finally:
            self.closed_streams += 1

    async def aclose(self) -> None:
        return None


def api_for(transport: FakeTransport) -> ApiClient:
    return ApiClient(NODE, transport=transport)


class Sleeps:
    """An injected `sleep` that records delays and never sleeps. `on_sleep` may mutate
    state between attempts (e.g. refresh the token)."""

    def __init__(self, callback: Callable[[int], None] | None = None) -> None:
        self.delays: list[float] = []
        self.callback = callback

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)
        if self.callback is not None:
            self.callback(len(self.delays))
        await asyncio.sleep(0)


class TokenBox:
    """The session's current token, as the token refresher would keep it."""

    def __init__(self, token: str = "tok-1") -> None:
        self.value = token
        self.reads = 0

    def __call__(self) -> str:
        self.reads += 1
        return self.value
