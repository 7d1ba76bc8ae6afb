"""`http`: POST the message as JSON to a URL and relay the answer (an LLM, a helpdesk...).

The request body is the `ChatMessage` as JSON. The answer is a JSON object with `reply`
(a string, or null for no answer), or plain text (empty: no answer); 204 is no answer.
Each attempt has `timeout` s; a timeout, a connection error, 429 or 5xx is retried
`retries` times with backoff; any other status is an error at once. An answer larger than
`max_bytes` is refused rather than cut. Errors reach the sender as one line that never
shows the URL (it may hold a key) or the token.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import random
from urllib.parse import urlsplit

import aiohttp
from pydantic import BaseModel, ConfigDict, Field

from agent import Backoff

from ..message import ChatMessage, ResponderError, ResponderTimeout

__all__ = ["HttpOptions", "HttpResponder"]

log = logging.getLogger(__name__)


class HttpOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(pattern=r"^https?://[^\s]+$")
    #: Seconds per attempt.
    timeout: float = Field(default=10.0, gt=0, le=300)
    retries: int = Field(default=1, ge=0, le=10)
    #: First retry delay (s); doubles, with jitter.
    backoff: float = Field(default=0.5, ge=0, le=30)
    max_bytes: int = Field(default=64 * 1024, ge=16, le=16 * 1024 * 1024)
    #: Environment variable holding a bearer token (`Authorization: Bearer ...`).
    token_env: str | None = None


class _Retry(Exception):
    """This attempt failed in a way worth another try."""

    def __init__(self, why: str, *, timeout: bool = False) -> None:
        super().__init__(why)
        self.timeout = timeout


class HttpResponder:
    Options = HttpOptions

    def __init__(self, options: HttpOptions) -> None:
        self.options = options
        # Logs name the host only: a URL's path or query may hold a key.
        self._where = urlsplit(options.url).netloc
        self._http: aiohttp.ClientSession | None = None
        self._closed = False
        self.attempts = 0

    async def __call__(self, message: ChatMessage) -> str | None:
        opts = self.options
        headers = {"Content-Type": "application/json", "Accept": "application/json, text/plain"}
        if opts.token_env:
            token = os.environ.get(opts.token_env)
            if not token:
                raise ResponderError(f"the answer service's token ({opts.token_env}) is not set")
            headers["Authorization"] = f"Bearer {token}"
        body = message.model_dump_json().encode()
        backoff = Backoff(base=max(opts.backoff, 0.001), max_delay=30.0, rng=random.Random())
        last = _Retry("no attempt")
        for attempt in range(opts.retries + 1):
            if attempt:
                await asyncio.sleep(backoff.next_delay() if opts.backoff else 0)
            try:
                return await self._attempt(body, headers)
            except _Retry as exc:
                last = exc
                log.info("http responder %s: attempt %d: %s", self._where, attempt + 1, exc)
        raise (ResponderTimeout if last.timeout else ResponderError)(str(last))

    async def _attempt(self, body: bytes, headers: dict[str, str]) -> str | None:
        opts = self.options
        if self._closed:
            # A new session now would never be closed (the bot is leaving).
            raise ResponderError("the http responder is closed")
        if self._http is None:
            self._http = aiohttp.ClientSession()
        http = self._http
        self.attempts += 1
        try:
            async with asyncio.timeout(opts.timeout):
                async with http.post(opts.url, data=body, headers=headers) as resp:
                    if resp.status == 429 or resp.status >= 500:
                        raise _Retry(f"the answer service failed (HTTP {resp.status})")
                    if resp.status == 204:
                        return None
                    if resp.status >= 300:
                        raise ResponderError(f"the answer service refused (HTTP {resp.status})")
                    raw = await resp.content.read(opts.max_bytes + 1)
                    if len(raw) > opts.max_bytes:
                        raise ResponderError(f"the answer is over {opts.max_bytes} bytes")
                    return _answer(raw, resp.content_type)
        except TimeoutError:
            why = f"the answer service did not answer within {opts.timeout:g} s"
            raise _Retry(why, timeout=True) from None
        except aiohttp.ClientError as exc:
            raise _Retry(f"the answer service cannot be reached ({type(exc).__name__})") from None

    async def aclose(self) -> None:
        self._closed = True
        http, self._http = self._http, None
        if http is not None:
            await http.close()


def _answer(raw: bytes, content_type: str) -> str | None:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ResponderError("the answer is not UTF-8 text") from None
    if content_type != "application/json":
        return text.strip() or None
    try:
        doc = json.loads(text)
    except ValueError:
        raise ResponderError("the answer is not valid JSON") from None
    reply = doc.get("reply") if isinstance(doc, dict) else None
    if not isinstance(doc, dict) or not (reply is None or isinstance(reply, str)):
        raise ResponderError('the answer is not {"reply": "..."}')
    if reply is None:
        return None
    return reply.strip() or None
