"""Pacing of outgoing tracks, and the media constants every sender shares (no numpy: a bot
that only receives imports this, not the frame sources).

Pacing is ours, on the event loop's monotonic clock: frame n is due at start + n*period.
After a stall longer than `RESYNC_AFTER` the schedule restarts from now instead of
bursting the backlog out; RTP timestamps stay continuous (they come from n).
"""

from __future__ import annotations

import asyncio
import fractions
from typing import Any

import av
from aiortc import MediaStreamTrack
from aiortc.mediastreams import MediaStreamError

SAMPLE_RATE = 48000
AUDIO_PTIME = 0.020
SAMPLES_PER_FRAME = 960
AUDIO_TIME_BASE = fractions.Fraction(1, SAMPLE_RATE)
VIDEO_TIME_BASE = fractions.Fraction(1, 90000)
RESYNC_AFTER = 0.25  # seconds behind schedule before the pacer restarts its schedule

# One 20 ms Opus frame (CELT, fullband) that decodes to digital silence.
OPUS_SILENCE = b"\xf8\xff\xfe"


class Pacer:
    """Yields frame indices at a fixed period on the loop's monotonic clock."""

    def __init__(self, period: float) -> None:
        if period <= 0:
            raise ValueError("period must be positive")
        self.period = period
        self._start: float | None = None
        self._n = -1
        self.resyncs = 0
        #: How late frames were handed out (s): the worst, and how many by more than a period.
        self.worst_late = 0.0
        self.late = 0

    @property
    def started_at(self) -> float | None:
        """The loop time frame 0 was due (None before the first frame)."""
        return self._start

    @property
    def upcoming(self) -> int:
        """The index the next `next()` returns."""
        return self._n + 1

    async def next(self) -> int:
        loop = asyncio.get_running_loop()
        now = loop.time()
        self._n += 1
        if self._start is None:
            self._start = now
            return self._n
        delay = self._start + self._n * self.period - now
        if delay > 0:
            await asyncio.sleep(delay)
            delay = self._start + self._n * self.period - loop.time()
        if delay < 0:
            self.worst_late = max(self.worst_late, -delay)
            self.late += -delay > self.period
        if delay < -RESYNC_AFTER:
            self._start = loop.time() - self._n * self.period
            self.resyncs += 1
        return self._n


class PacedTrack(MediaStreamTrack):
    """A track that paces itself: `await self._tick()` gives the next frame index."""

    def __init__(self, period: float) -> None:
        super().__init__()
        self._pacer = Pacer(period)

    @property
    def pacer(self) -> Pacer:
        return self._pacer

    async def _tick(self) -> int:
        if self.readyState != "live":
            raise MediaStreamError
        return await self._pacer.next()


class SilenceSource(PacedTrack):
    """Silence every 20 ms: a pre-encoded Opus silence packet (no encoder cost, ~0 bytes of
    payload; valid when Opus is negotiated, which MediaPeer enforces), or zero frames with
    `opus_packets=False`."""

    kind = "audio"

    def __init__(self, *, opus_packets: bool = True) -> None:
        super().__init__(AUDIO_PTIME)
        self._opus_packets = opus_packets

    async def recv(self) -> av.AudioFrame | av.Packet[Any]:
        n = await self._tick()
        if self._opus_packets:
            packet = av.Packet(OPUS_SILENCE)
            packet.pts = n * SAMPLES_PER_FRAME
            packet.time_base = AUDIO_TIME_BASE
            return packet
        frame = av.AudioFrame(format="s16", layout="mono", samples=SAMPLES_PER_FRAME)
        frame.planes[0].update(bytes(frame.planes[0].buffer_size))
        frame.sample_rate = SAMPLE_RATE
        frame.pts = n * SAMPLES_PER_FRAME
        frame.time_base = AUDIO_TIME_BASE
        return frame
