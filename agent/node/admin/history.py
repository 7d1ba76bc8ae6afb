"""History resources: ended conference instances and the participants that left, with the
media-stream figures taken just before their calls closed (`NodeState.history`)."""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Any

from ..context import NodeContext
from ..state import EndedConference, EndedParticipant
from .models import HistoryConference, HistoryMediaStream, HistoryParticipant
from .status import (
    LOCATION_NAME,
    PROTOCOLS,
    QUALITY_LABELS,
    SERVICE_TYPES,
    classify,
    iso,
)
from .streams import stream_counters, video_size
from .tastypie import ALL, Resource

HISTORY = "/api/admin/history/v1"


def _stream_id(raw: dict[str, Any]) -> int:
    """A stable integer id (history media streams have integer ids)."""
    return zlib.crc32(str(raw.get("stream_id", "")).encode())


@dataclass
class HistoryView:
    ctx: NodeContext
    node_ip: str

    def conference(self, ended: EndedConference) -> HistoryConference:
        return HistoryConference(
            id=ended.id,
            name=ended.name,
            service_type=SERVICE_TYPES.get(ended.service_kind, "conference"),
            start_time=iso(ended.start_time),
            end_time=iso(ended.end_time),
            duration=int(ended.end_time - ended.start_time),
            instant_message_count=0,
            participant_count=len(ended.participant_ids),
            participants=[f"{HISTORY}/participant/{p}/" for p in ended.participant_ids],
            tag="",
            resource_uri=f"{HISTORY}/conference/{ended.id}/",
        )

    def conferences(self) -> list[dict[str, Any]]:
        return [
            self.conference(c).model_dump(mode="json") for c in self.ctx.state.history.conferences
        ]

    def media_stream(
        self, raw: dict[str, Any], participant_uri: str, end: float
    ) -> HistoryMediaStream:
        kind = raw.get("stream_type") or "audio"
        stream_id = _stream_id(raw)
        return HistoryMediaStream(
            id=stream_id,
            node=self.node_ip,
            participant=participant_uri,
            stream_id=str(raw.get("stream_id", "")),
            stream_type=kind,
            start_time=iso(raw.get("start_time")),
            end_time=iso(raw.get("end_time") or end),
            **stream_counters(raw, video_size(self.ctx.config.media, kind)),
            resource_uri=f"{HISTORY}/media_stream/{stream_id}/",
        )

    def participant(self, ended: EndedParticipant) -> HistoryParticipant:
        p = ended.participant
        uri = f"{HISTORY}/participant/{p.uuid}/"
        streams = [self.media_stream(raw, uri, ended.end_time) for raw in ended.media_streams]
        remote = p.uri or p.display_name
        local_alias = self.ctx.state.conferences[ended.conference_name].alias
        has_media = bool(streams) or p.dialled
        quality = classify(ended.media_streams, p.start_time, ended.end_time)
        return HistoryParticipant(
            id=p.uuid,
            bandwidth=sum(s.rx_bitrate for s in streams),
            call_direction=p.call_direction,
            call_quality=QUALITY_LABELS[quality],
            call_tag=p.call_tag or "",
            call_uuid=p.uuid,
            conference=f"{HISTORY}/conference/{ended.conference_id}/",
            conference_name=ended.conference_name,
            conversation_id=p.uuid,
            disconnect_reason=ended.disconnect_reason,
            display_name=p.display_name,
            duration=int(ended.end_time - p.start_time),
            encryption="On",
            end_time=iso(ended.end_time),
            has_media=has_media,
            is_streaming=False,
            license_count=1 if has_media else 0,
            license_type="port" if has_media else "nolicense",
            local_alias=local_alias,
            media_node=self.node_ip,
            media_streams=streams,
            parent_id="",
            protocol=PROTOCOLS.get(p.protocol, p.protocol),
            proxy_node="",
            remote_address="",
            remote_alias=remote,
            remote_port=0,
            resource_uri=uri,
            role=p.role,
            service_tag="",
            service_type=p.service_type,
            signalling_node=self.node_ip,
            start_time=iso(p.start_time),
            system_location=LOCATION_NAME,
            vendor="",
        )

    def participants(self) -> list[dict[str, Any]]:
        return [
            self.participant(p).model_dump(mode="json") for p in self.ctx.state.history.participants
        ]

    def media_streams(self, participant_id: str | None = None) -> list[dict[str, Any]] | None:
        """Streams of one ended participant (None if unknown), or of all of them."""
        out: list[dict[str, Any]] = []
        found = participant_id is None
        for ended in self.ctx.state.history.participants:
            if participant_id is not None and ended.participant.uuid != participant_id:
                continue
            found = True
            out.extend(s.model_dump(mode="json") for s in self.participant(ended).media_streams)
        return out if found else None


def _conference_id(obj: dict[str, Any]) -> str:
    """`conference=<id>` filters on the id inside the conference URI."""
    return str(obj.get("conference", "")).rstrip("/").rsplit("/", 1)[-1]


_STREAM_FIELDS = frozenset(HistoryMediaStream.model_fields)

CONFERENCE = Resource(
    uri=f"{HISTORY}/conference/",
    fields=frozenset(HistoryConference.model_fields),
    filtering=dict.fromkeys(
        (
            "id",
            "name",
            "service_type",
            "start_time",
            "end_time",
            "duration",
            "participant_count",
            "tag",
        ),
        ALL,
    ),
    ordering=frozenset(
        {"name", "service_type", "start_time", "end_time", "duration", "participant_count"}
    ),
)
PARTICIPANT = Resource(
    uri=f"{HISTORY}/participant/",
    fields=frozenset(HistoryParticipant.model_fields),
    filtering={
        **dict.fromkeys(
            (
                "id",
                "call_direction",
                "call_quality",
                "call_tag",
                "call_uuid",
                "conference_name",
                "conversation_id",
                "disconnect_reason",
                "display_name",
                "duration",
                "end_time",
                "has_media",
                "local_alias",
                "protocol",
                "remote_alias",
                "role",
                "service_type",
                "start_time",
                "system_location",
            ),
            ALL,
        ),
        "conference": frozenset({"exact", "in"}),
        **{
            f"media_streams__{name}": ALL
            for name in (
                "stream_type",
                "rx_codec",
                "tx_codec",
                "rx_packet_loss",
                "tx_packet_loss",
                "rx_packets_lost",
                "tx_packets_lost",
                "rx_bitrate",
                "tx_bitrate",
            )
        },
    },
    ordering=frozenset(
        {"conference_name", "display_name", "duration", "end_time", "start_time", "role"}
    ),
    lookups={"conference": _conference_id},
)
MEDIA_STREAM = Resource(
    uri=f"{HISTORY}/media_stream/",
    fields=_STREAM_FIELDS,
    filtering=dict.fromkeys(
        ("stream_type", "rx_codec", "tx_codec", "rx_packet_loss", "tx_packet_loss", "participant"),
        ALL,
    ),
    ordering=frozenset({"id", "start_time", "end_time", "stream_type"}),
)
