"""The conference's audio: per-call jitter buffers in, mix-minus out, Opus off the loop.

A single tick per conference (`ConferenceMixer`, every 20 ms) takes one 20 ms chunk per
main call from its jitter buffer (`Fifo`), runs the energy VAD on it, adds the chunks of
unmuted participants once into an int32 total, and gives every acked call
`clip(total - own)` as int16 (mix-minus: n subtractions instead of n sums of n-1). Calls
that contribute nothing share one clipped array. The per-tick numpy work is tens of
microseconds, so the loop never stalls.

The tick is the only audio clock: each call's `MixTrack` returns what the tick queued
(bounded, oldest dropped). With Opus negotiated (always, in practice) the tick hands all
mixes of that tick to one encoder thread as a single job and queues the packets it returns;
aiortc then only packetizes them. Letting aiortc encode each frame instead costs an
event-loop round trip per frame per sender, which capped senders at ~33 frames/s with 10
participants on 2 cores (bench/node_media.py).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import fractions
import logging
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import av
import numpy as np
import numpy.typing as npt
from aiortc import MediaStreamTrack, RTCRtpReceiver
from aiortc.mediastreams import MediaStreamError

from agent.media.sources import AUDIO_TIME_BASE, SAMPLE_RATE, SAMPLES_PER_FRAME, audio_frame
from agent.media.tap import AUDIO_PREFETCH, EncodedTap
from agent.media.vad import EnergyVad

log = logging.getLogger(__name__)

Samples = npt.NDArray[np.int16]

SILENCE: Samples = np.zeros(SAMPLES_PER_FRAME, dtype=np.int16)
# Encoder-thread jobs (one per tick) allowed in flight; beyond, a tick's audio is dropped
# so that an overloaded node loses audio instead of piling up latency.
MAX_PENDING_ENCODES = 5
#: aiortc's audio receiver hands an Opus frame over when the 4th after it arrives.
_UNTAPPED_HOLD = AUDIO_PREFETCH * SAMPLES_PER_FRAME / SAMPLE_RATE
_ARRIVALS_KEPT = 64


def _clip(total: npt.NDArray[np.int32]) -> Samples:
    return np.clip(total, -32768, 32767).astype(np.int16)


class Fifo:
    """A small jitter buffer of decoded mono samples for one call.

    Output starts once `PRIME` samples are buffered (so network jitter does not turn into
    alternating gaps) and restarts priming after an underflow; beyond `LIMIT` the oldest
    samples are dropped, which bounds latency when the sender's clock runs fast.

    Each chunk carries when its packet arrived (`push`), so `waited` is measured, not
    counted from the level: the level misses the part of a tick a chunk waits for the
    mixer's next tick (10 ms on average), which is what lip sync through the node needs.
    """

    PRIME = 2 * SAMPLES_PER_FRAME
    LIMIT = 6 * SAMPLES_PER_FRAME

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._chunks: deque[tuple[Samples, float]] = deque()
        self._size = 0
        self._primed = False
        self.waited = 0.0
        self.dropped = 0

    def push(self, samples: Samples, arrival: float | None = None) -> None:
        """Queue `samples`, whose packet arrived at `arrival` (the clock's time; now if None)."""
        self._chunks.append((samples, self._clock() if arrival is None else arrival))
        self._size += samples.size
        while self._size > self.LIMIT:
            self.dropped += self._chunks[0][0].size
            self._size -= self._chunks.popleft()[0].size

    def pop(self) -> Samples | None:
        if not self._primed:
            if self._size < self.PRIME:
                return None
            self._primed = True
        if self._size < SAMPLES_PER_FRAME:
            self._primed = False
            return None
        self._size -= SAMPLES_PER_FRAME
        head, arrival = self._chunks[0]
        # How long ago the audio leaving now arrived (s).
        self.waited = self._clock() - arrival
        if head.size == SAMPLES_PER_FRAME:  # the usual case: 20 ms Opus frames
            return self._chunks.popleft()[0]
        parts: list[Samples] = []
        need = SAMPLES_PER_FRAME
        while need:
            head, arrival = self._chunks[0]
            if head.size <= need:
                parts.append(self._chunks.popleft()[0])
                need -= head.size
            else:
                parts.append(head[:need])
                self._chunks[0] = (head[need:], arrival)
                need = 0
        return np.concatenate(parts)


class ToMono:
    """Decoded AudioFrame -> mono int16 at 48 kHz (aiortc's Opus decoder gives s16 stereo)."""

    def __init__(self) -> None:
        self._resampler: av.AudioResampler | None = None

    def __call__(self, frame: av.AudioFrame) -> list[Samples]:
        if frame.format.name == "s16" and frame.sample_rate == SAMPLE_RATE:
            channels = len(frame.layout.channels)
            data = frame.to_ndarray().reshape(-1, channels)
            if channels == 1:
                return [np.ascontiguousarray(data[:, 0])]
            return [(data.astype(np.int32).sum(axis=1) // channels).astype(np.int16)]
        if self._resampler is None:  # other codecs (G.711, G.722): rare, so lazily
            self._resampler = av.AudioResampler(format="s16", layout="mono", rate=SAMPLE_RATE)
        return [
            np.asarray(f.to_ndarray(), np.int16).reshape(-1)
            for f in self._resampler.resample(frame)
        ]


class MixTrack(MediaStreamTrack):
    """One call's outgoing audio: whatever the mixer's tick queued, one item per 20 ms.

    With Opus negotiated (`opus = True`, set on ack) the items are Opus packets the mixer
    encoded in its worker thread (`encode`), returned as `av.Packet`: aiortc then only
    packetizes them. That matters under load: aiortc's sender awaits an executor hop per
    frame it encodes itself, so a busy event loop caps every sender below 50 frames/s,
    whereas queued packets are drained without yielding. Otherwise the items are samples,
    returned as AudioFrames for aiortc to encode.
    """

    kind = "audio"

    def __init__(self) -> None:
        super().__init__()
        # 100 ms: if the sender falls further behind, old mix is dropped rather than delayed.
        self._queue: deque[Samples | av.Packet[Any]] = deque(maxlen=5)
        self._ready = asyncio.Event()
        self._n = 0
        self.opus = False
        self._codec: Any = None  # touched only by the mixer's encoder thread
        self._encoded = 0
        self.dropped = 0

    def push(self, item: Samples | av.Packet[Any]) -> None:
        if len(self._queue) == self._queue.maxlen:
            self.dropped += 1
        self._queue.append(item)
        self._ready.set()

    def encode(self, samples: Samples) -> list[av.Packet[Any]]:
        """Encode one 20 ms mix to Opus (mono: valid in an opus/48000/2 stream, and cheaper).

        Runs in the mixer's single encoder thread, never concurrently for one track.
        """
        if self._codec is None:
            codec = av.CodecContext.create("libopus", "w")
            codec.bit_rate = 64000
            codec.format = "s16"
            codec.layout = "mono"
            codec.sample_rate = SAMPLE_RATE
            codec.time_base = fractions.Fraction(1, SAMPLE_RATE)
            self._codec = codec
        frame = audio_frame(samples, self._encoded * SAMPLES_PER_FRAME)
        self._encoded += 1
        return list(self._codec.encode(frame))

    async def recv(self) -> av.AudioFrame | av.Packet[Any]:
        while not self._queue:
            if self.readyState != "live":
                raise MediaStreamError
            self._ready.clear()
            await self._ready.wait()
        if self.readyState != "live":
            raise MediaStreamError
        item = self._queue.popleft()
        pts = self._n * SAMPLES_PER_FRAME
        self._n += 1
        if isinstance(item, av.Packet):
            # Our own continuous timeline: aiortc takes the RTP timestamp from it.
            item.pts = pts
            item.time_base = AUDIO_TIME_BASE
            return item
        return audio_frame(item, pts)

    def stop(self) -> None:
        super().stop()
        self._ready.set()


@dataclass(eq=False)
class AudioLeg:
    """One main call's audio: decoded samples in (`read`), its mix out once acked.

    With the receiver tapped (`attach`), each decoded frame is stamped with when its packet
    arrived (the tap's estimate, aiortc's jitter-buffer hold taken out), so the fifo's
    `waited` covers the whole path to the mix: hold, decoder thread and fifo.
    """

    participant_uuid: str
    clock: Callable[[], float] = time.monotonic
    fifo: Fifo = field(init=False)
    vad: EnergyVad = field(default_factory=EnergyVad)
    out: MixTrack | None = None
    sending: bool = False  # the call was acked: its mix goes out
    reading: bool = False  # a reader task owns the incoming track
    tap: EncodedTap | None = field(default=None, init=False)
    _arrivals: deque[tuple[int, float]] = field(
        default_factory=lambda: deque(maxlen=_ARRIVALS_KEPT), init=False
    )

    def __post_init__(self) -> None:
        self.fifo = Fifo(self.clock)

    def attach(self, receiver: RTCRtpReceiver) -> None:
        """Tap the incoming audio's receiver (decoding stays on) for arrival stamps."""
        if self.tap is not None:
            return
        self.tap = EncodedTap(receiver, clock=self.clock, decode=True)
        self.tap.subscribe(lambda frame: self._arrivals.append((frame.timestamp, frame.arrival)))

    def _arrival(self, pts: int | None) -> float:
        arrival = next((a for ts, a in reversed(self._arrivals) if ts == pts), None)
        # Untapped (or a frame the tap missed): now, less what aiortc's buffer held it.
        return arrival if arrival is not None else self.clock() - _UNTAPPED_HOLD

    async def read(self, track: MediaStreamTrack, counted: Callable[[str], None]) -> None:
        """Move the incoming track's audio into the jitter buffer until the track ends."""
        to_mono = ToMono()
        with contextlib.suppress(MediaStreamError):
            while True:
                frame = await track.recv()
                counted("audio")
                if not isinstance(frame, av.AudioFrame):
                    continue
                arrival = self._arrival(frame.pts)
                for samples in to_mono(frame):
                    self.fifo.push(samples, arrival)


Encoded = list[tuple[MixTrack, list["av.Packet[Any]"]]]  # av.Packet is generic for typing only


def _encode_batch(jobs: list[tuple[MixTrack, Samples]]) -> Encoded:
    return [(track, track.encode(samples)) for track, samples in jobs]


class AudioMix:
    """Mix-minus of one conference's main calls, once per tick, Opus-encoded in one thread."""

    def __init__(self) -> None:
        self._encoder: concurrent.futures.ThreadPoolExecutor | None = None
        self._pending = 0
        self.encode_overruns = 0

    def tick(
        self, legs: Iterable[AudioLeg], muted: Callable[[str], bool], *, loopback: bool
    ) -> dict[str, bool]:
        """Mix one 20 ms chunk of every leg and queue each acked leg's mix.

        Returns who spoke in this chunk (participant uuid -> VAD and not muted).
        `loopback` (a test call) plays each participant's own audio back to it.
        """
        legs = list(legs)
        total: npt.NDArray[np.int32] | None = None
        own: dict[str, npt.NDArray[np.int32]] = {}
        speaking: dict[str, bool] = {}
        for leg in legs:
            chunk = leg.fifo.pop()
            is_muted = muted(leg.participant_uuid)
            active = leg.vad.process(SILENCE if chunk is None else chunk) and not is_muted
            uuid = leg.participant_uuid
            speaking[uuid] = speaking.get(uuid, False) or active
            if chunk is None or is_muted:
                continue
            wide = chunk.astype(np.int32)
            total = wide if total is None else total + wide
            mine = own.get(uuid)
            own[uuid] = wide if mine is None else mine + wide
        shared = SILENCE if total is None else _clip(total)
        jobs: list[tuple[MixTrack, Samples]] = []
        for leg in legs:
            if not leg.sending or leg.out is None:
                continue
            mine = own.get(leg.participant_uuid)
            if loopback:
                mix = SILENCE if mine is None else _clip(mine)
            else:
                mix = shared if mine is None or total is None else _clip(total - mine)
            if leg.out.opus:
                jobs.append((leg.out, mix))
            else:
                leg.out.push(mix)
        if jobs:
            self._encode(jobs)
        return speaking

    def _encode(self, jobs: list[tuple[MixTrack, Samples]]) -> None:
        if self._pending >= MAX_PENDING_ENCODES:
            self.encode_overruns += 1
            return
        if self._encoder is None:
            self._encoder = concurrent.futures.ThreadPoolExecutor(
                max_workers=1, thread_name_prefix="mixer-opus"
            )
        self._pending += 1
        future = asyncio.get_running_loop().run_in_executor(self._encoder, _encode_batch, jobs)
        future.add_done_callback(self._encoded)

    def _encoded(self, future: asyncio.Future[Encoded]) -> None:
        self._pending = max(0, self._pending - 1)
        if future.cancelled():
            return
        if future.exception() is not None:
            log.error("mixer audio encoding failed", exc_info=future.exception())
            return
        for track, packets in future.result():
            for packet in packets:
                track.push(packet)

    def close(self) -> None:
        encoder, self._encoder = self._encoder, None
        if encoder is not None:
            # Queued jobs are dropped; a running one (< 1 ms per call) finishes on its own.
            encoder.shutdown(wait=False, cancel_futures=True)
        self._pending = 0
