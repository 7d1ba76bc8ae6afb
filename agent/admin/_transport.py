"""The network seam of the management API client: every request goes through a `Transport`.

Production uses one pooled aiohttp session per client (Pexip asks for kept-alive, sequential
requests on a pooled connection); tests may replace it. Unlike the client API's seam the
response keeps its headers: `Retry-After` and `WWW-Authenticate` matter here.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import aiohttp

from ._errors import ManagementTransportError


@dataclass(frozen=True)
class AdminRequest:
    """One request as sent (headers hold credentials: never log them)."""

    method: str
    url: str
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes | None = None


@dataclass(frozen=True)
class AdminResponse:
    """A complete response; header names are lower-cased."""

    status: int
    headers: Mapping[str, str]
    body: bytes

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "").split(";")[0].strip().lower()

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    def json(self) -> Any:
        """The body as JSON; raises ValueError when it is not JSON."""
        return json.loads(self.body)


class Transport(Protocol):
    """The network seam: send one request, get one complete response."""

    async def send(self, request: AdminRequest, *, timeout: float) -> AdminResponse: ...

    async def aclose(self) -> None: ...


class AiohttpTransport:
    """One aiohttp session (a small keep-alive pool) for every request of one client.

    `verify_tls=False` is for lab managers with self-signed certificates only.
    """

    def __init__(
        self,
        session: aiohttp.ClientSession | None = None,
        *,
        verify_tls: bool = True,
        connections: int = 4,
    ) -> None:
        self._session = session
        self._owns_session = session is None
        self._verify_tls = verify_tls
        self._connections = connections
        self._closed = False

    def _client(self) -> aiohttp.ClientSession:
        if self._closed:
            # Opening a new session here would leak it: nothing closes it any more.
            raise RuntimeError("the management API transport is closed")
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._connections, ssl=self._verify_tls),
                cookie_jar=aiohttp.DummyCookieJar(),
            )
            self._owns_session = True
        return self._session

    async def send(self, request: AdminRequest, *, timeout: float) -> AdminResponse:
        try:
            async with self._client().request(
                request.method,
                request.url,
                headers=dict(request.headers),
                data=request.body,
                timeout=aiohttp.ClientTimeout(total=timeout),
                allow_redirects=False,
            ) as resp:
                body = await resp.read()
                headers = {k.lower(): v for k, v in resp.headers.items()}
                return AdminResponse(resp.status, headers, body)
        except TimeoutError:
            raise ManagementTransportError(
                f"{request.method} timed out after {timeout:g} s"
            ) from None
        except (aiohttp.ClientError, OSError) as exc:
            raise ManagementTransportError(
                f"{request.method} failed: {type(exc).__name__}: {exc}"
            ) from None

    async def aclose(self) -> None:
        self._closed = True
        if self._session is not None and self._owns_session and not self._session.closed:
            await self._session.close()
            await asyncio.sleep(0)  # let aiohttp's close callbacks run
