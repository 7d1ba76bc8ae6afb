"""Status resources: live conferences, participants, their media streams, the node itself and
its system location, built from the same state the client API serves.

Identity: a status participant's `id` (and `call_uuid`) is the client-API participant uuid;
a status conference's `id` is the conference *instance* (`ConferenceState.instance_id`: new
when the first participant joins an empty conference).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from agent.media.quality import QualityRule, window_quality

from ..context import NodeContext
from ..state import ConferenceState, ParticipantState
from .models import (
    AlarmStatus,
    CallQuality,
    ConferenceStatus,
    LoadStatistics,
    MediaStreamStatus,
    ParticipantStatus,
    ParticipantStatusDetail,
    SystemLocationStatus,
    WorkerVmStatus,
)
from .streams import as_float, as_int, participant_streams, stream_counters, video_size
from .tastypie import ALL, Resource

STATUS = "/api/admin/status/v1"
LOCATION_ID = 1
LOCATION_NAME = "Local"
WORKER_ID = 1
WORKER_NAME = "local-node"
MAX_HD_CALLS = 20
TOKENS_PER_HD_CALL = 18  # media tokens of one HD call (capacity = MAX_HD_CALLS of them)
QUALITY_WINDOW = 20.0  # seconds: quality is Unknown for calls younger than one window

PROTOCOLS = {
    "api": "API",
    "webrtc": "WebRTC",
    "sip": "SIP",
    "h323": "H323",
    "rtmp": "RTMP",
    "mssip": "MSSIP",
    "": "",
}
SERVICE_TYPES = {
    "conference": "conference",
    "lecture": "lecture",
    "reception": "ivr",
    "test_call": "test_call",
}
QUALITY_LABELS: tuple[CallQuality, ...] = ("0_unknown", "1_good", "2_ok", "3_bad", "4_terrible")


def iso(ts: float | None) -> str:
    """Naive UTC ISO time as the management API writes it; '' for "not (yet)"."""
    if ts is None:
        return ""
    return datetime.fromtimestamp(ts, UTC).replace(tzinfo=None).isoformat()


def classify(streams: list[dict[str, Any]], started: float, now: float) -> int:
    """Pexip's v26 rule on the figures so far: loss < 1 % Good, < 3 % OK, < 10 % Bad, else
    Terrible, one level down when jitter > 40 ms; the worst stream counts; Unknown (0)
    without streams or before one 20 s window has passed."""
    if not streams or now - started < QUALITY_WINDOW:
        return 0
    worst = 1
    for stream in streams:
        loss = max(stream.get("rx_packet_loss") or 0.0, stream.get("tx_packet_loss") or 0.0)
        jitter = max(stream.get("rx_jitter") or 0.0, stream.get("tx_jitter") or 0.0)
        level = window_quality(min(loss, 100.0), jitter, QualityRule.PEXIP_V26)
        worst = max(worst, int(level))
    return worst


@dataclass
class StatusView:
    """One request's view of the node (its address is the socket the request came in on)."""

    ctx: NodeContext
    node_ip: str

    # -- conferences ---------------------------------------------------------------------

    def active(self) -> list[ConferenceState]:
        return [c for c in self.ctx.state.conferences.values() if c.participants]

    def find_conference(self, conference_id: str) -> ConferenceState | None:
        for conference in self.active():
            if conference.instance_id == conference_id:
                return conference
        return None

    def conference(self, conference: ConferenceState) -> ConferenceStatus:
        return ConferenceStatus(
            id=conference.instance_id,
            name=conference.name,
            service_type=SERVICE_TYPES.get(conference.service.kind, "conference"),
            is_locked=conference.locked,
            is_started=conference.started,
            guests_muted=conference.guests_muted,
            start_time=iso(conference.instance_start),
            tag="",
            resource_uri=f"{STATUS}/conference/{conference.instance_id}/",
        )

    def conferences(self) -> list[dict[str, Any]]:
        return [self.conference(c).model_dump(mode="json") for c in self.active()]

    # -- participants --------------------------------------------------------------------

    def find_participant(
        self, participant_id: str
    ) -> tuple[ConferenceState, ParticipantState] | None:
        conference = self.ctx.state.find_participant(participant_id)
        if conference is None:
            return None
        return conference, conference.participants[participant_id]

    async def participant(
        self, conference: ConferenceState, participant: ParticipantState, *, detail: bool = False
    ) -> ParticipantStatus:
        streams = await participant_streams(participant)
        quality = classify(streams, participant.start_time, time.time())
        outbound = participant.call_direction == "out"
        remote = participant.uri or participant.display_name
        has_media = bool(participant.calls) or participant.dialled
        fields: dict[str, Any] = {
            "id": participant.uuid,
            "bandwidth": sum(as_int(s.get("rx_bitrate")) for s in streams),
            "call_direction": participant.call_direction,
            "call_quality": QUALITY_LABELS[quality],
            "call_tag": participant.call_tag or "",
            "call_uuid": participant.uuid,
            "conference": conference.name,
            "connect_time": iso(participant.start_time),
            "conversation_id": participant.uuid,
            "destination_alias": participant.uri if outbound else conference.alias,
            "display_name": participant.display_name,
            "encryption": "On",
            "has_media": has_media,
            "is_disconnect_supported": True,
            "is_mute_supported": True,
            "is_muted": participant.is_muted,
            "is_on_hold": False,
            "is_presentation_supported": participant.protocol in ("webrtc", "api"),
            "is_presenting": participant.is_presenting,
            "is_streaming": False,
            "is_transfer_supported": True,
            "license_count": 1 if has_media else 0,
            "license_type": "port" if has_media else "nolicense",
            "media_node": self.node_ip,
            "parent_id": "",
            "participant_alias": remote,
            "protocol": PROTOCOLS.get(participant.protocol, participant.protocol),
            "proxy_node": "",
            "remote_address": "",
            "remote_port": 0,
            "resource_uri": f"{STATUS}/participant/{participant.uuid}/",
            "role": participant.role,
            "service_tag": "",
            "service_type": participant.service_type,
            "signalling_node": self.node_ip,
            "source_alias": conference.alias if outbound else remote,
            "system_location": LOCATION_NAME,
            "vendor": "",
        }
        if not detail:
            return ParticipantStatus(**fields)
        history = [quality] if quality else []
        return ParticipantStatusDetail(
            **fields,
            historic_call_quality=history,
            bucketed_call_quality=[history.count(level) for level in range(5)],
        )

    async def participants(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for conference in self.active():
            for participant in list(conference.participants.values()):
                status = await self.participant(conference, participant)
                out.append(status.model_dump(mode="json"))
        return out

    async def participant_detail(self, participant_id: str) -> dict[str, Any] | None:
        found = self.find_participant(participant_id)
        if found is None:
            return None
        status = await self.participant(*found, detail=True)
        return status.model_dump(mode="json")

    # -- media streams -------------------------------------------------------------------

    def media_stream(self, raw: dict[str, Any]) -> MediaStreamStatus:
        kind = raw.get("stream_type") or "audio"
        return MediaStreamStatus(
            id=str(raw.get("stream_id", "")),
            node=self.node_ip,
            type=kind,
            start_time=iso(raw.get("start_time")),
            end_time=iso(raw.get("end_time")),
            rx_jitter=as_float(raw.get("rx_jitter")),
            tx_jitter=as_float(raw.get("tx_jitter")),
            **stream_counters(raw, video_size(self.ctx.config.media, kind)),
        )

    async def media_streams(self, participant_id: str) -> list[dict[str, Any]] | None:
        found = self.find_participant(participant_id)
        if found is None:
            return None
        streams = await participant_streams(found[1])
        return [self.media_stream(raw).model_dump(mode="json") for raw in streams]

    # -- platform ------------------------------------------------------------------------

    def load(self) -> dict[str, Any]:
        """Capacity and load from what the node runs now: every call with a live peer is
        one HD call's worth of media tokens."""
        conferences = [c for c in self.ctx.state.conferences.values() if c.participants]
        participants = [p for c in conferences for p in c.participants.values()]
        calls = sum(1 for p in participants for call in p.calls.values() if call.peer is not None)
        return {
            "media_load": round(min(100.0, calls * 100.0 / MAX_HD_CALLS), 1),
            "max_audio_calls": MAX_HD_CALLS * 10,
            "max_sd_calls": MAX_HD_CALLS * 2,
            "max_hd_calls": MAX_HD_CALLS,
            "max_full_hd_calls": MAX_HD_CALLS // 2,
            "max_media_tokens": MAX_HD_CALLS * TOKENS_PER_HD_CALL,
            "media_tokens_used": calls * TOKENS_PER_HD_CALL,
            "participant_count": len(participants),
            "conference_count": len(conferences),
            "media_call_count": calls,
        }

    def worker_vms(self) -> list[dict[str, Any]]:
        load = self.load()
        worker = WorkerVmStatus(
            id=WORKER_ID,
            name=WORKER_NAME,
            node_type="CONFERENCING",
            address=self.node_ip,
            system_location=LOCATION_NAME,
            version=self.ctx.config.pseudo_version,
            boot_time=iso(self.ctx.state.started_at),
            last_reported=iso(time.time()),
            maintenance_mode=False,
            maintenance_mode_reason="",
            media_load=round(load["media_load"]),
            max_audio_calls=load["max_audio_calls"],
            max_sd_calls=load["max_sd_calls"],
            max_hd_calls=load["max_hd_calls"],
            max_full_hd_calls=load["max_full_hd_calls"],
            max_media_tokens=load["max_media_tokens"],
            media_tokens_used=load["media_tokens_used"],
            sync_status="SUCCESS",
            upgrade_status="IDLE",
            resource_uri=f"{STATUS}/worker_vm/{WORKER_ID}/",
        )
        return [worker.model_dump(mode="json")]

    def system_locations(self) -> list[dict[str, Any]]:
        load = {k: v for k, v in self.load().items() if k in SystemLocationStatus.model_fields}
        location = SystemLocationStatus(
            id=LOCATION_ID,
            name=LOCATION_NAME,
            resource_uri=f"{STATUS}/system_location/{LOCATION_ID}/",
            **load,
        )
        return [location.model_dump(mode="json")]

    def statistics(self, kind: str, object_id: str) -> dict[str, Any] | None:
        """`worker_vm/<id>/statistics/` or `system_location/<id>/statistics/` (one node,
        one location: both are the same figures); None for an unknown id."""
        known = str(WORKER_ID) if kind == "worker_vm" else str(LOCATION_ID)
        if object_id != known:
            return None
        stats = LoadStatistics(
            **self.load(), resource_uri=f"{STATUS}/{kind}/{object_id}/statistics/"
        )
        return stats.model_dump(mode="json")

    def alarms(self, records: list[Any]) -> list[dict[str, Any]]:
        return [
            AlarmStatus(
                id=a.id,
                name=a.name,
                level=a.level,
                details=a.details,
                identifier=a.identifier,
                instance=a.instance,
                node=self.node_ip,
                acknowledged=a.acknowledged,
                time_raised=iso(a.time_raised),
                resource_uri=f"{STATUS}/alarm/{a.id}/",
            ).model_dump(mode="json")
            for a in records
        ]


def _fields(model: type[Any]) -> frozenset[str]:
    return frozenset(model.model_fields)


def _all(*names: str) -> dict[str, frozenset[str]]:
    return dict.fromkeys(names, ALL)


CONFERENCE = Resource(
    uri=f"{STATUS}/conference/",
    fields=_fields(ConferenceStatus),
    filtering=_all(
        "id", "name", "service_type", "is_locked", "is_started", "guests_muted", "start_time", "tag"
    ),
    ordering=frozenset({"name", "service_type", "start_time", "is_locked", "is_started"}),
)
PARTICIPANT = Resource(
    uri=f"{STATUS}/participant/",
    fields=_fields(ParticipantStatusDetail),
    filtering=_all(
        "id",
        "call_direction",
        "call_quality",
        "call_tag",
        "call_uuid",
        "conference",
        "connect_time",
        "conversation_id",
        "destination_alias",
        "display_name",
        "has_media",
        "is_muted",
        "is_presenting",
        "media_node",
        "participant_alias",
        "protocol",
        "role",
        "service_type",
        "signalling_node",
        "source_alias",
        "system_location",
    ),
    ordering=frozenset(
        {
            "call_quality",
            "conference",
            "connect_time",
            "display_name",
            "protocol",
            "role",
            "service_type",
        }
    ),
)
MEDIA_STREAM = Resource(
    uri=f"{STATUS}/participant/{{id}}/media_stream/",
    fields=_fields(MediaStreamStatus),
    filtering=_all("type", "rx_codec", "tx_codec", "rx_packet_loss", "tx_packet_loss"),
    ordering=frozenset({"id", "type", "start_time"}),
)
WORKER_VM = Resource(
    uri=f"{STATUS}/worker_vm/",
    fields=_fields(WorkerVmStatus),
    filtering=_all("name", "address", "node_type", "system_location", "maintenance_mode"),
    ordering=frozenset({"name", "media_load"}),
)
SYSTEM_LOCATION = Resource(
    uri=f"{STATUS}/system_location/",
    fields=_fields(SystemLocationStatus),
    filtering=_all("name", "media_load"),
    ordering=frozenset({"name", "media_load"}),
)
ALARM = Resource(
    uri=f"{STATUS}/alarm/",
    fields=_fields(AlarmStatus),
    filtering=_all("name", "level", "instance", "node", "acknowledged", "time_raised"),
    ordering=frozenset({"time_raised", "level", "name"}),
)
