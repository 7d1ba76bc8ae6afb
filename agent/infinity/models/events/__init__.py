"""Typed server-sent events of the client API (`GET .../events`), one module per concept.

`parse_event()` turns one `SseMessage` into one event object and never raises:

- a known event whose payload fits its model -> that event's class (e.g. `ParticipantUpdate`);
- a known event whose payload is not JSON or does not fit -> `MalformedEvent` (the error holds
  field locations and messages only, never payload values: a `refer` carries a token);
- an event name this package does not know -> `RawEvent` with the decoded JSON (or the raw
  text when it is not JSON).

Payload models ignore unknown fields (newer nodes add fields). Events whose payload is "none"
(`participant_sync_begin`, `presentation_stop`, ...) accept any data, as Pexip's SDK does.
Every event class has a `name` ClassVar: the SSE event name it is parsed from
(`EVENT_TYPES` maps each name to its class).
"""

from __future__ import annotations

from typing import TypeAlias, cast

from ..._sse import SseMessage
from ._base import EVENT_TYPES, EventModel, MalformedEvent, RawEvent
from ._parse import parse_any, parse_any_data
from .breakouts import MAIN_ROOM, BreakoutBegin, BreakoutEnd, BreakoutEvent, BreakoutRefer
from .conference import (
    CaptionSource,
    ConferenceUpdate,
    Layout,
    LiveCaptions,
    Message,
    MessageReceived,
    RequestedLayout,
    ScreenLayout,
    SplashScreen,
    Stage,
    StageEntry,
)
from .participants import (
    ParticipantCreate,
    ParticipantDelete,
    ParticipantSyncBegin,
    ParticipantSyncEnd,
    ParticipantUpdate,
)
from .presentation import PresentationEnded, PresentationFrame, PresentationStart, PresentationStop
from .signalling import (
    CallDisconnected,
    CancelRefer,
    Disconnect,
    Fecc,
    FeccMovement,
    NewCandidate,
    NewOffer,
    OnHold,
    PeerDisconnect,
    Refer,
    RefreshToken,
    UpdateSdp,
)

__all__ = [
    "EVENT_TYPES",
    "MAIN_ROOM",
    "BreakoutBegin",
    "BreakoutEnd",
    "BreakoutEvent",
    "BreakoutRefer",
    "CallDisconnected",
    "CancelRefer",
    "CaptionSource",
    "ConferenceUpdate",
    "Disconnect",
    "EventModel",
    "Fecc",
    "FeccMovement",
    "InfinityEvent",
    "KnownEvent",
    "Layout",
    "LiveCaptions",
    "MalformedEvent",
    "Message",
    "MessageReceived",
    "NewCandidate",
    "NewOffer",
    "OnHold",
    "ParticipantCreate",
    "ParticipantDelete",
    "ParticipantSyncBegin",
    "ParticipantSyncEnd",
    "ParticipantUpdate",
    "PeerDisconnect",
    "PresentationEnded",
    "PresentationFrame",
    "PresentationStart",
    "PresentationStop",
    "RawEvent",
    "Refer",
    "RefreshToken",
    "RequestedLayout",
    "ScreenLayout",
    "SplashScreen",
    "Stage",
    "StageEntry",
    "UpdateSdp",
    "parse_event",
    "parse_event_data",
]

KnownEvent: TypeAlias = (
    ParticipantSyncBegin
    | ParticipantSyncEnd
    | ParticipantCreate
    | ParticipantUpdate
    | ParticipantDelete
    | ConferenceUpdate
    | MessageReceived
    | Message
    | Stage
    | Layout
    | PresentationStart
    | PresentationStop
    | PresentationEnded
    | PresentationFrame
    | CallDisconnected
    | Disconnect
    | Refer
    | CancelRefer
    | OnHold
    | Fecc
    | RefreshToken
    | LiveCaptions
    | PeerDisconnect
    | NewOffer
    | UpdateSdp
    | NewCandidate
    | SplashScreen
    | BreakoutBegin
    | BreakoutEnd
    | BreakoutEvent
    | BreakoutRefer
)
InfinityEvent: TypeAlias = KnownEvent | RawEvent | MalformedEvent


def parse_event(msg: SseMessage) -> InfinityEvent:
    """The typed event for one SSE message. Never raises."""
    # Every registered class is one of `KnownEvent` (imported above).
    return cast(InfinityEvent, parse_any(msg))


def parse_event_data(name: str, data: object) -> InfinityEvent:
    """The typed event for an already decoded payload (e.g. inside `breakout_event`)."""
    return cast(InfinityEvent, parse_any_data(name, data))
