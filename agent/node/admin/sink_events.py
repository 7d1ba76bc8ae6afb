"""The `data` of the event-sink events the node emits, built from its state in the shapes
Pexip's event-sink documentation gives (participant and conference lifecycle, media
stream windows). Times are float Unix seconds, as event sinks send them."""

from __future__ import annotations

from typing import Any

from agent.media.quality import QualityRule, window_quality

from ..state import ConferenceState, ParticipantState
from .configuration import SERVICE_TYPES
from .status import LOCATION_NAME, PROTOCOLS, QUALITY_LABELS
from .streams import as_int


def conference_data(
    conference: ConferenceState, *, end_time: float | None = None
) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": conference.name,
        "service_type": SERVICE_TYPES.get(conference.service.kind, "conference"),
        "start_time": conference.instance_start,
        "is_locked": conference.locked,
        "is_started": conference.started,
        "guests_muted": conference.guests_muted,
        "tag": "",
    }
    if end_time is not None:
        data["end_time"] = end_time
    return data


def participant_data(
    conference: ConferenceState,
    participant: ParticipantState,
    node: str,
    bandwidth: tuple[int, int] = (0, 0),
) -> dict[str, Any]:
    outbound = participant.call_direction == "out"
    remote = participant.uri or participant.display_name
    return {
        "uuid": participant.uuid,
        "call_id": participant.uuid,
        "conversation_id": participant.uuid,
        "related_uuids": [],
        "call_direction": participant.call_direction,
        "call_tag": participant.call_tag or "",
        "conference": conference.name,
        "connect_time": participant.start_time,
        "destination_alias": participant.uri if outbound else conference.alias,
        "source_alias": conference.alias if outbound else remote,
        "display_name": participant.display_name,
        "encryption": "On",
        "has_media": bool(participant.calls) or participant.dialled,
        "is_client_muted": participant.is_client_muted,
        "is_muted": participant.is_muted,
        "is_presenting": participant.is_presenting,
        "is_streaming": False,
        "media_node": node,
        "signalling_node": node,
        "proxy_node": "",
        "protocol": PROTOCOLS.get(participant.protocol, participant.protocol),
        "remote_address": "",
        "role": participant.role,
        "rx_bandwidth": bandwidth[0],
        "tx_bandwidth": bandwidth[1],
        "service_tag": "",
        "service_type": participant.service_type,
        "system_location": LOCATION_NAME,
        "vendor": "",
    }


def final_streams(streams: list[dict[str, Any]], node: str, end: float) -> list[dict[str, Any]]:
    """`media_streams` of `participant_media_streams_destroyed` (v2) or of
    `participant_disconnected` (v1), from `media_stats` figures."""
    out = []
    for raw in streams:
        out.append(
            {
                "stream_id": str(raw.get("stream_id", "")),
                "stream_type": raw.get("stream_type") or "audio",
                "node": node,
                "start_time": raw.get("start_time"),
                "end_time": raw.get("end_time") or end,
                "rx_bitrate": as_int(raw.get("rx_bitrate")),
                "rx_codec": raw.get("rx_codec") or "",
                "rx_packets_received": as_int(raw.get("rx_packets_received")),
                "rx_packets_lost": as_int(raw.get("rx_packets_lost")),
                "rx_packet_loss": float(raw.get("rx_packet_loss") or 0.0),
                "tx_bitrate": as_int(raw.get("tx_bitrate")),
                "tx_codec": raw.get("tx_codec") or "",
                "tx_packets_sent": as_int(raw.get("tx_packets_sent")),
                "tx_packets_lost": as_int(raw.get("tx_packets_lost")),
                "tx_packet_loss": float(raw.get("tx_packet_loss") or 0.0),
            }
        )
    return out


def window_level(loss_percent: float, jitter_ms: float) -> int:
    """One window's quality (1 Good … 4 Terrible) by the v26 rule (`agent.media.quality`)."""
    return int(window_quality(min(loss_percent, 100.0), jitter_ms, QualityRule.PEXIP_V26))


class StreamWindows:
    """Per-participant window bookkeeping: counters at the previous window, the quality
    history, the last stream figures."""

    def __init__(self) -> None:
        # stream id -> (time, rx received, rx lost, tx sent, tx lost)
        self.previous: dict[str, tuple[float, int, int, int, int]] = {}
        self.quality: list[dict[str, Any]] = []
        self.level = 0
        self.last_streams: list[dict[str, Any]] = []

    def bandwidth(self) -> tuple[int, int]:
        rx = sum(as_int(s.get("rx_bitrate")) for s in self.last_streams)
        tx = sum(as_int(s.get("tx_bitrate")) for s in self.last_streams)
        return rx, tx

    def window(self, uuid: str, streams: list[dict[str, Any]], now: float) -> dict[str, Any]:
        """The `participant_media_stream_window` data for the figures now."""
        self.last_streams = streams
        history: list[dict[str, Any]] = []
        levels: dict[str, int] = {}
        for raw in streams:
            sid = str(raw.get("stream_id", ""))
            kind = raw.get("stream_type") or "audio"
            counters = (
                as_int(raw.get("rx_packets_received")),
                as_int(raw.get("rx_packets_lost")),
                as_int(raw.get("tx_packets_sent")),
                as_int(raw.get("tx_packets_lost")),
            )
            then, *before = self.previous.get(
                sid, (float(raw.get("start_time") or now), 0, 0, 0, 0)
            )
            self.previous[sid] = (now, *counters)
            d_recv, d_rx_lost, d_sent, d_tx_lost = (
                max(0, c - b) for c, b in zip(counters, before, strict=True)
            )
            history.append(
                {
                    "stream_id": sid,
                    "stream_type": kind,
                    "time": now,
                    "time_delta": round(then - now, 6),
                    "rx_packets_received": d_recv,
                    "rx_packets_lost": d_rx_lost,
                    "tx_packets_sent": d_sent,
                    "tx_packets_lost": d_tx_lost,
                }
            )
            rx_loss = 100.0 * d_rx_lost / (d_recv + d_rx_lost) if d_recv + d_rx_lost else 0.0
            tx_loss = 100.0 * d_tx_lost / d_sent if d_sent else 0.0
            jitter = max(float(raw.get("rx_jitter") or 0.0), float(raw.get("tx_jitter") or 0.0))
            level = window_level(max(rx_loss, tx_loss), jitter)
            levels[kind] = max(levels.get(kind, 0), level)
        now_level = max((levels.get(k, 0) for k in ("audio", "video")), default=0)
        was = self.level
        self.level = now_level
        self.quality.append(
            {
                "time": now,
                "time_delta": 0,
                "quality": now_level,
                "audio": levels.get("audio"),
                "video": levels.get("video"),
                "presentation": levels.get("presentation"),
                "applicationsharing": None,
            }
        )
        self.quality = self.quality[-3:]
        recent = [{**q, "time_delta": round(q["time"] - now, 6)} for q in self.quality]
        return {
            "uuid": uuid,
            "call_quality_was": QUALITY_LABELS[was],
            "call_quality_now": QUALITY_LABELS[now_level],
            "packet_loss_history": history,
            "recent_quality": recent,
        }
