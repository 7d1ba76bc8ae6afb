"""Media statistics of the node's calls, for the management API's `media_stream` status.

`await media_stats(call)` returns one dict per RTP stream of a WebRTC call (one per
negotiated m-line), with the fields of Pexip's `media_stream` status resource that aiortc
can give:

    stream_id        "<call uuid>:<mid>"
    stream_type      "audio" | "video" | "presentation" (video of a present call)
    call_uuid, start_time (epoch s), end_time (epoch s once the call is closed, else None)
    rx_codec, tx_codec                 e.g. "opus", "VP8" (from the negotiated SDP)
    rx_packets_received, rx_packets_lost
    rx_packet_loss   % of packets lost on reception
    rx_jitter        ms (aiortc reports RTP timestamp units; converted with the clock rate)
                     rx figures are the media SSRC's (`agent.media.rtpstats`), never RTX's
    rx_bitrate       kbit/s, from the client's RTCP sender reports (aiortc counts no bytes
                     on reception); None before the first report
    tx_packets_sent, tx_bytes_sent, tx_bitrate (kbit/s)
    tx_packets_lost, tx_packet_loss (%), tx_jitter (ms)
                     from the client's RTCP receiver reports; None before the first one

Bitrates are averages since the previous `media_stats` of the same call (since the call
started, the first time), over at least `MIN_RATE_WINDOW` seconds: a faster poll (a status
list and a media_stream read a few ms apart, or polls between two RTCP sender reports) gets
the last window's figures, not a near-zero rate, so the management API may poll at any rate.
The last result is kept with the peer: after the call closed, the final figures are
returned with `end_time`. RTMP calls and calls without a peer have no streams ([]).
"""

from __future__ import annotations

import time
import weakref
from dataclasses import dataclass, field
from typing import Any

from agent.media.rtpstats import inbound_counters

from ..state import CallState
from .peer import NodePeer


@dataclass
class _Kept:
    """What one peer's statistics need between two calls."""

    last: list[dict[str, Any]] = field(default_factory=list)
    # stream id -> (time, rx bytes (remote sender report), tx bytes)
    counters: dict[str, tuple[float, int | None, int]] = field(default_factory=dict)
    # stream id -> (rx kbit/s, tx kbit/s) of the last window of at least MIN_RATE_WINDOW
    rates: dict[str, tuple[float | None, float | None]] = field(default_factory=dict)
    end_time: float | None = None


_KEPT: weakref.WeakKeyDictionary[NodePeer, _Kept] = weakref.WeakKeyDictionary()
MIN_RATE_WINDOW = 2.0  # seconds


def _kbps(bytes_now: int | None, bytes_before: int | None, seconds: float) -> float | None:
    if bytes_now is None or seconds <= 0:
        return None
    return round((bytes_now - (bytes_before or 0)) * 8 / seconds / 1000, 1)


def _percent(lost: int | float | None, received: int | float | None) -> float | None:
    if lost is None or received is None:
        return None
    total = lost + received
    return round(100.0 * max(lost, 0) / total, 2) if total > 0 else 0.0


async def media_stats(call: CallState) -> list[dict[str, Any]]:
    """Per-stream statistics of one call (see the module docstring). Never raises for a
    closed or half-set-up call."""
    peer = call.peer
    if peer is None:
        return []
    kept = _KEPT.setdefault(peer, _Kept())
    if peer.connection_state == "closed":
        if kept.end_time is None:
            kept.end_time = time.time()
        return [{**entry, "end_time": kept.end_time} for entry in kept.last]
    codecs = {mid: (name, rate) for mid, (_, name, rate) in peer.negotiated_codecs().items()}
    now = time.time()
    streams: list[dict[str, Any]] = []
    for transceiver in peer.pc.getTransceivers():
        mid = transceiver.mid
        if mid is None or transceiver.stopped:
            continue
        try:
            rx_report = await transceiver.receiver.getStats()
            tx_report = await transceiver.sender.getStats()
        except Exception:  # a transport torn down under us: report what can be reported
            continue
        stats = {s.type: s for s in [*rx_report.values(), *tx_report.values()]}
        codec, clock_rate = codecs.get(mid, ("", 90000 if transceiver.kind == "video" else 48000))
        # Not getStats()'s inbound-rtp: once RTX arrives, that is the RTX stream's.
        inbound = inbound_counters(transceiver.receiver)
        remote_out = stats.get("remote-outbound-rtp")
        outbound = stats.get("outbound-rtp")
        remote_in = stats.get("remote-inbound-rtp")
        stream_id = f"{call.uuid}:{mid}"
        rx_bytes = None if remote_out is None else int(remote_out.bytesSent)
        tx_bytes = 0 if outbound is None else int(outbound.bytesSent)
        since, rx_before, tx_before = kept.counters.get(stream_id, (call.started_at, 0, 0))
        if now - since >= MIN_RATE_WINDOW or stream_id not in kept.rates:
            kept.rates[stream_id] = (
                _kbps(rx_bytes, rx_before, now - since),
                _kbps(tx_bytes, tx_before, now - since),
            )
            kept.counters[stream_id] = (now, rx_bytes, tx_bytes)
        rx_kbps, tx_kbps = kept.rates[stream_id]
        kind = transceiver.kind
        streams.append(
            {
                "stream_id": stream_id,
                "stream_type": "presentation" if kind == "video" and peer.present else kind,
                "call_uuid": call.uuid,
                "start_time": call.started_at,
                "end_time": None,
                "rx_codec": codec if inbound is not None else None,
                "rx_packets_received": None if inbound is None else inbound.packets_received,
                "rx_packets_lost": None if inbound is None else inbound.packets_lost,
                "rx_packet_loss": None
                if inbound is None
                else _percent(inbound.packets_lost, inbound.packets_received),
                "rx_jitter": None if inbound is None else round(inbound.jitter_ms, 2),
                "rx_bitrate": rx_kbps,
                "tx_codec": codec if outbound is not None and outbound.packetsSent else None,
                "tx_packets_sent": 0 if outbound is None else outbound.packetsSent,
                "tx_bytes_sent": tx_bytes,
                "tx_bitrate": tx_kbps,
                "tx_packets_lost": None if remote_in is None else remote_in.packetsLost,
                # fractionLost is the raw RTCP field: lost/256 since the previous report.
                "tx_packet_loss": None
                if remote_in is None
                else round(100.0 * remote_in.fractionLost / 256, 2),
                "tx_jitter": None
                if remote_in is None
                else round(1000.0 * remote_in.jitter / clock_rate, 2),
            }
        )
    kept.last = streams
    return streams
