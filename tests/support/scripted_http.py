"""A transport that answers from a script, per (method, URL), in order: a response or a
`TransportError` (as `Http11Transport` classifies them; tests/unit/test_http11.py checks that
classification against real sockets). For tests of what the client does with answers and
failures (retries), not of HTTP itself."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from agent.infinity._transport import HttpRequest, HttpResponse, StreamResponse, TransportError


@dataclass
class _Step:
    answer: HttpResponse | TransportError
    repeat: bool


def refused(url: str) -> TransportError:
    return TransportError(f"connection refused: {url}", cause="connect", sent=False)


def timed_out(url: str) -> TransportError:
    return TransportError(f"no answer in 10 s: {url}", cause="timeout")


def reset(url: str) -> TransportError:
    return TransportError(f"server closed the connection: {url}", cause="reset")


def bad_certificate(url: str) -> TransportError:
    return TransportError(
        f"TLS handshake failed: {url}: self-signed certificate",
        cause="tls",
        sent=False,
        transient=False,
    )


class ScriptedTransport:
    def __init__(self) -> None:
        self._steps: dict[tuple[str, str], list[_Step]] = defaultdict(list)
        #: Every request sent, by (method, URL).
        self.requests: dict[tuple[str, str], list[HttpRequest]] = defaultdict(list)

    def add(
        self,
        method: str,
        url: str,
        *,
        status: int = 200,
        payload: Any = None,
        body: str | None = None,
        content_type: str | None = None,
        headers: dict[str, str] | None = None,
        exception: TransportError | None = None,
        repeat: bool = False,
    ) -> None:
        answer: HttpResponse | TransportError
        if exception is not None:
            answer = exception
        elif body is not None:
            answer = HttpResponse(
                status, content_type or "text/plain", body.encode(), headers or {}
            )
        else:
            data = json.dumps(payload).encode()
            answer = HttpResponse(status, content_type or "application/json", data, headers or {})
        self._steps[(method, url)].append(_Step(answer, repeat))

    def post(self, url: str, **kwargs: Any) -> None:
        self.add("POST", url, **kwargs)

    def get(self, url: str, **kwargs: Any) -> None:
        self.add("GET", url, **kwargs)

    def sent(self, method: str, url: str) -> int:
        return len(self.requests.get((method, url), []))

    async def send(self, request: HttpRequest, *, timeout: float) -> HttpResponse:
        key = (request.method, request.url.split("?", 1)[0])
        self.requests[key].append(request)
        steps = self._steps.get(key)
        if not steps:
            raise AssertionError(f"nothing scripted for {key}")
        step = steps[0] if steps[0].repeat else steps.pop(0)
        if isinstance(step.answer, TransportError):
            raise step.answer
        return step.answer

    @asynccontextmanager
    async def stream(self, request: HttpRequest) -> AsyncIterator[StreamResponse]:
        raise NotImplementedError("ScriptedTransport does not serve event streams")
        yield  # pragma: no cover

    async def aclose(self) -> None:
        pass
