"""Breakout rooms as a host's event stream shows them: begin, per-room rosters, end."""

from __future__ import annotations

import json
from typing import Any

from agent.infinity import BreakoutRooms, RoomChange
from agent.infinity._sse import SseMessage
from agent.infinity.events import StreamInterrupted
from agent.infinity.models import events as ev
from agent.infinity.roster import Changed, Joined, Left
from tests.support.fakes_events import participant


def parsed(name: str, data: Any) -> ev.InfinityEvent:
    return ev.parse_event(SseMessage(event=name, data=json.dumps(data), id=None))


def room_event(room: str, event: str, data: Any) -> ev.InfinityEvent:
    return parsed("breakout_event", {"breakout_uuid": room, "event": event, "data": data})


def apply(rooms: BreakoutRooms, *items: Any) -> list[RoomChange]:
    changes: list[RoomChange] = []
    for item in items:
        changes += rooms.apply(item)
    return changes


def test_breakout_events_are_typed() -> None:
    begin = parsed("breakout_begin", {"breakout_uuid": "r1", "participant_uuid": "me-r1"})
    assert isinstance(begin, ev.BreakoutBegin) and begin.participant_uuid == "me-r1"
    end = parsed("breakout_end", {"breakout_uuid": "r1", "participant_uuid": "me-r1"})
    assert isinstance(end, ev.BreakoutEnd)
    refer = parsed(
        "breakout_refer", {"breakout_uuid": "r1", "breakout_name": "One", "requester_uuid": "h"}
    )
    assert isinstance(refer, ev.BreakoutRefer) and refer.breakout_name == "One"
    wrapped = room_event("r1", "participant_create", participant("a", display_name="Alice"))
    assert isinstance(wrapped, ev.BreakoutEvent)
    inner = wrapped.inner
    assert isinstance(inner, ev.ParticipantCreate) and inner.participant.display_name == "Alice"
    # An inner payload that does not fit its model is reported, not raised.
    bad = room_event("r1", "participant_delete", {"nouuid": 1})
    assert isinstance(bad, ev.BreakoutEvent) and isinstance(bad.inner, ev.MalformedEvent)
    # An empty room id does not fit (Pexip's SDK asserts room ids too).
    assert isinstance(parsed("breakout_begin", {"breakout_uuid": ""}), ev.MalformedEvent)


def test_one_roster_per_room_and_a_closing_room_empties() -> None:
    rooms = BreakoutRooms()
    sync = [
        room_event("r1", "participant_sync_begin", None),
        room_event("r1", "participant_create", participant("a", display_name="Alice")),
        room_event("r1", "participant_sync_end", None),
    ]
    changes = apply(
        rooms,
        parsed("breakout_begin", {"breakout_uuid": "r1", "participant_uuid": "me-1"}),
        parsed("breakout_begin", {"breakout_uuid": "r2", "participant_uuid": "me-2"}),
        *sync,
        room_event("r2", "participant_create", participant("b", display_name="Bob")),
        room_event("r1", "conference_update", {"breakout_name": "Room 1", "locked": False}),
    )
    assert [(c.room, type(c.change)) for c in changes] == [("r1", Joined), ("r2", Joined)]
    r1 = rooms.get("r1")
    assert r1 is not None and r1.participant_uuid == "me-1" and r1.name == "Room 1"
    assert set(r1.roster.participants) == {"a"}
    assert set(rooms.rooms["r2"].roster.participants) == {"b"}
    # A replay after a reconnect reports nothing new; a change is a change.
    assert apply(rooms, StreamInterrupted("x"), *sync) == []
    upd = room_event(
        "r1", "participant_update", participant("a", display_name="Alice", is_muted="YES")
    )
    (muted,) = apply(rooms, upd)
    assert isinstance(muted.change, Changed) and "is_muted" in muted.change.fields
    # The room closes: everyone in it has left it.
    closed = apply(rooms, parsed("breakout_end", {"breakout_uuid": "r1"}))
    assert [(c.room, type(c.change)) for c in closed] == [("r1", Left)]
    assert "r1" not in rooms and len(rooms) == 1
    assert [c.room for c in rooms.clear()] == ["r2"] and len(rooms) == 0


def test_events_of_an_unannounced_room_still_make_it() -> None:
    rooms = BreakoutRooms()
    changes = apply(rooms, room_event("rX", "participant_create", participant("c")))
    assert [c.room for c in changes] == ["rX"] and rooms.get("rX") is not None
