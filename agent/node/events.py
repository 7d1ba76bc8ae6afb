"""Per-conference event fan-out for the `events` stream (server-sent events)."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Event:
    name: str
    data: Any
    id: int


def format_sse(event: Event) -> bytes:
    # Always a `data:` line: EventSource never delivers an event without one.
    payload = json.dumps(event.data, separators=(",", ":"))
    return f"id: {event.id}\nevent: {event.name}\ndata: {payload}\n\n".encode()


KEEPALIVE = b": keepalive\n\n"
# Sees every published event and its recipients (None: everyone), synchronously, in order:
# the event-sink emitter (`admin/sink.py`) hooks in here.
Observer = Callable[[Event, Collection[str] | None], None]
log = logging.getLogger(__name__)


class Subscription:
    """One open event stream of one participant."""

    def __init__(self, participant_uuid: str) -> None:
        self.participant_uuid = participant_uuid
        self._queue: asyncio.Queue[Event | None] = asyncio.Queue()

    def put(self, event: Event) -> None:
        self._queue.put_nowait(event)

    def close(self) -> None:
        # None tells the stream handler to finish the response.
        self._queue.put_nowait(None)

    async def get(self, timeout: float) -> Event | None:
        """The next event; raises TimeoutError when idle for `timeout` seconds."""
        return await asyncio.wait_for(self._queue.get(), timeout)


class EventHub:
    def __init__(self) -> None:
        self._subs: dict[str, set[Subscription]] = {}
        self._next_id = 0
        self.observers: list[Observer] = []

    def make_event(self, name: str, data: Any) -> Event:
        self._next_id += 1
        return Event(name, data, self._next_id)

    def subscribe(self, participant_uuid: str) -> Subscription:
        sub = Subscription(participant_uuid)
        self._subs.setdefault(participant_uuid, set()).add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        subs = self._subs.get(sub.participant_uuid)
        if subs is not None:
            subs.discard(sub)
            if not subs:
                del self._subs[sub.participant_uuid]

    def connected(self, participant_uuid: str) -> bool:
        return bool(self._subs.get(participant_uuid))

    def publish(
        self,
        name: str,
        data: Any,
        *,
        to: Collection[str] | None = None,
        exclude: Collection[str] = (),
    ) -> Event:
        event = self.make_event(name, data)
        for observer in self.observers:
            try:
                observer(event, to)
            except Exception:  # an observer never breaks the client API
                log.exception("event observer failed on %s", name)
        for uuid, subs in self._subs.items():
            if (to is not None and uuid not in to) or uuid in exclude:
                continue
            for sub in subs:
                sub.put(event)
        return event

    def close_participant(self, participant_uuid: str) -> None:
        for sub in self._subs.pop(participant_uuid, set()):
            sub.close()

    def close_all(self) -> None:
        for uuid in list(self._subs):
            self.close_participant(uuid)
