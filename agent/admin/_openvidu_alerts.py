"""Alerts of the media-node watcher and where they go (log lines, a webhook).

Sinks run on the watcher's own dispatcher task, so a slow or unreachable webhook never
delays polling or the handling of OpenVidu's own webhooks.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Literal, Protocol

import aiohttp
from pydantic import BaseModel, ConfigDict, Field

from ..backoff import Backoff

log = logging.getLogger("agent.admin.openvidu.alerts")

AlertKind = Literal[
    "load_high",
    "load_low",
    "load_normal",
    "node_failed",
    "node_terminated",
    "node_crashed",
    "node_recovered",
    "api_unreachable",
    "api_recovered",
]
Severity = Literal["info", "warning", "critical"]

_LEVELS: dict[Severity, int] = {
    "info": logging.INFO,
    "warning": logging.WARNING,
    "critical": logging.ERROR,
}


class Alert(BaseModel):
    """One alert of the watcher; webhooks receive it as JSON."""

    model_config = ConfigDict(frozen=True)

    kind: AlertKind
    severity: Severity
    message: str
    node_id: str | None = None
    #: Average load of the running media nodes when the alert was raised.
    average_load: float | None = None
    time: datetime = Field(default_factory=lambda: datetime.now(UTC))


class AlertSink(Protocol):
    """Where alerts go; `send` may be slow (it runs on the dispatcher task)."""

    async def send(self, alert: Alert) -> None: ...

    async def aclose(self) -> None: ...


class LogAlertSink:
    """One log line per alert (logger `agent.admin.openvidu.alerts`), levelled by severity."""

    async def send(self, alert: Alert) -> None:
        log.log(_LEVELS[alert.severity], "openvidu alert %s: %s", alert.kind, alert.message)

    async def aclose(self) -> None:
        return None


class WebhookAlertSink:
    """POSTs each alert as JSON; retries with jittered backoff, then gives up (logged)."""

    def __init__(
        self,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        attempts: int = 4,
        timeout: float = 5.0,
        backoff: float = 0.5,
    ) -> None:
        self.url = url
        self._headers = {"Content-Type": "application/json", **(headers or {})}
        self.attempts = attempts
        self.timeout = timeout
        self.backoff = backoff
        self.delivered = 0
        self.failed = 0
        self._http: aiohttp.ClientSession | None = None
        self._closed = False

    async def send(self, alert: Alert) -> None:
        if self._closed:
            # A new session now would never be closed: drop the alert and say so.
            self.failed += 1
            log.warning("alert webhook is closed; %s alert not sent", alert.kind)
            return
        if self._http is None:
            self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout))
        http = self._http
        body = alert.model_dump_json().encode()
        backoff = Backoff(base=self.backoff, max_delay=30.0, rng=random.Random())
        why = ""
        for attempt in range(1, self.attempts + 1):
            try:
                async with http.post(self.url, data=body, headers=self._headers) as r:
                    if r.status < 300:
                        self.delivered += 1
                        return
                    why = f"HTTP {r.status}"
            except (aiohttp.ClientError, TimeoutError) as exc:
                why = type(exc).__name__
            if attempt < self.attempts:
                await asyncio.sleep(backoff.next_delay())
        self.failed += 1
        log.warning("alert webhook gave up after %d attempts (%s)", self.attempts, why)

    async def aclose(self) -> None:
        self._closed = True
        http, self._http = self._http, None
        if http is not None:
            await http.close()
