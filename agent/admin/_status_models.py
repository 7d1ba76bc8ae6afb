"""Status resources (`/api/admin/status/v1/...`) as the v26 document shows them."""

from __future__ import annotations

from ._model_base import AdminModel, quality_level
from ._times import AdminTime, BlankFloat, BlankInt


class ConferenceStatus(AdminModel):
    """A conference instance in progress."""

    id: str
    name: str = ""
    service_type: str = ""
    is_locked: bool = False
    is_started: bool = False
    guests_muted: bool = False
    start_time: AdminTime = None
    tag: str = ""
    resource_uri: str = ""


class ParticipantStatus(AdminModel):
    """A participant in a conference in progress. `historic_call_quality` and
    `bucketed_call_quality` come only with the single-object GET."""

    id: str
    display_name: str = ""
    conference: str = ""
    call_uuid: str = ""
    conversation_id: str = ""
    call_direction: str = ""
    call_quality: str = "0_unknown"
    call_tag: str = ""
    connect_time: AdminTime = None
    destination_alias: str = ""
    source_alias: str = ""
    participant_alias: str = ""
    protocol: str = ""
    role: str = ""
    service_type: str = ""
    system_location: str = ""
    media_node: str = ""
    signalling_node: str = ""
    proxy_node: str = ""
    remote_address: str = ""
    remote_port: BlankInt = None
    bandwidth: BlankInt = None
    encryption: str = ""
    has_media: bool = False
    is_muted: bool = False
    is_on_hold: bool = False
    is_presenting: bool = False
    is_streaming: bool = False
    license_count: BlankInt = None
    license_type: str = ""
    vendor: str = ""
    parent_id: str = ""
    resource_uri: str = ""
    historic_call_quality: list[int] | None = None
    bucketed_call_quality: list[int] | None = None

    @property
    def quality(self) -> int | None:
        """`call_quality` as 0 Unknown … 4 Terrible."""
        return quality_level(self.call_quality)


class MediaStreamStatus(AdminModel):
    """One media stream of a participant in progress (jitter in ms, loss in %)."""

    id: str
    type: str = ""
    node: str = ""
    start_time: AdminTime = None
    end_time: AdminTime = None
    rx_bitrate: BlankInt = None
    rx_codec: str = ""
    rx_jitter: BlankFloat = None
    rx_packet_loss: BlankFloat = None
    rx_packets_lost: BlankInt = None
    rx_packets_received: BlankInt = None
    rx_resolution: str = ""
    tx_bitrate: BlankInt = None
    tx_codec: str = ""
    tx_jitter: BlankFloat = None
    tx_packet_loss: BlankFloat = None
    tx_packets_lost: BlankInt = None
    tx_packets_sent: BlankInt = None
    tx_resolution: str = ""


class _Capacity(AdminModel):
    """Load and capacity figures shared by nodes, locations and their statistics."""

    media_load: BlankFloat = None
    max_audio_calls: BlankInt = None
    max_sd_calls: BlankInt = None
    max_hd_calls: BlankInt = None
    max_full_hd_calls: BlankInt = None
    max_media_tokens: BlankInt = None
    media_tokens_used: BlankInt = None


class WorkerVmStatus(_Capacity):
    """A Conferencing Node."""

    id: int
    name: str = ""
    node_type: str = ""
    address: str = ""
    system_location: str = ""
    version: str = ""
    boot_time: AdminTime = None
    last_reported: AdminTime = None
    maintenance_mode: bool = False
    maintenance_mode_reason: str = ""
    sync_status: str = ""
    upgrade_status: str = ""
    resource_uri: str = ""


class SystemLocationStatus(_Capacity):
    """A system location (capacity summed over its nodes)."""

    id: int
    name: str = ""
    resource_uri: str = ""


class LoadStatistics(_Capacity):
    """`worker_vm/<id>/statistics/` and `system_location/<id>/statistics/`: an estimate of
    the current media load."""

    participant_count: BlankInt = None
    conference_count: BlankInt = None
    media_call_count: BlankInt = None


class Alarm(AdminModel):
    """A raised alarm."""

    id: int
    name: str = ""
    level: str = ""
    details: str = ""
    identifier: BlankInt = None
    instance: str = ""
    node: str = ""
    acknowledged: bool = False
    time_raised: AdminTime = None
    resource_uri: str = ""


__all__ = [
    "Alarm",
    "ConferenceStatus",
    "LoadStatistics",
    "MediaStreamStatus",
    "ParticipantStatus",
    "SystemLocationStatus",
    "WorkerVmStatus",
]
