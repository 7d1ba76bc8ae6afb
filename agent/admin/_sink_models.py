"""Event-sink events as a Conferencing Node POSTs them: an envelope (`node`, `seq`,
`version`, `time`, `event`, `data`), typed by event name. Version 1 and 2 share the
envelope; `eventsink_bulk` carries a list of envelopes in `data`. Unknown events are kept
(`UnknownSinkEvent`), never dropped."""

from __future__ import annotations

from typing import Any

from pydantic import Field, ValidationError

from ._model_base import AdminModel, quality_level
from ._times import AdminTime, BlankFloat, BlankInt

BULK = "eventsink_bulk"
LIFECYCLE = ("eventsink_started", "eventsink_updated", "eventsink_stopped", "eventsink_ended")


class ConferenceEventData(AdminModel):
    """The `data` of conference_started/_updated/_ended (one per node hosting it)."""

    name: str = ""
    service_type: str = ""
    start_time: AdminTime = None
    end_time: AdminTime = None
    is_locked: bool = False
    is_started: bool = False
    guests_muted: bool = False
    tag: str = ""


class SinkMediaStream(AdminModel):
    """One stream's final figures (`media_streams` of v1 disconnects and v2 destroys)."""

    stream_id: str = ""
    stream_type: str = ""
    node: str = ""
    start_time: AdminTime = None
    end_time: AdminTime = None
    rx_bitrate: BlankInt = None
    rx_codec: str = ""
    rx_packets_received: BlankInt = None
    rx_packets_lost: BlankInt = None
    rx_packet_loss: BlankFloat = None
    tx_bitrate: BlankInt = None
    tx_codec: str = ""
    tx_packets_sent: BlankInt = None
    tx_packets_lost: BlankInt = None
    tx_packet_loss: BlankFloat = None


class ParticipantEventData(AdminModel):
    """The `data` of participant_connected/_updated/_disconnected."""

    uuid: str
    call_id: str = ""
    conversation_id: str = ""
    conference: str = ""
    display_name: str = ""
    role: str = ""
    protocol: str = ""
    service_type: str = ""
    call_direction: str = ""
    call_tag: str = ""
    connect_time: AdminTime = None
    destination_alias: str = ""
    source_alias: str = ""
    has_media: bool = False
    is_muted: bool = False
    is_presenting: bool = False
    media_node: str = ""
    signalling_node: str = ""
    system_location: str = ""
    rx_bandwidth: BlankInt = None
    tx_bandwidth: BlankInt = None
    # participant_disconnected only
    disconnect_reason: str = ""
    duration: BlankFloat = None
    end_time: AdminTime = None
    media_streams: list[SinkMediaStream] = Field(default_factory=list)  # version 1


class MediaStreamWindowData(AdminModel):
    """The `data` of participant_media_stream_window: quality before/now, per-stream
    loss counts since the previous window, recent quality samples."""

    uuid: str
    call_quality_was: str = "0_unknown"
    call_quality_now: str = "0_unknown"
    packet_loss_history: list[dict[str, Any]] = Field(default_factory=list)
    recent_quality: list[dict[str, Any]] = Field(default_factory=list)

    @property
    def quality_now(self) -> int | None:
        return quality_level(self.call_quality_now)


class MediaStreamsDestroyedData(AdminModel):
    """The `data` of participant_media_streams_destroyed."""

    uuid: str
    media_streams: list[SinkMediaStream] = Field(default_factory=list)


class SinkEvent(AdminModel):
    """One event: the envelope; subclasses type `data`."""

    node: str
    seq: int
    version: int = 1
    time: AdminTime = None
    event: str
    data: Any = None


class ConferenceEvent(SinkEvent):
    """conference_started / conference_updated / conference_ended."""

    data: ConferenceEventData


class ParticipantEvent(SinkEvent):
    """participant_connected / participant_updated / participant_disconnected."""

    data: ParticipantEventData


class MediaStreamWindowEvent(SinkEvent):
    """participant_media_stream_window (version 2)."""

    data: MediaStreamWindowData


class MediaStreamsDestroyedEvent(SinkEvent):
    """participant_media_streams_destroyed (version 2)."""

    data: MediaStreamsDestroyedData


class SinkLifecycleEvent(SinkEvent):
    """eventsink_started / _updated / _stopped (v1) / _ended (v2)."""


class UnknownSinkEvent(SinkEvent):
    """An event this version does not know: kept whole."""


_KINDS: dict[str, type[SinkEvent]] = {
    **dict.fromkeys(
        ("conference_started", "conference_updated", "conference_ended"), ConferenceEvent
    ),
    **dict.fromkeys(
        ("participant_connected", "participant_updated", "participant_disconnected"),
        ParticipantEvent,
    ),
    "participant_media_stream_window": MediaStreamWindowEvent,
    "participant_media_streams_destroyed": MediaStreamsDestroyedEvent,
    **dict.fromkeys(LIFECYCLE, SinkLifecycleEvent),
}


class SinkEventError(ValueError):
    """An envelope that is not an event; the message names what is wrong."""


def parse_event(raw: Any) -> SinkEvent:
    """One envelope as its typed event; `SinkEventError` says what is wrong."""
    if not isinstance(raw, dict):
        raise SinkEventError(f"an event must be a JSON object, not {type(raw).__name__}")
    name = raw.get("event")
    if not isinstance(name, str) or not name:
        raise SinkEventError("event: missing")
    kind = _KINDS.get(name, UnknownSinkEvent)
    try:
        return kind.model_validate(raw)
    except ValidationError as exc:
        where = "; ".join(
            ".".join(str(p) for p in e["loc"]) + f": {e['msg']}" for e in exc.errors()[:3]
        )
        raise SinkEventError(f"{name}: {where}") from None


def envelopes(body: Any) -> list[Any]:
    """The envelopes of one POST: a single event, an `eventsink_bulk`, or a JSON list."""
    if isinstance(body, list):
        return body
    if isinstance(body, dict) and body.get("event") == BULK:
        data = body.get("data")
        if not isinstance(data, list):
            raise SinkEventError("eventsink_bulk: data must be a list of events")
        return data
    return [body]
