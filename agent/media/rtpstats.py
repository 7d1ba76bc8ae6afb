"""RTP statistics of a WebRTC call in explicit units, from aiortc and the encoded tap.

aiortc's `getStats()` bites in three ways, all handled here once (the bot's probe and the
node's management figures both read their streams through this module):

- `inbound-rtp.jitter` and `remote-inbound-rtp.jitter` are integers in **RTP timestamp
  units** (RFC 3550's estimator); divided here by the stream's clock rate (48 000 Opus,
  90 000 video) into milliseconds.
- `remote-inbound-rtp.fractionLost` is the **raw 8-bit RTCP field** (lost/256 since the
  previous report); given here as a percentage. `roundTripTime` is seconds (an EWMA, alpha
  0.85, from LSR/DLSR), given here in ms.
- A receiver's `inbound-rtp` entries share one id, so the **last SSRC written wins**: once
  a video retransmission (RTX) arrives, `getStats()` reports the RTX stream's handful of
  packets instead of the media stream. `inbound_counters` reads the receiver's per-SSRC
  RFC 3550 statistics instead (private `RTCRtpReceiver.__remote_streams`, pinned with
  aiortc 1.16.*; `check_stats_seam` fails loudly if it moves) and picks the media SSRC.

Received bytes and frames come from the encoded tap (aiortc counts no received bytes).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aiortc import RTCRtpReceiver, RTCRtpSender

from .peer import MediaPeer

__all__ = [
    "InboundCounters",
    "MediaSnapshot",
    "ReceiveFigures",
    "SendFigures",
    "StreamSnapshot",
    "check_stats_seam",
    "inbound_counters",
    "send_figures",
    "snapshot",
]

_STREAMS = "_RTCRtpReceiver__remote_streams"
_RTX = "_RTCRtpReceiver__rtx_ssrc"


def check_stats_seam(receiver: RTCRtpReceiver | None = None) -> None:
    """Raise RuntimeError("aiortc private seam moved: ...") if `inbound_counters` cannot work."""
    from aiortc.rtcrtpreceiver import StreamStatistics  # noqa: PLC0415

    probe = StreamStatistics(48000)
    missing = [name for name in ("packets_lost", "jitter") if not hasattr(StreamStatistics, name)]
    missing += [name for name in ("packets_received", "_clockrate") if name not in vars(probe)]
    if receiver is not None:
        missing += [
            name for name in (_STREAMS, _RTX) if not isinstance(getattr(receiver, name, None), dict)
        ]
    if missing:
        raise RuntimeError("aiortc private seam moved: missing " + ", ".join(missing))


@dataclass(frozen=True)
class InboundCounters:
    """RFC 3550 receive statistics of the media SSRC of one receiver."""

    ssrc: int
    packets_received: int
    packets_lost: int  # cumulative, RFC 3550 (expected - received)
    jitter_ms: float  # interarrival jitter, converted from timestamp units
    clock_rate: int

    @property
    def expected(self) -> int:
        return self.packets_received + self.packets_lost


def inbound_counters(receiver: RTCRtpReceiver) -> InboundCounters | None:
    """The media stream's counters (never the RTX stream's); None before any packet."""
    streams: dict[int, Any] = getattr(receiver, _STREAMS, None) or {}
    rtx: dict[int, int] = getattr(receiver, _RTX, None) or {}
    media = [(ssrc, s) for ssrc, s in streams.items() if ssrc not in rtx] or list(streams.items())
    if not media:
        return None
    # Several media SSRCs (a sender that restarted): the busiest is the stream.
    ssrc, stats = max(media, key=lambda item: int(item[1].packets_received))
    clock_rate = int(getattr(stats, "_clockrate", 0)) or 90000
    return InboundCounters(
        ssrc=ssrc,
        packets_received=int(stats.packets_received),
        packets_lost=int(stats.packets_lost),
        jitter_ms=1000.0 * int(stats.jitter) / clock_rate,
        clock_rate=clock_rate,
    )


@dataclass(frozen=True)
class SendFigures:
    """What we send on one stream, and what the remote's receiver reports say about it."""

    packets_sent: int
    bytes_sent: int
    # From the remote's RTCP receiver reports; None before the first one.
    remote_packets_lost: int | None = None  # cumulative
    remote_expected: int | None = None  # packets sent when that report came (= received + lost)
    remote_jitter_ms: float | None = None
    remote_fraction_lost_percent: float | None = None  # loss since the previous report
    rtt_ms: float | None = None  # RTCP round trip (aiortc's EWMA)


async def send_figures(sender: RTCRtpSender, clock_rate: int) -> SendFigures:
    report = await sender.getStats()
    outbound = remote = None
    for stats in report.values():
        if stats.type == "outbound-rtp":
            outbound = stats
        elif stats.type == "remote-inbound-rtp":
            remote = stats
    figures = SendFigures(
        packets_sent=int(outbound.packetsSent) if outbound is not None else 0,
        bytes_sent=int(outbound.bytesSent) if outbound is not None else 0,
    )
    if remote is None:
        return figures
    rtt = getattr(remote, "roundTripTime", None)
    return SendFigures(
        packets_sent=figures.packets_sent,
        bytes_sent=figures.bytes_sent,
        remote_packets_lost=int(remote.packetsLost),
        remote_expected=int(remote.packetsReceived) + int(remote.packetsLost),
        remote_jitter_ms=1000.0 * int(remote.jitter) / clock_rate,
        remote_fraction_lost_percent=100.0 * float(remote.fractionLost) / 256,
        rtt_ms=None if rtt is None else 1000.0 * float(rtt),
    )


@dataclass(frozen=True)
class ReceiveFigures:
    """What we receive on one stream: RFC 3550 counters and the tap's frames and bytes."""

    packets_received: int
    packets_lost: int
    jitter_ms: float
    frames: int  # complete encoded frames (video frames, Opus packets)
    bytes: int  # their payload bytes


@dataclass(frozen=True)
class StreamSnapshot:
    kind: str  # "audio" | "video"
    rx: ReceiveFigures | None  # None: not receiving this kind, or nothing yet
    tx: SendFigures | None  # None: not sending this kind


@dataclass(frozen=True)
class MediaSnapshot:
    """Cumulative figures of the main audio and video streams of one call at `at` (the
    peer's clock)."""

    at: float
    connected_at: float | None
    streams: dict[str, StreamSnapshot]


_CLOCK_RATES = {"audio": 48000, "video": 90000}


async def snapshot(peer: MediaPeer) -> MediaSnapshot:
    """The main audio and video streams of `peer` now (presentation receivers left out)."""
    streams: dict[str, StreamSnapshot] = {}
    for transceiver in peer.pc.getTransceivers():
        kind = transceiver.kind
        if kind in streams or transceiver.stopped or kind not in _CLOCK_RATES:
            continue
        rx: ReceiveFigures | None = None
        tx: SendFigures | None = None
        if transceiver.currentDirection in ("sendrecv", "recvonly"):
            counters = inbound_counters(transceiver.receiver)
            tap = peer.taps.get(kind)
            if counters is not None:
                rx = ReceiveFigures(
                    packets_received=counters.packets_received,
                    packets_lost=counters.packets_lost,
                    jitter_ms=counters.jitter_ms,
                    frames=tap.frames if tap is not None else 0,
                    bytes=tap.bytes if tap is not None else 0,
                )
        if transceiver.currentDirection in ("sendrecv", "sendonly"):
            tx = await send_figures(transceiver.sender, _CLOCK_RATES[kind])
        streams[kind] = StreamSnapshot(kind, rx, tx)
    return MediaSnapshot(at=peer.clock(), connected_at=peer.connected_at, streams=streams)
