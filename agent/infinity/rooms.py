"""The breakout rooms a participant (a host) sees, each with its own roster, from events.

A host's main event stream carries every room: `breakout_begin` opens one (with the host's
UUID in it), `breakout_event` wraps the room's own events (its participant list, status,
chat, ...) and `breakout_end` closes it. `BreakoutRooms.apply()` keeps one `Roster` per room
from those (replayed lists give only real changes, as in the main room) and reports each
room's changes as `RoomChange`s; a closing room reports everyone in it as `Left`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from .events import StreamInterrupted, StreamItem
from .models.conference import ConferenceProperties
from .models.events import (
    BreakoutBegin,
    BreakoutEnd,
    BreakoutEvent,
    ConferenceUpdate,
    ParticipantCreate,
    ParticipantDelete,
    ParticipantSyncBegin,
    ParticipantSyncEnd,
    ParticipantUpdate,
)
from .roster import Left, Roster, RosterChange

__all__ = ["BreakoutRoom", "BreakoutRooms", "RoomChange"]

_ROSTER_EVENTS = (
    ParticipantCreate,
    ParticipantUpdate,
    ParticipantDelete,
    ParticipantSyncBegin,
    ParticipantSyncEnd,
)


@dataclass
class BreakoutRoom:
    """One open room: its UUID, the viewer's own UUID in it, its name and roster."""

    uuid: str
    #: The viewer's participant UUID in this room (for the room's participant functions).
    participant_uuid: str
    roster: Roster = field(default_factory=Roster)
    #: The room's latest `conference_update` (None until one came).
    status: ConferenceProperties | None = None

    @property
    def name(self) -> str:
        return (self.status.breakout_name if self.status is not None else None) or ""


@dataclass(frozen=True, slots=True)
class RoomChange:
    """A roster change in the breakout room `room` (its UUID)."""

    room: str
    change: RosterChange


class BreakoutRooms:
    """Every room seen on one event stream; feed it every item with `apply()`."""

    __slots__ = ("_rooms",)

    def __init__(self) -> None:
        self._rooms: dict[str, BreakoutRoom] = {}

    @property
    def rooms(self) -> Mapping[str, BreakoutRoom]:
        """Room UUID -> room, read-only."""
        return MappingProxyType(self._rooms)

    def get(self, uuid: str) -> BreakoutRoom | None:
        return self._rooms.get(uuid)

    def __len__(self) -> int:
        return len(self._rooms)

    def __contains__(self, uuid: object) -> bool:
        return uuid in self._rooms

    def clear(self) -> list[RoomChange]:
        """Forget every room (the viewer left the conference): everyone in them `Left`."""
        changes = [c for uuid in list(self._rooms) for c in self._close(uuid)]
        return changes

    def apply(self, item: StreamItem) -> list[RoomChange]:
        """The room roster changes this item makes (other items are ignored)."""
        if isinstance(item, BreakoutBegin):
            room = self._rooms.get(item.breakout_uuid)
            if room is None:
                self._rooms[item.breakout_uuid] = BreakoutRoom(
                    item.breakout_uuid, item.participant_uuid
                )
            elif item.participant_uuid:
                room.participant_uuid = item.participant_uuid
            return []
        if isinstance(item, BreakoutEnd):
            return self._close(item.breakout_uuid)
        if isinstance(item, BreakoutEvent):
            return self._room_event(item)
        if isinstance(item, StreamInterrupted):
            for room in self._rooms.values():
                room.roster.apply(item)
        return []

    def _room_event(self, item: BreakoutEvent) -> list[RoomChange]:
        room = self._rooms.get(item.breakout_uuid)
        if room is None:
            # Events of a room whose begin this stream did not see (joined after it opened
            # on a node that does not replay the begin): the room exists all the same.
            room = self._rooms[item.breakout_uuid] = BreakoutRoom(item.breakout_uuid, "")
        inner = item.inner
        if isinstance(inner, ConferenceUpdate):
            room.status = inner
            return []
        if isinstance(inner, _ROSTER_EVENTS):
            return [RoomChange(room.uuid, c) for c in room.roster.apply(inner)]
        return []

    def _close(self, uuid: str) -> list[RoomChange]:
        room = self._rooms.pop(uuid, None)
        if room is None:
            return []
        return [RoomChange(uuid, Left(p)) for p in room.roster.participants.values()]
