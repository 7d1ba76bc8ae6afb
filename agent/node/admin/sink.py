"""The node's event-sink emitter: POSTs conference and participant lifecycle events (and,
in version 2, media stream windows) to each configured sink, as a Conferencing Node does.

Every event gets the next sequence number of its sink when it happens (the first is
`eventsink_started`, seq 1) and is delivered in order, one POST at a time (or batched as
`eventsink_bulk` with `bulk = true`). A POST that fails or answers non-2xx is retried with
backoff (`retries`); after that the events are dropped, counted in `dropped`, and an alarm
is raised until a later POST succeeds, so a dead receiver never stalls the node.

Lifecycle events come from the client-API event hub of each conference (`EventHub.
observers`), so the sink sees exactly the state changes the clients see:
participant_create -> (conference_started) participant_connected, participant_update ->
participant_updated, conference_update -> conference_updated, participant_delete ->
participant_disconnected (reason from the `disconnect` the participant got) and, with the
last one, conference_ended.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import time
from collections import deque
from collections.abc import Collection
from typing import Any

import aiohttp

from ..context import NodeContext
from ..events import Event
from ..state import ConferenceState, ParticipantState
from .alarms import Alarms
from .settings import EventSinkConfig
from .sink_events import (
    StreamWindows,
    conference_data,
    final_streams,
    participant_data,
)
from .streams import participant_streams

log = logging.getLogger(__name__)
ALARM = "Event sink delivery failure"
DEFAULT_REASON = "Call disconnected"


class SinkEmitter:
    """One configured sink: a queue of envelopes, one sender task, one window task."""

    def __init__(
        self, ctx: NodeContext, config: EventSinkConfig, node: str, alarms: Alarms
    ) -> None:
        self.ctx = ctx
        self.config = config
        self.node = node
        self.alarms = alarms
        self.name = config.name or config.url
        self.seq = 0
        self.queue: deque[dict[str, Any]] = deque()
        self.sent = 0
        self.dropped = 0
        self.failed_posts = 0
        self._wake = asyncio.Event()
        self._participants: dict[str, tuple[ConferenceState, ParticipantState]] = {}
        self._reasons: dict[str, str] = {}
        self._windows: dict[str, StreamWindows] = {}

    # -- events ----------------------------------------------------------------------------

    def emit(self, event: str, data: dict[str, Any]) -> None:
        self.seq += 1
        envelope = {
            "node": self.node,
            "seq": self.seq,
            "version": self.config.version,
            "time": time.time(),
            "event": event,
            "data": data,
        }
        if len(self.queue) >= self.config.max_queue:
            self.queue.popleft()
            self.dropped += 1
        self.queue.append(envelope)
        self._wake.set()

    def observe(self, conference: ConferenceState) -> None:
        def observer(event: Event, to: Collection[str] | None) -> None:
            self._on_event(conference, event, to)

        conference.events.observers.append(observer)

    def _participant(self, conference: ConferenceState, uuid: str) -> dict[str, Any] | None:
        participant = conference.participants.get(uuid)
        if participant is None:
            return None
        self._participants[uuid] = (conference, participant)
        windows = self._windows.get(uuid)
        bandwidth = windows.bandwidth() if windows else (0, 0)
        return participant_data(conference, participant, self.node, bandwidth)

    def _on_event(
        self, conference: ConferenceState, event: Event, to: Collection[str] | None
    ) -> None:
        data = event.data if isinstance(event.data, dict) else {}
        uuid = str(data.get("uuid", ""))
        if event.name == "participant_create":
            if conference.instance_participants == [uuid]:
                self.emit("conference_started", conference_data(conference))
            found = self._participant(conference, uuid)
            if found is not None:
                self.emit("participant_connected", found)
        elif event.name == "participant_update":
            found = self._participant(conference, uuid)
            if found is not None:
                self.emit("participant_updated", found)
        elif event.name == "conference_update" and conference.participants:
            self.emit("conference_updated", conference_data(conference))
        elif event.name == "disconnect" and to:
            for target in to:
                self._reasons[target] = str(data.get("reason") or DEFAULT_REASON)
        elif event.name == "participant_delete":
            self._departed(conference, uuid)

    def _departed(self, conference: ConferenceState, uuid: str) -> None:
        known = self._participants.pop(uuid, None)
        reason = self._reasons.pop(uuid, DEFAULT_REASON)
        windows = self._windows.pop(uuid, None)
        now = time.time()
        if known is not None:
            participant = known[1]
            data = participant_data(
                conference, participant, self.node, windows.bandwidth() if windows else (0, 0)
            )
            data.update(
                disconnect_reason=reason,
                duration=now - participant.start_time,
                end_time=now,
            )
            if self.config.version == 1:
                data["media_streams"] = final_streams(
                    windows.last_streams if windows else [], self.node, now
                )
            self.emit("participant_disconnected", data)
            if self.config.version == 2 and (
                participant.calls or participant.ended_calls or windows
            ):
                self.ctx.spawn(self._destroyed(participant), f"sink-destroyed-{uuid}")
        if not conference.participants and conference.instance_start is not None:
            self.emit("conference_ended", conference_data(conference, end_time=now))

    async def _destroyed(self, participant: ParticipantState) -> None:
        # The node closes the calls right after the departure; their final figures follow.
        await asyncio.sleep(0)
        streams = await participant_streams(participant, ended=True)
        self.emit(
            "participant_media_streams_destroyed",
            {
                "uuid": participant.uuid,
                "media_streams": final_streams(streams, self.node, time.time()),
            },
        )

    async def _sample_windows(self) -> None:
        """Every `window` seconds: each participant with media gets its figures sampled
        (and, in version 2, a `participant_media_stream_window`)."""
        while True:
            await asyncio.sleep(self.config.window)
            for uuid, (_conference, participant) in list(self._participants.items()):
                if not participant.calls:
                    continue
                streams = await participant_streams(participant)
                if uuid not in self._participants or not streams:
                    continue  # left while sampling, or no stream yet
                windows = self._windows.setdefault(uuid, StreamWindows())
                data = windows.window(uuid, streams, time.time())
                if self.config.version == 2:
                    self.emit("participant_media_stream_window", data)

    # -- delivery --------------------------------------------------------------------------

    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json"}
        if self.config.username is not None:
            pair = f"{self.config.username}:{self.config.password or ''}".encode()
            headers["Authorization"] = "Basic " + base64.b64encode(pair).decode()
        return headers

    async def _post(self, session: aiohttp.ClientSession, body: bytes) -> bool:
        try:
            async with session.post(
                self.config.url,
                data=body,
                headers=self._headers(),
                timeout=aiohttp.ClientTimeout(total=self.config.timeout),
                allow_redirects=False,
            ) as resp:
                await resp.read()
                return 200 <= resp.status < 300
        except (aiohttp.ClientError, OSError, TimeoutError):
            return False

    async def _send(self) -> None:
        async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as session:
            while True:
                await self._wake.wait()
                self._wake.clear()
                while self.queue:
                    if self.config.bulk:
                        await asyncio.sleep(self.config.bulk_interval)
                        batch = list(self.queue)
                        body: dict[str, Any] = {
                            "node": self.node,
                            "seq": 0,
                            "version": self.config.version,
                            "time": time.time(),
                            "event": "eventsink_bulk",
                            "data": batch,
                        }
                    else:
                        batch = [self.queue[0]]
                        body = batch[0]
                    payload = json.dumps(body).encode()
                    if await self._deliver(session, payload):
                        self.sent += len(batch)
                    else:
                        self.dropped += len(batch)
                    for _ in batch:
                        if self.queue:
                            self.queue.popleft()

    async def _deliver(self, session: aiohttp.ClientSession, payload: bytes) -> bool:
        for attempt in range(self.config.retries + 1):
            if await self._post(session, payload):
                self.alarms.clear(ALARM, self.name)
                return True
            self.failed_posts += 1
            if attempt < self.config.retries:
                await asyncio.sleep(min(10.0, self.config.retry_delay * 2**attempt))
        log.warning("event sink %s unreachable: events dropped", self.name)
        self.alarms.raise_alarm(
            ALARM, self.name, f"POSTs to {self.config.url} failed {self.config.retries + 1} times"
        )
        return False

    def start(self) -> None:
        self.emit("eventsink_started", {})
        self.ctx.spawn(self._send(), f"event-sink {self.name}")
        self.ctx.spawn(self._sample_windows(), f"event-sink windows {self.name}")
        for conference in self.ctx.state.conferences.values():
            self.observe(conference)
