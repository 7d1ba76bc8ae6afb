"""Participant events: the list replayed on every connection, joins, updates, leaves."""

from typing import ClassVar

from pydantic import Field

from ..participant import ParticipantInfo
from ._base import EventModel, NoPayload, PayloadKind

__all__ = [
    "ParticipantCreate",
    "ParticipantDelete",
    "ParticipantSyncBegin",
    "ParticipantSyncEnd",
    "ParticipantUpdate",
]


class ParticipantSyncBegin(NoPayload):
    """The node starts (re)sending the complete participant list (on every connection)."""

    name: ClassVar[str] = "participant_sync_begin"


class ParticipantSyncEnd(NoPayload):
    """The complete participant list has been sent."""

    name: ClassVar[str] = "participant_sync_end"


class ParticipantCreate(EventModel):
    """A participant joined (or is listed during a sync)."""

    name: ClassVar[str] = "participant_create"
    _kind: ClassVar[PayloadKind] = "wrap"
    _field: ClassVar[str] = "participant"
    participant: ParticipantInfo


class ParticipantUpdate(EventModel):
    """A participant's properties changed; the payload is the full participant object."""

    name: ClassVar[str] = "participant_update"
    _kind: ClassVar[PayloadKind] = "wrap"
    _field: ClassVar[str] = "participant"
    participant: ParticipantInfo


class ParticipantDelete(EventModel):
    """A participant left."""

    name: ClassVar[str] = "participant_delete"
    uuid: str = Field(min_length=1)
