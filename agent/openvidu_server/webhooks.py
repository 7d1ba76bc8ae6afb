"""The emulated server's webhook: events POSTed as JSON, in order, one by one.

Like OpenVidu, a failed POST is logged once and not retried. Every emitted event is also
kept (newest 1000) for `GET /_openvidu/events`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from typing import Any

import aiohttp

log = logging.getLogger("agent.openvidu_server.webhooks")


def _header(line: str) -> tuple[str, str] | None:
    name, colon, value = line.partition(":")
    return (name.strip(), value.strip()) if colon and name.strip() else None


class WebhookEmitter:
    def __init__(self) -> None:
        self.enabled = False
        self.endpoint: str | None = None
        self.headers: dict[str, str] = {}
        self.events: set[str] | None = None
        self.emitted: deque[dict[str, Any]] = deque(maxlen=1000)
        self.delivered = 0
        self.failed = 0
        self._queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._http: aiohttp.ClientSession | None = None

    def configure(
        self,
        *,
        enabled: bool,
        endpoint: str | None,
        headers: list[str],
        events: list[str] | None,
    ) -> None:
        self.enabled = enabled and endpoint is not None
        self.endpoint = endpoint
        self.headers = dict(h for h in map(_header, headers) if h is not None)
        self.events = set(events) if events is not None else None

    def emit(self, event: str, data: dict[str, Any]) -> None:
        payload = {"event": event, "timestamp": int(time.time() * 1000), **data}
        self.emitted.append(payload)
        if self.enabled and (self.events is None or event in self.events):
            self._queue.put_nowait(payload)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="openvidu-server-webhooks")

    async def _run(self) -> None:
        self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5))
        while True:
            payload = await self._queue.get()
            endpoint = self.endpoint
            if endpoint is None:
                continue
            try:
                async with self._http.post(endpoint, json=payload, headers=self.headers) as r:
                    if r.status == 200:
                        self.delivered += 1
                        continue
                    why = f"HTTP {r.status}"
            except (aiohttp.ClientError, TimeoutError) as exc:
                why = type(exc).__name__
            self.failed += 1
            log.warning("webhook %s not delivered: %s", payload["event"], why)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        if self._http is not None:
            await self._http.close()
            self._http = None
