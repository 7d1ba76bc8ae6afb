"""Breakout room events, as a host's stream carries them (Pexip's SDK is the reference).

A host keeps its token and its event stream in the main room. For every breakout room it
gets `breakout_begin` (with its own participant UUID in that room, used on the room's
`breakouts/<room>/participants/<uuid>/...` functions), then the room's own events wrapped
in `breakout_event` (its participant list, chat, status, presentation, live captions), and
`breakout_end` when the room closes. `breakout_refer` asks the host to join a room.

A guest is moved with a `refer` event instead (`target: "breakout"` or `"main"`): it
re-joins with the one-time token and the room is its conference from then on.
"""

from typing import Any, ClassVar

from pydantic import Field

from ._base import AnyEvent, EventModel
from ._parse import parse_any_data

__all__ = ["MAIN_ROOM", "BreakoutBegin", "BreakoutEnd", "BreakoutEvent", "BreakoutRefer"]

#: The room id Pexip's SDK uses for the main room (e.g. as a move's `breakout_uuid`).
MAIN_ROOM = "main"


class BreakoutBegin(EventModel):
    """A breakout room is open; `participant_uuid` is this participant's UUID in it."""

    name: ClassVar[str] = "breakout_begin"
    breakout_uuid: str = Field(min_length=1)
    participant_uuid: str = ""


class BreakoutEnd(EventModel):
    """A breakout room closed."""

    name: ClassVar[str] = "breakout_end"
    breakout_uuid: str = Field(min_length=1)
    participant_uuid: str = ""


class BreakoutRefer(EventModel):
    """`requester_uuid` asks this participant (a host) to join the room (`main`: to take
    its call back to the main room)."""

    name: ClassVar[str] = "breakout_refer"
    breakout_uuid: str = Field(min_length=1)
    breakout_name: str = ""
    requester_uuid: str = ""


class BreakoutEvent(EventModel):
    """A breakout room's copy of one of its events (`event` names it, `data` is its payload):
    `participant_*`, `message_received`, `conference_update`, `presentation_*`,
    `live_captions`."""

    name: ClassVar[str] = "breakout_event"
    breakout_uuid: str = Field(min_length=1)
    event: str = Field(min_length=1)
    data: Any = None

    @property
    def inner(self) -> AnyEvent:
        """The wrapped event, typed (unknown names are `RawEvent`, payloads that do not fit
        their model `MalformedEvent`, as for the main stream)."""
        return parse_any_data(self.event, self.data)
