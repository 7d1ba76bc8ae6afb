"""Typed server-sent events of the client API (`GET .../events`).

`parse_event()` turns one `SseMessage` into one event object and never raises:

- a known event whose payload fits its model -> that event's class (e.g. `ParticipantUpdate`);
- a known event whose payload is not JSON or does not fit -> `MalformedEvent` (the error holds
  field locations and messages only, never payload values: a `refer` carries a token);
- an event name this module does not know -> `RawEvent` with the decoded JSON (or the raw
  text when it is not JSON).

Payload models ignore unknown fields (newer nodes add fields). Events whose payload is "none"
(`participant_sync_begin`, `presentation_stop`, ...) accept any data, as Pexip's SDK does.
Every event class has a `name` ClassVar: the SSE event name it is parsed from.
"""

from __future__ import annotations

import json
from typing import Any, ClassVar, Literal, TypeAlias

from pydantic import ConfigDict, Field, TypeAdapter, ValidationError

from .._sse import SseMessage
from ..reasons import ReasonCode, reason_code
from ._base import ApiModel
from .conference import ConferenceProperties
from .participant import ParticipantInfo

__all__ = [
    "EVENT_TYPES",
    "BreakoutBegin",
    "BreakoutEnd",
    "BreakoutEvent",
    "BreakoutRefer",
    "CallDisconnected",
    "CancelRefer",
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
    "SplashScreen",
    "Stage",
    "StageEntry",
    "UpdateSdp",
    "parse_event",
    "parse_event_data",
]


class EventModel(ApiModel):
    """Base of every event: immutable; unknown payload fields are ignored."""

    model_config = ConfigDict(frozen=True)

    #: The SSE event name this class is parsed from.
    name: ClassVar[str] = ""
    #: How the payload maps onto the model: "object" (payload fields are the model's fields),
    #: "none" (the payload is ignored), "wrap" (the whole payload is the one field `_field`).
    _kind: ClassVar[Literal["object", "none", "wrap"]] = "object"
    _field: ClassVar[str] = ""
    #: An "object" event that also accepts a JSON `null` payload (all fields defaulted).
    _nullable: ClassVar[bool] = False


class _NoPayload(EventModel):
    _kind: ClassVar[Literal["object", "none", "wrap"]] = "none"


# --- participants -------------------------------------------------------------------------


class ParticipantSyncBegin(_NoPayload):
    """The node starts (re)sending the complete participant list (on every connection)."""

    name: ClassVar[str] = "participant_sync_begin"


class ParticipantSyncEnd(_NoPayload):
    """The complete participant list has been sent."""

    name: ClassVar[str] = "participant_sync_end"


class ParticipantCreate(EventModel):
    """A participant joined (or is listed during a sync)."""

    name: ClassVar[str] = "participant_create"
    _kind: ClassVar[Literal["object", "none", "wrap"]] = "wrap"
    _field: ClassVar[str] = "participant"
    participant: ParticipantInfo


class ParticipantUpdate(EventModel):
    """A participant's properties changed; the payload is the full participant object."""

    name: ClassVar[str] = "participant_update"
    _kind: ClassVar[Literal["object", "none", "wrap"]] = "wrap"
    _field: ClassVar[str] = "participant"
    participant: ParticipantInfo


class ParticipantDelete(EventModel):
    """A participant left."""

    name: ClassVar[str] = "participant_delete"
    uuid: str = Field(min_length=1)


# --- conference ---------------------------------------------------------------------------


class ConferenceUpdate(EventModel, ConferenceProperties):
    """Conference properties (the `conference_status` fields); absent ones are `None`."""

    name: ClassVar[str] = "conference_update"


class MessageReceived(EventModel):
    """A chat message. `type` starting with `text/plain` is text; anything else is an
    application message whose `payload` is JSON text."""

    name: ClassVar[str] = "message_received"
    origin: str = ""
    uuid: str = ""
    type: str = "text/plain"
    payload: str
    direct: bool | None = None

    @property
    def is_text(self) -> bool:
        return self.type.startswith("text/plain")

    def json_payload(self) -> object:
        """The payload of an application message, decoded (raises `ValueError` if not JSON)."""
        return json.loads(self.payload)


class Message(MessageReceived):
    """The v10 name of `message_received` (same payload)."""

    name: ClassVar[str] = "message"


class StageEntry(ApiModel):
    model_config = ConfigDict(frozen=True)

    participant_uuid: str
    stage_index: int
    vad: int = 0

    @property
    def speaking(self) -> bool:
        return self.vad > 0


class Stage(EventModel):
    """Active speakers, most recent first (`stage_index` 0)."""

    name: ClassVar[str] = "stage"
    _kind: ClassVar[Literal["object", "none", "wrap"]] = "wrap"
    _field: ClassVar[str] = "speakers"
    speakers: tuple[StageEntry, ...]


class ScreenLayout(ApiModel):
    model_config = ConfigDict(frozen=True)

    chair_layout: str | None = None
    guest_layout: str | None = None


class RequestedLayout(ApiModel):
    model_config = ConfigDict(frozen=True)

    primary_screen: ScreenLayout | None = None


class Layout(EventModel):
    """The layout the node renders and who is in it."""

    name: ClassVar[str] = "layout"
    view: str = ""
    participants: tuple[str, ...] = ()
    requested_layout: RequestedLayout | None = None
    overlay_text_enabled: bool | None = None
    pres_slot_coords: Any = None


# --- presentation -------------------------------------------------------------------------


class PresentationStart(EventModel):
    """Someone presents. All three presenter fields empty means the presentation was revoked."""

    name: ClassVar[str] = "presentation_start"
    presenter_name: str = ""
    presenter_uri: str = ""
    presenter_uuid: str = ""
    status: str | None = None

    @property
    def revoked(self) -> bool:
        return not (self.presenter_name or self.presenter_uri or self.presenter_uuid)


class PresentationStop(_NoPayload):
    name: ClassVar[str] = "presentation_stop"


class PresentationEnded(_NoPayload):
    name: ClassVar[str] = "presentation_ended"


class PresentationFrame(_NoPayload):
    """A new slide image; fetch `presentation.jpeg?id=<frame_id>&token=...`.

    `frame_id` is the SSE event id of the message (not a payload field)."""

    name: ClassVar[str] = "presentation_frame"
    frame_id: str | None = None


# --- calls, media and signalling ----------------------------------------------------------


class CallDisconnected(EventModel):
    """One call (media) of this participant ended; the participant is still in."""

    name: ClassVar[str] = "call_disconnected"
    call_uuid: str = ""
    reason: str = ""


class Disconnect(EventModel):
    """The node disconnects this participant."""

    name: ClassVar[str] = "disconnect"
    reason: str = ""

    @property
    def code(self) -> ReasonCode:
        return reason_code(self.reason)


class Refer(EventModel):
    """Transfer: re-join `alias` with the one-time `token` (never shown in repr)."""

    name: ClassVar[str] = "refer"
    alias: str
    token: str = Field(repr=False)
    breakout_name: str | None = None
    target: Literal["main", "breakout", "conference", "direct", "transcoded"] | None = None


class CancelRefer(EventModel):
    """A pending `refer` was cancelled. The payload's fields are kept in `model_extra`."""

    model_config = ConfigDict(extra="allow")
    name: ClassVar[str] = "cancel_refer"
    _nullable: ClassVar[bool] = True


class OnHold(EventModel):
    name: ClassVar[str] = "on_hold"
    _kind: ClassVar[Literal["object", "none", "wrap"]] = "wrap"
    _field: ClassVar[str] = "on_hold"
    on_hold: bool


class FeccMovement(ApiModel):
    model_config = ConfigDict(frozen=True)

    axis: Literal["pan", "tilt", "zoom"]
    direction: Literal["left", "right", "up", "down", "in", "out"]


class Fecc(EventModel):
    """Far-end camera control request."""

    name: ClassVar[str] = "fecc"
    action: Literal["start", "stop", "continue"]
    movement: tuple[FeccMovement, ...] = ()
    timeout: float | None = None
    target: str | None = None


class RefreshToken(_NoPayload):
    """The node asks for an immediate `refresh_token`."""

    name: ClassVar[str] = "refresh_token"


class CaptionSource(ApiModel):
    model_config = ConfigDict(frozen=True)

    participant_uuid: str
    indices: tuple[int, ...] = ()


class LiveCaptions(EventModel):
    name: ClassVar[str] = "live_captions"
    data: str
    is_final: bool = False
    src_lang: str | None = None
    tgt_lang: str | None = None
    sources: tuple[CaptionSource, ...] | None = None


class PeerDisconnect(_NoPayload):
    """Direct media: the peer left."""

    name: ClassVar[str] = "peer_disconnect"


class NewOffer(EventModel):
    """A server-initiated SDP offer; answer through `ack {sdp}`."""

    name: ClassVar[str] = "new_offer"
    sdp: str


class UpdateSdp(EventModel):
    """A renegotiation offer; handled like `new_offer`."""

    name: ClassVar[str] = "update_sdp"
    sdp: str


class NewCandidate(EventModel):
    """A remote trickle ICE candidate (`""` = end of candidates)."""

    name: ClassVar[str] = "new_candidate"
    candidate: str
    mid: str | None = None
    ufrag: str | None = None
    pwd: str | None = None


class SplashScreen(EventModel):
    """Direct media splash screen from the theme; both fields `None` = remove it."""

    name: ClassVar[str] = "splash_screen"
    _nullable: ClassVar[bool] = True
    screen_key: str | None = None
    display_duration: float | None = None


# --- breakouts ----------------------------------------------------------------------------


class BreakoutBegin(EventModel):
    name: ClassVar[str] = "breakout_begin"
    breakout_uuid: str
    participant_uuid: str = ""


class BreakoutEnd(EventModel):
    name: ClassVar[str] = "breakout_end"
    breakout_uuid: str
    participant_uuid: str = ""


class BreakoutRefer(EventModel):
    name: ClassVar[str] = "breakout_refer"
    breakout_uuid: str
    breakout_name: str = ""
    requester_uuid: str = ""


class BreakoutEvent(EventModel):
    """A breakout room's copy of a main event (`event` names it, `data` is its payload)."""

    name: ClassVar[str] = "breakout_event"
    breakout_uuid: str
    event: str
    data: Any = None

    @property
    def inner(self) -> InfinityEvent:
        """The wrapped event, typed (`MalformedEvent`/`RawEvent` rules apply)."""
        return parse_event_data(self.event, self.data)


# --- reports for what does not fit --------------------------------------------------------


class _Report(ApiModel):
    model_config = ConfigDict(frozen=True)


class RawEvent(_Report):
    """An event this module does not know. `data` is the decoded JSON payload, or the raw
    text when the payload is not JSON. It may hold secrets: do not log it."""

    name: str
    data: Any = Field(default=None, repr=False)


class MalformedEvent(_Report):
    """A known event whose payload is not JSON or does not fit its model. `error` names the
    fields and problems only (never payload values)."""

    name: str
    error: str


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

_KNOWN: tuple[type[EventModel], ...] = (
    ParticipantSyncBegin,
    ParticipantSyncEnd,
    ParticipantCreate,
    ParticipantUpdate,
    ParticipantDelete,
    ConferenceUpdate,
    MessageReceived,
    Message,
    Stage,
    Layout,
    PresentationStart,
    PresentationStop,
    PresentationEnded,
    PresentationFrame,
    CallDisconnected,
    Disconnect,
    Refer,
    CancelRefer,
    OnHold,
    Fecc,
    RefreshToken,
    LiveCaptions,
    PeerDisconnect,
    NewOffer,
    UpdateSdp,
    NewCandidate,
    SplashScreen,
    BreakoutBegin,
    BreakoutEnd,
    BreakoutEvent,
    BreakoutRefer,
)

#: SSE event name -> event class, for every event this module types.
EVENT_TYPES: dict[str, type[EventModel]] = {cls.name: cls for cls in _KNOWN}


class _Parser:
    """Per-class fast path, built once: validate the JSON text straight into the model."""

    __slots__ = ("adapter", "cls", "field", "kind")

    def __init__(self, cls: type[EventModel]) -> None:
        self.cls = cls
        self.kind = cls._kind
        self.field = cls._field
        self.adapter: TypeAdapter[Any] | None = None
        if self.kind == "wrap":
            annotation = cls.model_fields[self.field].annotation
            assert annotation is not None
            self.adapter = TypeAdapter(annotation)


_PARSERS: dict[str, _Parser] = {name: _Parser(cls) for name, cls in EVENT_TYPES.items()}


def _describe(exc: ValidationError) -> str:
    # Locations and messages only: `input` values could hold a token.
    errors = exc.errors(include_url=False, include_input=False, include_context=False)
    parts = []
    for e in errors[:5]:
        loc = ".".join(str(p) for p in e["loc"])
        parts.append(f"{loc}: {e['msg']}" if loc else str(e["msg"]))
    more = len(errors) - 5
    return "; ".join(parts) + (f" (+{more} more)" if more > 0 else "")


def _special(cls: type[EventModel], msg_id: str | None) -> EventModel:
    if cls is PresentationFrame:
        return PresentationFrame(frame_id=msg_id)
    return cls()


def parse_event(msg: SseMessage) -> InfinityEvent:
    """The typed event for one SSE message. Never raises."""
    name = msg.event
    parser = _PARSERS.get(name)
    if parser is None:
        try:
            data: object = json.loads(msg.data)
        except ValueError:
            data = msg.data
        return RawEvent(name=name, data=data)
    cls = parser.cls
    try:
        if parser.kind == "wrap":
            assert parser.adapter is not None
            value = parser.adapter.validate_json(msg.data)
            return cls(**{parser.field: value})  # type: ignore[return-value]
        if parser.kind == "none":
            return _special(cls, msg.id)  # type: ignore[return-value]
        if cls._nullable and msg.data.strip() == "null":
            return cls()  # type: ignore[return-value]
        return cls.model_validate_json(msg.data)  # type: ignore[return-value]
    except ValidationError as exc:
        return MalformedEvent(name=name, error=_describe(exc))


def parse_event_data(name: str, data: object) -> InfinityEvent:
    """The typed event for an already decoded payload (e.g. inside `breakout_event`)."""
    parser = _PARSERS.get(name)
    if parser is None:
        return RawEvent(name=name, data=data)
    cls = parser.cls
    try:
        if parser.kind == "wrap":
            assert parser.adapter is not None
            value = parser.adapter.validate_python(data)
            return cls(**{parser.field: value})  # type: ignore[return-value]
        if parser.kind == "none":
            return _special(cls, None)  # type: ignore[return-value]
        if cls._nullable and data is None:
            return cls()  # type: ignore[return-value]
        return cls.model_validate(data)  # type: ignore[return-value]
    except ValidationError as exc:
        return MalformedEvent(name=name, error=_describe(exc))
