"""`EventSinkReceiver`: an HTTP endpoint for a Pexip event sink, for in-process use and
behind `pexbot sink`.

It answers each POST at once (Pexip delivers one event at a time per node and builds a
backlog behind a slow receiver) and hands the events on from its own task: to the
handlers (`add_handler`, sync or async callables taking a typed `SinkEvent`) and to a JSONL
file (one envelope per line, written off the event loop). Events are deduplicated by
(node, seq, time); a jump in a node's numbers is a `SequenceGap`, logged once and kept in
`counters`. With `resume=True` the receiver reads its JSONL file first, so after a restart
the gap it reports is exactly what it missed.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import inspect
import json
import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import hdrs, web

from .._http_server import HttpServer
from ._sink_models import BULK, SinkEvent, SinkEventError, envelopes, parse_event
from ._sink_sequence import SequenceGap, SequenceTracker

log = logging.getLogger(__name__)

Handler = Callable[[SinkEvent], Awaitable[None] | None]
MAX_BODY = 16 * 1024 * 1024
KEEP_GAPS = 1000


@dataclass
class SinkCounters:
    """What the receiver has seen so far."""

    posts: int = 0
    bulk_posts: int = 0
    received: int = 0
    delivered: int = 0
    duplicates: int = 0
    late: int = 0
    invalid: int = 0
    unauthorized: int = 0
    handler_errors: int = 0
    missing: int = 0
    gaps: list[SequenceGap] = field(default_factory=list)
    last_seq: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        data = {k: v for k, v in self.__dict__.items() if k != "gaps"}
        data["gaps"] = [g.__dict__ | {"count": g.count} for g in self.gaps]
        return data


def _write_lines(path: Path, lines: list[str]) -> None:
    with path.open("a", encoding="utf-8") as fh:
        fh.writelines(lines)


def _read_resume(path: Path) -> list[tuple[str, int, float | None]]:
    found: list[tuple[str, int, float | None]] = []
    if not path.exists():
        return found
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            try:
                raw = json.loads(line)
                found.append((str(raw["node"]), int(raw["seq"]), raw.get("time")))
            except (ValueError, KeyError, TypeError):
                continue  # a torn last line after a crash
    return found


class EventSinkReceiver(HttpServer):
    """Receives event-sink POSTs on `host:port` at `path`.

    `username`/`password` require the HTTP Basic credentials configured on the sink.
    """

    kind = "event sink"
    shutdown_timeout = 1.0

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        path: str = "/",
        username: str | None = None,
        password: str | None = None,
        jsonl: str | Path | None = None,
        resume: bool = False,
    ) -> None:
        super().__init__(host=host, port=port)
        self.path = path if path.startswith("/") else "/" + path
        self._credentials = None if username is None else (username, password or "")
        self.jsonl = Path(jsonl) if jsonl is not None else None
        self.resume = resume
        self.counters = SinkCounters()
        self._tracker = SequenceTracker()
        self._handlers: list[Handler] = []
        self._queue: asyncio.Queue[tuple[SinkEvent, dict[str, Any]] | None] = asyncio.Queue()
        self._dispatcher: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        return self.base_url + self.path

    def add_handler(self, handler: Handler) -> None:
        """Call `handler(event)` for every new event, in arrival order."""
        self._handlers.append(handler)

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        if self.resume and self.jsonl is not None:
            for node, seq, when in await asyncio.to_thread(_read_resume, self.jsonl):
                self._tracker.restore(node, seq, when)
            self.counters.last_seq = self._tracker.nodes()
        app = web.Application(client_max_size=MAX_BODY)
        app.router.add_post(self.path, self._receive)
        app.router.add_get(self.path.rstrip("/") + "/counters", self._counters)
        await self.listen(app)
        self._dispatcher = asyncio.create_task(self._dispatch(), name="event-sink dispatch")

    async def stop(self) -> None:
        """Stop listening, then hand on and write everything already accepted."""
        await self.unlisten()
        if self._dispatcher is not None:
            self._queue.put_nowait(None)
            await self._dispatcher
            self._dispatcher = None

    # -- HTTP ------------------------------------------------------------------------------

    def _authorized(self, request: web.Request) -> bool:
        if self._credentials is None:
            return True
        scheme, _, encoded = request.headers.get(hdrs.AUTHORIZATION, "").partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            user, _, password = base64.b64decode(encoded, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        return secrets.compare_digest(user, self._credentials[0]) and secrets.compare_digest(
            password, self._credentials[1]
        )

    async def _counters(self, request: web.Request) -> web.StreamResponse:
        if not self._authorized(request):
            return web.Response(status=401, headers={hdrs.WWW_AUTHENTICATE: "Basic"})
        return web.json_response(self.counters.as_dict())

    async def _receive(self, request: web.Request) -> web.StreamResponse:
        if not self._authorized(request):
            self.counters.unauthorized += 1
            return web.Response(status=401, headers={hdrs.WWW_AUTHENTICATE: "Basic"})
        self.counters.posts += 1
        try:
            body = json.loads(await request.read())
            items = envelopes(body)
        except (ValueError, SinkEventError) as exc:
            self.counters.invalid += 1
            log.warning("event sink: unreadable POST: %s", exc)
            return web.json_response({"error": f"not an event: {exc}"}, status=400)
        if isinstance(body, dict) and body.get("event") == BULK:
            self.counters.bulk_posts += 1
        errors = [message for raw in items if (message := self.accept(raw)) is not None]
        if errors and len(errors) == len(items):
            return web.json_response({"error": errors[0]}, status=400)
        return web.json_response({"status": "ok", "rejected": len(errors)})

    def accept(self, raw: Any) -> str | None:
        """Judge one envelope and queue it if new; returns the error of an invalid one."""
        try:
            event = parse_event(raw)
        except SinkEventError as exc:
            self.counters.invalid += 1
            log.warning("event sink: invalid event: %s", exc)
            return str(exc)
        self.counters.received += 1
        when = raw.get("time") if isinstance(raw.get("time"), int | float) else None
        verdict, gap = self._tracker.judge(event.node, event.seq, when)
        if gap is not None:
            self.counters.missing += gap.count
            self.counters.gaps = [*self.counters.gaps, gap][-KEEP_GAPS:]
            log.warning(
                "event sink: node %s events %d..%d missing (%d, %s)",
                gap.node,
                gap.first,
                gap.last,
                gap.count,
                gap.reason,
            )
        if verdict == "duplicate":
            self.counters.duplicates += 1
            return None
        if verdict == "late":
            self.counters.late += 1
            self.counters.missing -= 1
        self.counters.last_seq[event.node] = self._tracker.last(event.node)
        self._queue.put_nowait((event, raw))
        return None

    # -- hand-off --------------------------------------------------------------------------

    async def _dispatch(self) -> None:
        while True:
            item = await self._queue.get()
            batch = [item]
            while not self._queue.empty():
                batch.append(self._queue.get_nowait())
            done = None in batch
            events = [entry for entry in batch if entry is not None]
            if self.jsonl is not None and events:
                lines = [json.dumps(raw, separators=(",", ":")) + "\n" for _, raw in events]
                await asyncio.to_thread(_write_lines, self.jsonl, lines)
            for event, _ in events:
                await self._hand_on(event)
            if done:
                return

    async def _hand_on(self, event: SinkEvent) -> None:
        self.counters.delivered += 1
        for handler in self._handlers:
            try:
                result = handler(event)
                if inspect.isawaitable(result):
                    await result
            except Exception:
                self.counters.handler_errors += 1
                log.exception("event sink handler failed on %s", event.event)
