"""An in-memory transport that plays a scripted Conferencing Node (no sockets).

Each request is routed by the last path segment(s) to a handler the test sets; the
handler returns `(status, result)` (wrapped as Pexip's `{"status", "result"}` JSON) or
raises `TransportError` to simulate the network.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from agent.infinity._transport import HttpRequest, HttpResponse, StreamResponse

Handler = Callable[[HttpRequest], tuple[int, Any]]


def ok(result: Any) -> tuple[int, Any]:
    return 200, result


@dataclass
class FakeNode:
    handlers: dict[str, Handler] = field(default_factory=dict)
    requests: list[HttpRequest] = field(default_factory=list)
    closed: bool = False

    def route(self, name: str, handler: Handler) -> None:
        self.handlers[name] = handler

    def calls(self, name: str) -> list[HttpRequest]:
        return [r for r in self.requests if self._name(r) == name]

    @staticmethod
    def _name(request: HttpRequest) -> str:
        path = urlsplit(request.url).path
        return path.split("/conferences/", 1)[1].split("/", 1)[1]

    async def send(self, request: HttpRequest, *, timeout: float) -> HttpResponse:
        self.requests.append(request)
        name = self._name(request)
        if name not in self.handlers:
            return HttpResponse(404, "application/json", b'{"status":"failed","result":"x"}')
        status, result = self.handlers[name](request)
        body = json.dumps({"status": "success" if status < 400 else "failed", "result": result})
        return HttpResponse(status, "application/json", body.encode())

    @asynccontextmanager
    async def stream(self, request: HttpRequest) -> AsyncIterator[StreamResponse]:
        raise NotImplementedError("FakeNode does not serve event streams")
        yield  # pragma: no cover

    async def aclose(self) -> None:
        self.closed = True


def body_of(request: HttpRequest) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(request.body or b"{}")
    return data


def token_result(token: str = "tok-1", *, expires: str = "120", **extra: Any) -> dict[str, Any]:
    return {
        "token": token,
        "expires": expires,
        "participant_uuid": "me-uuid",
        "version": {"version_id": "36", "pseudo_version": "1"},
        "role": "GUEST",
        "display_name": "Bot",
        "current_service_type": "conference",
        "service_type": "conference",
        **extra,
    }
