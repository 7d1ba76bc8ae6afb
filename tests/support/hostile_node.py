"""A misbehaving Conferencing Node on 127.0.0.1: just enough of the client API (token
endpoints and the event stream) to be joined, then hostile in one chosen way at a time.

It is deliberately not the local node (`agent.node`), which is a product and must stay
correct: this one sends what a broken or malicious node could send.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import secrets
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from aiohttp import web

from agent._http_server import HttpServer

PREFIX = "/api/client/v2/conferences/{alias}/"

Events = Literal["quiet", "endless_line", "huge_events", "oversized_event", "malformed", "refresh"]


def _event(name: str, data: object) -> bytes:
    return f"event: {name}\ndata: {json.dumps(data)}\n\n".encode()


def _envelope(result: object, status: str = "success") -> dict[str, object]:
    return {"status": status, "result": result}


@dataclass
class Behaviour:
    """What the node does wrong (everything else is answered correctly)."""

    expires: str = "120"
    refresh_expires: str | None = None  # None: same as `expires`
    #: The first N answers of a route are this status (a 503 storm), then normal ones.
    fail_first: dict[str, int] = field(default_factory=dict)
    fail_status: int = 503
    fail_headers: dict[str, str] = field(default_factory=dict)
    #: From the Nth answer of a route on, this status (a node that goes down and stays down).
    fail_from: dict[str, int] = field(default_factory=dict)
    #: `refresh_token` answers 403 "Invalid token" (the token is lost: the bot rejoins).
    refuse_refresh: bool = False
    #: The node asks for a PIN and refuses it quoting it.
    echo_pin: bool = False
    #: Once joined, the node sends a `disconnect` whose reason quotes the token.
    echo_token: bool = False
    events: Events = "quiet"
    #: How many events the floods send per connection.
    flood: int = 20_000


class HostileNode(HttpServer):
    """Start with `async with`; `url` is its base URL, `hits` counts requests per route,
    `sent` the event-stream bytes written per connection."""

    kind = "hostile node"
    handler_cancellation = True

    def __init__(self, behaviour: Behaviour | None = None) -> None:
        super().__init__()
        self.behaviour = behaviour or Behaviour()
        self.hits: Counter[str] = Counter()
        self.sent: list[int] = []
        self._tokens = itertools.count(1)
        #: Every token handed out.
        self.tokens: list[str] = []

    @property
    def url(self) -> str:
        return self.base_url

    def build_app(self) -> web.Application:
        app = web.Application()
        routes: list[tuple[str, str, Callable[[web.Request], Awaitable[web.StreamResponse]]]] = [
            ("POST", "request_token", self._request_token),
            ("POST", "refresh_token", self._refresh_token),
            ("POST", "release_token", self._release_token),
            ("GET", "events", self._events),
        ]
        for method, name, handler in routes:
            app.router.add_route(method, PREFIX + name, self._counted(name, handler))
        return app

    def _counted(
        self, name: str, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def counted(request: web.Request) -> web.StreamResponse:
            self.hits[name] += 1
            b = self.behaviour
            failing_from = b.fail_from.get(name)
            if self.hits[name] <= b.fail_first.get(name, 0) or (
                failing_from is not None and self.hits[name] >= failing_from
            ):
                return web.json_response(
                    _envelope("Service Unavailable", "failed"),
                    status=b.fail_status,
                    headers=b.fail_headers,
                )
            return await handler(request)

        return counted

    async def _request_token(self, request: web.Request) -> web.StreamResponse:
        body: dict[str, Any] = await request.json()
        if self.behaviour.echo_pin:
            pin = request.headers.get("pin")
            if pin is None:
                return web.json_response(
                    _envelope({"pin": "required", "guest_pin": "required"}), status=403
                )
            return web.json_response(_envelope(f"Invalid PIN {pin}, try again"), status=403)
        return web.json_response(
            _envelope(
                {
                    "token": self._token(),
                    "expires": self.behaviour.expires,
                    "participant_uuid": "me-uuid",
                    "version": {"version_id": "36"},
                    "role": "GUEST",
                    "display_name": body.get("display_name", ""),
                    "current_service_type": "conference",
                }
            )
        )

    async def _refresh_token(self, request: web.Request) -> web.StreamResponse:
        b = self.behaviour
        if b.refuse_refresh:
            return web.json_response(_envelope("Invalid token", "failed"), status=403)
        expires = b.expires if b.refresh_expires is None else b.refresh_expires
        return web.json_response(_envelope({"token": self._token(), "expires": expires}))

    def _token(self) -> str:
        # Long and unguessable, as a node's are (a scrubber must find it, not a prefix).
        token = f"tok-{next(self._tokens)}-{secrets.token_hex(12)}"
        self.tokens.append(token)
        return token

    async def _release_token(self, request: web.Request) -> web.StreamResponse:
        return web.json_response(_envelope(True))

    async def _events(self, request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        index = len(self.sent)
        self.sent.append(0)

        async def write(data: bytes) -> None:
            await resp.write(data)  # waits while the client does not read (backpressure)
            self.sent[index] += len(data)

        await write(_event("participant_sync_begin", None) + _event("participant_sync_end", None))
        if self.behaviour.echo_token:
            token = request.query.get("token", "")
            await write(_event("disconnect", {"reason": f"Token {token} revoked"}))
        mode = self.behaviour.events
        try:
            if mode == "endless_line":
                await write(b"data: ")
                chunk = b"x" * 65536
                while True:  # a line that never ends
                    await write(chunk)
            elif mode == "huge_events":
                # Large but within the client's caps: 900 KB lines, delivered and dropped.
                payload = {
                    "origin": "x",
                    "uuid": "u",
                    "type": "text/plain",
                    "payload": "y" * 900_000,
                }
                event = _event("message_received", payload)
                for _ in range(20):
                    for start in range(0, len(event), 65536):
                        await write(event[start : start + 65536])
            elif mode == "oversized_event":
                # 5 MB of data lines of 500 KB each: past the 4 MiB event cap.
                line = b"data: " + json.dumps("z" * 500_000).encode() + b",\n"
                await write(b"event: stage\ndata: [\n")
                for _ in range(10):
                    for start in range(0, len(line), 65536):
                        await write(line[start : start + 65536])
                await write(b'data: "end"]\n\n')
            elif mode == "malformed":
                bad = _event("participant_delete", {"not_a_uuid": 1})
                for _ in range(self.behaviour.flood // 100):
                    await write(bad * 100)
            elif mode == "refresh":
                for _ in range(self.behaviour.flood // 100):
                    await write(_event("refresh_token", None) * 100)
            while True:  # then stay open, quietly
                await write(b": keepalive\n\n")
                await asyncio.sleep(1.0)
        except ConnectionResetError:
            pass  # the client hung up (as it should, on an endless line)
        return resp
