"""Where the management API gets media-stream figures: the one lookup to switch if the
media plane's statistics move (today `media.stats.media_stats`, aiortc `getStats()` of the
node's peers)."""

from __future__ import annotations

from typing import Any

from ..config import NodeMediaConfig
from ..media.stats import media_stats
from ..state import CallState, ParticipantState


async def call_streams(call: CallState) -> list[dict[str, Any]]:
    """Per-stream figures of one call (see `media_stats` for the keys); [] without a peer."""
    return await media_stats(call)


async def participant_streams(
    participant: ParticipantState, *, ended: bool = False
) -> list[dict[str, Any]]:
    """The streams of the participant's calls; `ended` adds the calls it hung up earlier
    (with their final figures), for history."""
    calls = list(participant.calls.values())
    if ended:
        calls = [*participant.ended_calls, *calls]
    streams: list[dict[str, Any]] = []
    for call in calls:
        streams.extend(await call_streams(call))
    return streams


def as_int(value: Any) -> int:
    """A figure of `media_stats` (None before the first report) as the API's integer."""
    return round(value) if isinstance(value, int | float) else 0


def as_float(value: Any) -> float:
    return float(value) if isinstance(value, int | float) else 0.0


def video_size(media: NodeMediaConfig, kind: str) -> str:
    """The resolution the node sends on a video stream ("" for audio)."""
    return f"{media.video_width}x{media.video_height}" if kind == "video" else ""


def stream_counters(raw: dict[str, Any], video_size: str) -> dict[str, Any]:
    """The rx/tx fields that status and history media streams share, from `media_stats`."""
    sent = raw.get("tx_packets_sent")
    return {
        "rx_bitrate": as_int(raw.get("rx_bitrate")),
        "rx_codec": raw.get("rx_codec") or "",
        "rx_packet_loss": as_float(raw.get("rx_packet_loss")),
        "rx_packets_lost": as_int(raw.get("rx_packets_lost")),
        "rx_packets_received": as_int(raw.get("rx_packets_received")),
        "rx_resolution": "",
        "tx_bitrate": as_int(raw.get("tx_bitrate")),
        "tx_codec": raw.get("tx_codec") or "",
        "tx_packet_loss": as_float(raw.get("tx_packet_loss")),
        "tx_packets_lost": as_int(raw.get("tx_packets_lost")),
        "tx_packets_sent": as_int(sent),
        "tx_resolution": video_size if sent else "",
    }
