"""Lifecycle webhooks: every state change POSTed as JSON, HMAC-signed, retried with backoff.

A first-party plugin (`webhook`, through the `pexbot.plugins` entry point), so a slow or
unreachable receiver only delays this plugin's own queue, never the bot. The signature header is
`X-Pexbot-Signature: sha256=<hex HMAC-SHA256 of the body>` with the key from `secret_env`.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import os
import random
import time

import aiohttp
from pydantic import BaseModel, ConfigDict, Field

from agent import Backoff, Plugin, StateChanged

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Pexbot-Signature"


class WebhookConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(pattern=r"^https?://")
    #: Environment variable holding the HMAC key (unsigned when not set).
    secret_env: str | None = None
    attempts: int = Field(default=4, ge=1)
    timeout: float = Field(default=5.0, gt=0)
    backoff: float = Field(default=0.5, gt=0)


def sign(secret: bytes, body: bytes) -> str:
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


class WebhookPlugin(Plugin[WebhookConfig]):
    name = "webhook"
    Config = WebhookConfig

    async def start(self) -> None:
        self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.config.timeout))
        secret = os.environ.get(self.config.secret_env) if self.config.secret_env else None
        if self.config.secret_env and not secret:
            log.warning("webhook: %s is not set; sending unsigned", self.config.secret_env)
        self._secret = secret.encode() if secret else None
        self.delivered = 0
        self.failed = 0

    async def on_state_changed(self, change: StateChanged) -> None:
        ctx = self.context
        payload = {
            "bot": ctx.display_name,
            "alias": ctx.alias,
            "old": str(change.old),
            "new": str(change.new),
            "reason": str(change.reason) if change.reason else None,
            "detail": change.detail,
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        await self.deliver(json.dumps(payload).encode())

    async def deliver(self, body: bytes) -> bool:
        headers = {"Content-Type": "application/json"}
        if self._secret is not None:
            headers[SIGNATURE_HEADER] = sign(self._secret, body)
        backoff = Backoff(base=self.config.backoff, max_delay=30.0, rng=random.Random())
        for attempt in range(1, self.config.attempts + 1):
            try:
                async with self._http.post(self.config.url, data=body, headers=headers) as r:
                    if r.status < 300:
                        self.delivered += 1
                        return True
                    why = f"HTTP {r.status}"
            except (aiohttp.ClientError, TimeoutError) as exc:
                why = type(exc).__name__
            if attempt < self.config.attempts:
                delay = backoff.next_delay()
                log.info("webhook attempt %d failed (%s); retry in %.1f s", attempt, why, delay)
                await asyncio.sleep(delay)
        self.failed += 1
        log.warning("webhook gave up after %d attempts (%s)", self.config.attempts, why)
        return False

    async def stop(self) -> None:
        http = getattr(self, "_http", None)  # None when the bot stopped before `start()`
        if http is not None:
            await http.close()
