"""Round-trip markers: reference signals a probe sends and finds again in what a test call
loops back, for media latency (ms, per marker) and lip-sync (audio minus video).

- `AudioMarkerSource`: silence with a short tone burst every `period` seconds. Everything
  is pre-encoded Opus (the silence packet and, per marker code, a handful of packets
  encoded once at start), so sending costs no encoder. The burst's frequency is the
  marker's code (marker number mod `len(MARKER_FREQUENCIES)`), which tells markers apart
  when the round trip is longer than a period. Each marker's send time is stamped when its
  first packet is handed to aiortc (which sends it at once); the offset of the tone's
  onset inside the pre-encoded packets is measured once by decoding them (`onset_offset`),
  so the encoder's look-ahead is not counted as network time.
- `MarkerVideoSource`: the moving test pattern whose top band carries the frame counter of
  `agent.media.sources` (it survives VP8 and rescaling), pre-encoded once as a 10 s cycle
  of VP8 frames and sent as packets (no encoder while the call runs); each frame's send
  time is kept.
- `MarkerTracker` matches what comes back: an `AudioMarkerDetector` finds burst onsets in
  decoded audio (level above `ONSET_DBFS` after silence, first loud sample, frequency by
  FFT), the frame counter is read from decoded video; latency = arrival (+ the onset's
  position in its frame) - send time. Lip-sync of marker m = its audio latency minus the
  latency of the video frame sent with it (positive: sound after picture).

Times are on the clock given to the sources and the tracker (the bot's clock).
"""

from __future__ import annotations

import fractions
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import av
import numpy as np
import numpy.typing as npt
from aiortc import MediaStreamTrack
from aiortc.mediastreams import MediaStreamError

from .analysis import frame_to_mono
from .codecs import vp8_is_keyframe
from .loops import video_bitrate
from .sources import (
    AUDIO_PTIME,
    AUDIO_TIME_BASE,
    OPUS_SILENCE,
    SAMPLE_RATE,
    SAMPLES_PER_FRAME,
    VIDEO_TIME_BASE,
    Pacer,
    TestPatternSource,
    read_frame_counter,
    video_frame,
)

__all__ = [
    "MARKER_FREQUENCIES",
    "AudioMarkerDetector",
    "AudioMarkerSource",
    "AudioRoundTrip",
    "MarkerTracker",
    "MarkerVideoSource",
    "VideoRoundTrip",
]

#: Burst frequency (Hz) of marker codes 0..7: 200 Hz apart, inside every voice codec's band.
#: Eight codes at one marker a second tell markers apart for round trips up to 8 s.
MARKER_FREQUENCIES: tuple[float, ...] = tuple(500.0 + 200.0 * i for i in range(8))
BURST_FRAMES = 3  # 60 ms of tone
_LEAD_FRAMES = 2  # silence encoded before the burst, so the encoder starts from silence
_TAIL_FRAMES = 3
TONE_DBFS = -12.0
#: A 20 ms frame louder than this after silence starts a marker.
ONSET_DBFS = -35.0
_ONSET_SAMPLE = 10 ** (ONSET_DBFS / 20) * 1.4  # first sample above ~ the onset's RMS level
_QUIET_FRAMES = 3  # silent frames needed before a new onset counts
_KEEP = 600  # send times kept (video: 40 s at 15 fps)
KEYFRAME_EVERY = 30  # video frames (2 s at 15 fps)


class _Paced(MediaStreamTrack):
    def __init__(self, period: float) -> None:
        super().__init__()
        self._pacer = Pacer(period)

    async def _tick(self) -> int:
        if self.readyState != "live":
            raise MediaStreamError
        return await self._pacer.next()


def _tone(frequency: float, frames: int) -> npt.NDArray[np.int16]:
    n = np.arange(frames * SAMPLES_PER_FRAME, dtype=np.float64)
    amplitude = 32767 * 10 ** (TONE_DBFS / 20)
    return (amplitude * np.sin(2 * math.pi * frequency * n / SAMPLE_RATE)).astype(np.int16)


def _encode_marker(frequency: float) -> list[bytes]:
    """Opus packets (20 ms each) of lead silence, the burst and a silent tail."""
    codec = av.CodecContext.create("libopus", "w")
    codec.bit_rate = 64000
    codec.format = "s16"
    codec.layout = "mono"
    codec.sample_rate = SAMPLE_RATE
    codec.time_base = fractions.Fraction(1, SAMPLE_RATE)
    silence = np.zeros(SAMPLES_PER_FRAME * _LEAD_FRAMES, np.int16)
    tail = np.zeros(SAMPLES_PER_FRAME * _TAIL_FRAMES, np.int16)
    signal = np.concatenate([silence, _tone(frequency, BURST_FRAMES), tail])
    packets: list[bytes] = []
    for i in range(signal.size // SAMPLES_PER_FRAME):
        chunk = signal[i * SAMPLES_PER_FRAME : (i + 1) * SAMPLES_PER_FRAME]
        frame = av.AudioFrame.from_ndarray(chunk.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = SAMPLE_RATE
        frame.pts = i * SAMPLES_PER_FRAME
        frame.time_base = AUDIO_TIME_BASE
        packets += [bytes(p) for p in codec.encode(frame)]
    return packets


def _decoded_onset(packets: list[bytes]) -> int:
    """Sample index (from the first packet's start) where the burst shows after decoding."""
    decoder = av.CodecContext.create("opus", "r")
    decoder.sample_rate = SAMPLE_RATE
    decoder.layout = "stereo"
    samples: list[npt.NDArray[np.float64]] = []
    for data in packets:
        for frame in decoder.decode(av.Packet(data)):
            samples.append(frame_to_mono(frame))
    mono = np.concatenate(samples)
    loud = np.flatnonzero(np.abs(mono) > _ONSET_SAMPLE)
    if loud.size == 0:
        raise RuntimeError("the marker burst did not survive Opus encoding")
    return int(loud[0])


class AudioMarkerSource(_Paced):
    """Silence with a marker burst every `period` seconds (see the module docstring)."""

    kind = "audio"

    def __init__(
        self,
        *,
        period: float = 1.0,
        clock: Callable[[], float],
        frequencies: tuple[float, ...] = MARKER_FREQUENCIES,
    ) -> None:
        super().__init__(AUDIO_PTIME)
        self._clock = clock
        self.frequencies = frequencies
        self._every = max(round(period / AUDIO_PTIME), len(_encode_marker(frequencies[0])) + 2)
        self._packets = [_encode_marker(f) for f in frequencies]
        #: Samples from the start of a marker's first packet to its decoded onset.
        self.onset_offset = _decoded_onset(self._packets[0])
        self._playing: list[bytes] = []
        self.markers_sent = 0
        #: marker number -> send time of its first packet (the newest `_KEEP`).
        self.sent: dict[int, float] = {}

    async def recv(self) -> av.Packet[Any]:
        n = await self._tick()
        if n % self._every == self._every // 2 and not self._playing:
            marker = self.markers_sent
            self.markers_sent += 1
            self._playing = list(self._packets[marker % len(self._packets)])
            self.sent[marker] = self._clock()
            if len(self.sent) > _KEEP:
                del self.sent[min(self.sent)]
        data = self._playing.pop(0) if self._playing else OPUS_SILENCE
        packet = av.Packet(data)
        packet.pts = n * SAMPLES_PER_FRAME
        packet.time_base = AUDIO_TIME_BASE
        return packet


def _encode_cycle(width: int, height: int, fps: float, frames: int) -> list[bytes]:
    """VP8 frames of the moving test pattern with counters 0..frames-1, a keyframe every
    `KEYFRAME_EVERY` (the first one included, so the cycle can repeat)."""
    pattern = TestPatternSource(width, height, fps)
    codec = av.CodecContext.create("libvpx", "w")
    codec.width, codec.height, codec.pix_fmt = width, height, "yuv420p"
    # Few bits (see `SYNTHETIC_BITS_PER_PIXEL`): the counter still reads on every frame.
    codec.bit_rate = video_bitrate(width, height, fps)
    codec.framerate = fractions.Fraction(round(fps * 1000), 1000)
    codec.time_base = fractions.Fraction(1, 90000)
    codec.gop_size = KEYFRAME_EVERY
    # One thread: libvpx's own threads spin, and several probes pre-encoding at once in
    # one process then take a minute instead of a second.
    codec.thread_count = 1
    codec.options = {"deadline": "realtime", "cpu-used": "8", "lag-in-frames": "0"}
    ticks = round(90000 / fps)
    out: list[bytes] = []
    try:
        for n in range(frames):
            frame = video_frame(pattern.picture(n).copy(), n * ticks)
            out += [bytes(p) for p in codec.encode(frame)]
        out += [bytes(p) for p in codec.encode(None)]
    finally:
        pattern.stop()
    if len(out) != frames or not vp8_is_keyframe(out[0]):
        raise RuntimeError(f"VP8 pre-encoding gave {len(out)} frames for {frames}")
    return out


class MarkerVideoSource(_Paced):
    """The moving test pattern with the frame counter in its top band, pre-encoded once
    (`cycle` frames, a keyframe every `KEYFRAME_EVERY`) and sent as VP8 packets in a loop,
    so sending costs no encoder. The counter repeats every `cycle` frames (10 s at 15 fps):
    round trips up to that long are told apart. Keyframe requests are not answered; the
    next periodic keyframe is at most `KEYFRAME_EVERY` frames away. Constructing it encodes
    (~0.3 s of CPU at 640x480): do it off the event loop."""

    kind = "video"

    def __init__(
        self,
        width: int = 640,
        height: int = 480,
        fps: float = 15.0,
        *,
        clock: Callable[[], float],
        cycle: int = 150,
    ) -> None:
        super().__init__(1 / fps)
        if width < 64 or height < 48 or width % 2 or height % 2:
            raise ValueError(f"video size must be even and at least 64x48, got {width}x{height}")
        if cycle < KEYFRAME_EVERY or cycle % KEYFRAME_EVERY:
            raise ValueError(f"cycle must be a multiple of {KEYFRAME_EVERY} frames")
        self.width, self.height, self.fps, self.cycle = width, height, fps, cycle
        self._clock = clock
        self._ticks = round(90000 / fps)
        self._frames = _encode_cycle(width, height, fps, cycle)
        #: frame number (counter = number mod `cycle`) -> send time (the newest `_KEEP`).
        self.sent: dict[int, float] = {}
        self.frames_sent = 0

    async def recv(self) -> av.Packet[Any]:
        n = await self._tick()
        packet = av.Packet(self._frames[n % self.cycle])
        packet.pts = n * self._ticks
        packet.time_base = VIDEO_TIME_BASE
        self.sent[n] = self._clock()
        if len(self.sent) > _KEEP:
            # n only grows, so the oldest is the first in (no min() over 600 keys a frame).
            del self.sent[next(iter(self.sent))]
        self.frames_sent = n + 1
        return packet


@dataclass(frozen=True)
class AudioOnset:
    arrival: float  # arrival of the decoded frame + the onset's position in it (s)
    frequency: float


class AudioMarkerDetector:
    """Finds marker bursts in decoded audio frames (fed in order)."""

    def __init__(self, frequencies: tuple[float, ...] = MARKER_FREQUENCIES) -> None:
        self.frequencies = frequencies
        self._quiet = _QUIET_FRAMES
        self._pending: tuple[float, list[npt.NDArray[np.float64]]] | None = None

    def feed(self, frame: av.AudioFrame, arrival: float) -> AudioOnset | None:
        """One decoded frame; returns an onset once the burst's frequency is known."""
        mono = frame_to_mono(frame)
        if self._pending is not None:
            start, parts = self._pending
            parts.append(mono)
            if sum(p.size for p in parts) >= 2 * SAMPLES_PER_FRAME:
                self._pending = None
                return AudioOnset(start, self._frequency(np.concatenate(parts)))
            return None
        rms = float(np.sqrt(np.mean(mono * mono))) if mono.size else 0.0
        loud = rms > 10 ** (ONSET_DBFS / 20)
        if not loud:
            self._quiet += 1
            return None
        quiet_before, self._quiet = self._quiet, 0
        if quiet_before < _QUIET_FRAMES:
            return None  # the rest of a burst (or speech): not a new onset
        above = np.flatnonzero(np.abs(mono) > _ONSET_SAMPLE)
        first = int(above[0]) if above.size else 0
        rate = frame.sample_rate or SAMPLE_RATE
        # The frame is complete at `arrival`; a sound at sample `first` of it would be at
        # `arrival + first / rate` had the frame started with it.
        self._pending = (arrival + first / rate, [mono[first:]])
        return None

    def _frequency(self, samples: npt.NDArray[np.float64]) -> float:
        window = np.hanning(samples.size)
        spectrum = np.abs(np.fft.rfft(samples * window))
        freqs = np.fft.rfftfreq(samples.size, 1 / SAMPLE_RATE)
        return float(freqs[int(np.argmax(spectrum))])

    def code(self, frequency: float) -> int | None:
        """The marker code of a burst frequency (None if it matches none within 60 Hz)."""
        best = min(range(len(self.frequencies)), key=lambda i: abs(self.frequencies[i] - frequency))
        return best if abs(self.frequencies[best] - frequency) <= 60 else None


@dataclass(frozen=True)
class AudioRoundTrip:
    marker: int
    sent: float
    received: float
    latency_ms: float


@dataclass(frozen=True)
class VideoRoundTrip:
    frame: int  # the frame number sent (its counter is frame mod the source's cycle)
    sent: float
    received: float
    latency_ms: float


class MarkerTracker:
    """Matches returned audio bursts and video counters with what the sources sent."""

    def __init__(self, audio: AudioMarkerSource | None, video: MarkerVideoSource | None) -> None:
        self.audio_source = audio
        self.video_source = video
        self.detector = AudioMarkerDetector(audio.frequencies if audio else MARKER_FREQUENCIES)
        self.audio: list[AudioRoundTrip] = []
        self.video: dict[int, VideoRoundTrip] = {}
        self.unmatched_audio = 0
        self._seen_markers: set[int] = set()

    def audio_frame(self, frame: av.AudioFrame, arrival: float) -> AudioRoundTrip | None:
        """Feed one decoded frame; a round trip when it completes a marker."""
        if self.audio_source is None:
            return None
        onset = self.detector.feed(frame, arrival)
        return None if onset is None else self.match_audio(onset)

    def match_audio(self, onset: AudioOnset) -> AudioRoundTrip | None:
        """The round trip of a burst found by an `AudioMarkerDetector` (which may run in
        another thread: matching reads the source's send times, so it runs on the loop)."""
        source = self.audio_source
        if source is None:
            return None
        code = self.detector.code(onset.frequency)
        codes = len(source.frequencies)
        received = onset.arrival - source.onset_offset / SAMPLE_RATE
        # The newest marker of that code sent before it came back; if that one came back
        # already, this is a second onset of the same burst (a loss split it), not a
        # marker from several periods ago.
        candidates = [
            m
            for m, t in source.sent.items()
            if code is not None and m % codes == code and t <= received
        ]
        if not candidates:
            self.unmatched_audio += 1
            return None
        marker = max(candidates)
        if marker in self._seen_markers:
            self.unmatched_audio += 1
            return None
        sent = source.sent[marker]
        self._seen_markers.add(marker)
        if len(self._seen_markers) > 2 * _KEEP:  # markers older than the source keeps
            oldest = min(source.sent)
            self._seen_markers = {m for m in self._seen_markers if m >= oldest}
        trip = AudioRoundTrip(marker, sent, received, 1000.0 * (received - sent))
        self.audio.append(trip)
        return trip

    def video_frame(
        self, frame: av.VideoFrame | npt.NDArray[np.uint8], arrival: float
    ) -> int | None:
        """Read the counter of one decoded frame; returns it (None if unreadable). The
        first arrival of each sent frame is its round trip (repeats are not)."""
        counter = read_frame_counter(frame)
        if counter is not None:
            self.match_video(counter, arrival)
        return counter

    def match_video(self, counter: int, arrival: float) -> None:
        """Record the round trip of a counter read back (on the loop, see `match_audio`)."""
        source = self.video_source
        if source is None:
            return
        # The newest frame with that counter sent before it came back.
        sent = [n for n, t in source.sent.items() if n % source.cycle == counter and t <= arrival]
        if sent and max(sent) not in self.video:
            n = max(sent)
            at = source.sent[n]
            self.video[n] = VideoRoundTrip(n, at, arrival, 1000.0 * (arrival - at))
            if len(self.video) > 2 * _KEEP:
                for old in sorted(self.video)[:_KEEP]:
                    del self.video[old]

    def lip_sync_ms(self, trip: AudioRoundTrip) -> float | None:
        """Audio latency minus the latency of the video frame sent closest to the marker
        (None if that frame did not come back)."""
        source = self.video_source
        if source is None or not source.sent:
            return None
        counter = min(source.sent, key=lambda n: abs(source.sent[n] - trip.sent))
        video = self.video.get(counter)
        if video is None:
            return None
        return trip.latency_ms - video.latency_ms
