"""History resources (`/api/admin/history/v1/...`): ended conferences and participants."""

from __future__ import annotations

from pydantic import Field

from ._model_base import AdminModel, quality_level
from ._times import AdminTime, BlankFloat, BlankInt


class HistoryMediaStream(AdminModel):
    """The final figures of one media stream of an ended participant."""

    id: int | str
    stream_id: str = ""
    stream_type: str = ""
    node: str = ""
    participant: str = ""
    start_time: AdminTime = None
    end_time: AdminTime = None
    rx_bitrate: BlankInt = None
    rx_codec: str = ""
    rx_packet_loss: BlankFloat = None
    rx_packets_lost: BlankInt = None
    rx_packets_received: BlankInt = None
    rx_resolution: str = ""
    tx_bitrate: BlankInt = None
    tx_codec: str = ""
    tx_packet_loss: BlankFloat = None
    tx_packets_lost: BlankInt = None
    tx_packets_sent: BlankInt = None
    tx_resolution: str = ""


class HistoryConference(AdminModel):
    """An ended conference instance (`participants` are resource URIs)."""

    id: str
    name: str = ""
    service_type: str = ""
    start_time: AdminTime = None
    end_time: AdminTime = None
    duration: BlankInt = None
    instant_message_count: BlankInt = None
    participant_count: BlankInt = None
    participants: list[str] = Field(default_factory=list)
    tag: str = ""
    resource_uri: str = ""


class HistoryParticipant(AdminModel):
    """A participant that left: its media streams, call quality and disconnect reason."""

    id: str
    display_name: str = ""
    conference: str = ""
    conference_name: str = ""
    call_uuid: str = ""
    conversation_id: str = ""
    call_direction: str = ""
    call_quality: str = "0_unknown"
    call_tag: str = ""
    disconnect_reason: str = ""
    start_time: AdminTime = None
    end_time: AdminTime = None
    duration: BlankInt = None
    local_alias: str = ""
    remote_alias: str = ""
    remote_address: str = ""
    remote_port: BlankInt = None
    protocol: str = ""
    role: str = ""
    service_type: str = ""
    system_location: str = ""
    media_node: str = ""
    signalling_node: str = ""
    proxy_node: str = ""
    bandwidth: BlankInt = None
    encryption: str = ""
    has_media: bool = False
    is_streaming: bool = False
    license_count: BlankInt = None
    license_type: str = ""
    vendor: str = ""
    parent_id: str = ""
    media_streams: list[HistoryMediaStream] = Field(default_factory=list)
    historic_call_quality: list[int] | None = None
    bucketed_call_quality: list[int] | None = None
    resource_uri: str = ""

    @property
    def quality(self) -> int | None:
        """`call_quality` as 0 Unknown … 4 Terrible."""
        return quality_level(self.call_quality)

    @property
    def conference_id(self) -> str:
        """The id inside the `conference` URI."""
        return self.conference.rstrip("/").rsplit("/", 1)[-1]


__all__ = ["HistoryConference", "HistoryMediaStream", "HistoryParticipant"]
