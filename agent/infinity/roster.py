"""The participant list of a conference, kept from events, reporting only real changes.

The node replays the whole list (`participant_sync_begin`, one `participant_create` each,
`participant_sync_end`) on every event-stream connection. `Roster` collects that replay as a
new snapshot and, at the end of the sync, reports only the differences against what it knew
before: a reconnect where nobody changed reports nothing; someone who left during the outage
is `Left`; a changed field is `Changed` with the field names.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TypeAlias

from .events import StreamInterrupted, StreamItem
from .models.events import (
    ParticipantCreate,
    ParticipantDelete,
    ParticipantSyncBegin,
    ParticipantSyncEnd,
    ParticipantUpdate,
)
from .models.participant import ParticipantInfo

__all__ = ["Changed", "Joined", "Left", "Roster", "RosterChange", "changed_fields"]


@dataclass(frozen=True, slots=True)
class Joined:
    participant: ParticipantInfo
    #: Already in the conference when the roster's first sync arrived, i.e. before whoever
    #: keeps the roster joined (a greeter greets only those with `initial` False).
    initial: bool = False


@dataclass(frozen=True, slots=True)
class Left:
    participant: ParticipantInfo


@dataclass(frozen=True, slots=True)
class Changed:
    before: ParticipantInfo
    after: ParticipantInfo
    fields: frozenset[str]


RosterChange: TypeAlias = Joined | Left | Changed


def changed_fields(before: ParticipantInfo, after: ParticipantInfo) -> frozenset[str]:
    """Names of the model fields whose values differ (empty if none)."""
    a = before.__dict__
    b = after.__dict__
    if a == b:
        return frozenset()
    return frozenset(k for k, v in b.items() if a.get(k, _MISSING) != v)


_MISSING = object()


class Roster:
    """Apply every event of the stream (other events are ignored) with `apply()`."""

    __slots__ = ("_current", "_snapshot", "_synced")

    def __init__(self) -> None:
        self._current: dict[str, ParticipantInfo] = {}
        self._snapshot: dict[str, ParticipantInfo] | None = None  # set while syncing
        self._synced = False  # a sync has completed (later syncs are reconnects)

    @property
    def participants(self) -> Mapping[str, ParticipantInfo]:
        """uuid -> participant, read-only (the list before a sync in progress)."""
        return MappingProxyType(self._current)

    @property
    def syncing(self) -> bool:
        return self._snapshot is not None

    def get(self, uuid: str) -> ParticipantInfo | None:
        return self._current.get(uuid)

    def __len__(self) -> int:
        return len(self._current)

    def __contains__(self, uuid: object) -> bool:
        return uuid in self._current

    def apply(self, event: StreamItem) -> list[RosterChange]:
        """The roster changes this event makes (usually none or one)."""
        kind = type(event)
        if kind is ParticipantCreate or kind is ParticipantUpdate:
            p = event.participant  # type: ignore[union-attr]
            if self._snapshot is not None:
                self._snapshot[p.uuid] = p
                return []
            return self._upsert(p)
        if kind is ParticipantDelete:
            uuid = event.uuid  # type: ignore[union-attr]
            if self._snapshot is not None:
                self._snapshot.pop(uuid, None)
                return []
            gone = self._current.pop(uuid, None)
            return [Left(gone)] if gone is not None else []
        if kind is ParticipantSyncBegin:
            # A second begin without an end restarts the sync.
            self._snapshot = {}
            return []
        if kind is ParticipantSyncEnd:
            return self._finish_sync()
        if kind is StreamInterrupted:
            # An incomplete replay says nothing about who left: drop it, keep the old list
            # until the next connection's sync.
            self._snapshot = None
        return []

    def _upsert(self, p: ParticipantInfo) -> list[RosterChange]:
        before = self._current.get(p.uuid)
        self._current[p.uuid] = p
        if before is None:
            return [Joined(p)]
        fields = changed_fields(before, p)
        return [Changed(before, p, fields)] if fields else []

    def _finish_sync(self) -> list[RosterChange]:
        snapshot = self._snapshot
        if snapshot is None:
            return []  # an end without a begin: nothing was collected
        self._snapshot = None
        initial, self._synced = not self._synced, True
        old = self._current
        self._current = snapshot
        changes: list[RosterChange] = [Left(p) for uuid, p in old.items() if uuid not in snapshot]
        for uuid, p in snapshot.items():
            before = old.get(uuid)
            if before is None:
                changes.append(Joined(p, initial=initial))
            elif before.__dict__ != p.__dict__:
                changes.append(Changed(before, p, changed_fields(before, p)))
        return changes
