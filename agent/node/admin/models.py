"""Wire shapes of the management API (pydantic at the boundary).

Field names and value forms follow Pexip's v26 management API document: times are naive UTC
ISO strings (`''` for "not ended"), `call_quality` is `N_label`, booleans are JSON booleans.
Resources are dumped to plain dicts before Tastypie filtering/ordering (`tastypie.py`).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

CallQuality = Literal["0_unknown", "1_good", "2_ok", "3_bad", "4_terrible"]


class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ListMeta(_Out):
    limit: int
    next: str | None
    offset: int
    previous: str | None
    total_count: int


class ListResponse(_Out):
    meta: ListMeta
    objects: list[dict[str, Any]]


# -- status --------------------------------------------------------------------------------


class ConferenceStatus(_Out):
    id: str
    name: str
    service_type: str
    is_locked: bool
    is_started: bool
    guests_muted: bool
    start_time: str
    tag: str = ""
    resource_uri: str


class ParticipantStatus(_Out):
    id: str
    bandwidth: int
    call_direction: Literal["in", "out"]
    call_quality: CallQuality
    call_tag: str
    call_uuid: str
    conference: str
    connect_time: str
    conversation_id: str
    destination_alias: str
    display_name: str
    encryption: str
    has_media: bool
    is_disconnect_supported: bool
    is_mute_supported: bool
    is_muted: bool
    is_on_hold: bool
    is_presentation_supported: bool
    is_presenting: bool
    is_streaming: bool
    is_transfer_supported: bool
    license_count: int
    license_type: str
    media_node: str
    parent_id: str
    participant_alias: str
    protocol: str
    proxy_node: str
    remote_address: str
    remote_port: int
    resource_uri: str
    role: Literal["chair", "guest"]
    service_tag: str
    service_type: str
    signalling_node: str
    source_alias: str
    system_location: str
    vendor: str


class ParticipantStatusDetail(ParticipantStatus):
    """The single-object GET adds the call-quality history (not in lists, as on a real node)."""

    historic_call_quality: list[int]
    bucketed_call_quality: list[int]


class MediaStreamStatus(_Out):
    id: str
    node: str
    type: Literal["audio", "video", "presentation"]
    start_time: str
    end_time: str
    rx_bitrate: int
    rx_codec: str
    rx_jitter: float
    rx_packet_loss: float
    rx_packets_lost: int
    rx_packets_received: int
    rx_resolution: str
    tx_bitrate: int
    tx_codec: str
    tx_jitter: float
    tx_packet_loss: float
    tx_packets_lost: int
    tx_packets_sent: int
    tx_resolution: str


class WorkerVmStatus(_Out):
    id: int
    name: str
    node_type: Literal["CONFERENCING"]
    address: str
    system_location: str
    version: str
    boot_time: str
    last_reported: str
    maintenance_mode: bool
    maintenance_mode_reason: str
    media_load: int
    max_audio_calls: int
    max_sd_calls: int
    max_hd_calls: int
    max_full_hd_calls: int
    max_media_tokens: int
    media_tokens_used: int
    sync_status: str
    upgrade_status: str
    resource_uri: str


class _Load(_Out):
    """Capacity and load (system location status and both statistics resources)."""

    media_load: float
    max_audio_calls: int
    max_sd_calls: int
    max_hd_calls: int
    max_full_hd_calls: int
    max_media_tokens: int
    media_tokens_used: int


class SystemLocationStatus(_Load):
    id: int
    name: str
    resource_uri: str


class LoadStatistics(_Load):
    """`worker_vm/<id>/statistics/`, `system_location/<id>/statistics/`: the load now,
    with the counts it is derived from."""

    participant_count: int
    conference_count: int
    media_call_count: int
    resource_uri: str


class AlarmStatus(_Out):
    id: int
    name: str
    level: str
    details: str
    identifier: int
    instance: str
    node: str
    acknowledged: bool
    time_raised: str
    resource_uri: str


# -- history -------------------------------------------------------------------------------


class HistoryConference(_Out):
    id: str
    name: str
    service_type: str
    start_time: str
    end_time: str
    duration: int
    instant_message_count: int
    participant_count: int
    participants: list[str]
    tag: str
    resource_uri: str


class HistoryMediaStream(_Out):
    id: int
    node: str
    participant: str
    stream_id: str
    stream_type: Literal["audio", "video", "presentation"]
    start_time: str
    end_time: str
    rx_bitrate: int
    rx_codec: str
    rx_packet_loss: float
    rx_packets_lost: int
    rx_packets_received: int
    rx_resolution: str
    tx_bitrate: int
    tx_codec: str
    tx_packet_loss: float
    tx_packets_lost: int
    tx_packets_sent: int
    tx_resolution: str
    resource_uri: str


class HistoryParticipant(_Out):
    id: str
    bandwidth: int
    call_direction: Literal["in", "out"]
    call_quality: CallQuality
    call_tag: str
    call_uuid: str
    conference: str
    conference_name: str
    conversation_id: str
    disconnect_reason: str
    display_name: str
    duration: int
    encryption: str
    end_time: str
    has_media: bool
    is_streaming: bool
    license_count: int
    license_type: str
    local_alias: str
    media_node: str
    media_streams: list[HistoryMediaStream]
    parent_id: str
    protocol: str
    proxy_node: str
    remote_address: str
    remote_alias: str
    remote_port: int
    resource_uri: str
    role: Literal["chair", "guest"]
    service_tag: str
    service_type: str
    signalling_node: str
    start_time: str
    system_location: str
    vendor: str


# -- command -------------------------------------------------------------------------------


class _In(BaseModel):
    # Lax on purpose: the documented examples post form-encoded bodies (all strings), and
    # newer fields must not be refused.
    model_config = ConfigDict(extra="ignore")


class ParticipantCommand(_In):
    participant_id: str


class ConferenceCommand(_In):
    conference_id: str


class DialCommand(_In):
    conference_alias: str
    destination: str
    protocol: Literal["sip", "h323", "mssip", "rtmp", "gms", "teams", "auto"] = "sip"
    node: str | None = None
    system_location: str | None = None
    role: Literal["chair", "guest"] = "guest"
    remote_display_name: str | None = None
    call_type: Literal["video", "video-only", "audio"] | None = None
    dtmf_sequence: str | None = None
    local_alias: str | None = None
    local_display_name: str | None = None
    presentation_url: str | None = None
    routing: Literal["manual", "routing_rule"] | None = None
    streaming: bool | None = None
    keep_conference_alive: str | None = None


class TransferCommand(ParticipantCommand):
    conference_alias: str
    role: Literal["chair", "guest", "host"] = "guest"


class RoleCommand(ParticipantCommand):
    role: Literal["chair", "guest"]


class TransformLayoutCommand(ConferenceCommand):
    layout: str | None = None
    host_layout: str | None = None
    guest_layout: str | None = None


class CloudNodeCommand(_In):
    instance_id: str


class CommandResult(_Out):
    status: Literal["success", "error"]
    message: str | None = None
    data: Any = None
