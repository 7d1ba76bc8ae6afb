"""Outgoing media sources: paced aiortc tracks (20 ms audio, fixed-fps video).

Why these shapes:
- Pacing is ours (`agent.media.pacing`, re-exported here with the media constants).
- Silence is sent as a pre-encoded Opus silence packet (no encoder cost, ~0 bytes of
  payload). That is only valid when Opus is negotiated, which MediaPeer enforces; use
  `SilenceSource(opus_packets=False)` elsewhere.
- Frames must not carry `pict_type = I` (decoded files do): aiortc's VP8 encoder would make
  every frame a keyframe. Every video frame sent here has it reset.
- The test pattern writes a frame counter into the picture as a band of black/white blocks
  (2 marker blocks, 24 counter bits, 4 check bits) spanning the full width, so it survives
  VP8 compression and rescaling; `read_frame_counter` reads it back from decoded video.
- Built-in sources are sent without encoding by bots (`agent.media.loops`), media files by
  `agent.media.files`; the frame sources here are for plugins and tests.
"""

from __future__ import annotations

import functools
import logging
import math

import av
import numpy as np
import numpy.typing as npt

from .fileinfo import MediaSourceError, check_media_file, open_media_file
from .pacing import (
    AUDIO_PTIME,
    AUDIO_TIME_BASE,
    OPUS_SILENCE,
    RESYNC_AFTER,
    SAMPLE_RATE,
    SAMPLES_PER_FRAME,
    VIDEO_TIME_BASE,
    PacedTrack,
    Pacer,
    SilenceSource,
)

log = logging.getLogger(__name__)

_PICT_NONE = av.video.frame.PictureType.NONE


def audio_frame(samples: npt.NDArray[np.int16], pts: int) -> av.AudioFrame:
    """A mono s16 48 kHz AudioFrame from int16 samples."""
    frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout="mono")
    frame.sample_rate = SAMPLE_RATE
    frame.pts = pts
    frame.time_base = AUDIO_TIME_BASE
    return frame


def tone_amplitude(level_dbfs: float) -> float:
    return 32767 * 10 ** (level_dbfs / 20)


def check_tone_frequency(frequency: float) -> None:
    if not 0 < frequency < SAMPLE_RATE / 2:
        raise ValueError(f"tone frequency must be in (0, {SAMPLE_RATE // 2}) Hz")


def tone_samples(frequency: float, amplitude: float, n: int) -> npt.NDArray[np.int16]:
    """The n-th 20 ms frame of a phase-continuous sine (mono, 48 kHz, int16)."""
    omega = 2 * math.pi * frequency / SAMPLE_RATE
    phase = (n * SAMPLES_PER_FRAME * omega) % (2 * math.pi)
    wave = amplitude * np.sin(phase + omega * np.arange(SAMPLES_PER_FRAME, dtype=np.float64))
    return wave.astype(np.int16)


class ToneSource(PacedTrack):
    """A phase-continuous sine tone, mono 48 kHz, 20 ms frames."""

    kind = "audio"

    def __init__(self, frequency: float, *, level_dbfs: float = -12.0) -> None:
        super().__init__(AUDIO_PTIME)
        check_tone_frequency(frequency)
        self.frequency = frequency
        self._amplitude = tone_amplitude(level_dbfs)

    def samples(self, n: int) -> npt.NDArray[np.int16]:
        return tone_samples(self.frequency, self._amplitude, n)

    async def recv(self) -> av.AudioFrame:
        n = await self._tick()
        return audio_frame(self.samples(n), n * SAMPLES_PER_FRAME)


def black_yuv(width: int, height: int) -> npt.NDArray[np.uint8]:
    """A black I420 picture (BT.601 limited range: Y 16, U and V 128), planes stacked."""
    yuv = np.full((height * 3 // 2, width), 128, dtype=np.uint8)
    yuv[:height] = 16
    return yuv


def video_frame(yuv: npt.NDArray[np.uint8], pts: int) -> av.VideoFrame:
    frame = av.VideoFrame.from_ndarray(yuv, format="yuv420p")
    frame.pts = pts
    frame.time_base = VIDEO_TIME_BASE
    frame.pict_type = _PICT_NONE
    return frame


def _check_size(width: int, height: int) -> None:
    if width < 64 or height < 48 or width % 2 or height % 2:
        raise ValueError(f"video size must be even and at least 64x48, got {width}x{height}")


class BlackVideoSource(PacedTrack):
    """Black frames at a fixed frame rate."""

    kind = "video"

    def __init__(self, width: int = 320, height: int = 240, fps: float = 5.0) -> None:
        super().__init__(1 / fps)
        _check_size(width, height)
        self._yuv = black_yuv(width, height)
        self._ticks = round(90000 / fps)

    async def recv(self) -> av.VideoFrame:
        n = await self._tick()
        return video_frame(self._yuv, n * self._ticks)


# Frame counter band layout: [white, black] markers, counter bits MSB first, check bits.
COUNTER_BITS = 24
CHECK_BITS = 4
_BLOCKS = 2 + COUNTER_BITS + CHECK_BITS


def _check_value(counter: int) -> int:
    value = counter
    folded = 0
    while value:
        folded ^= value & 0xF
        value >>= 4
    return folded ^ 0x5


def _counter_bits(counter: int) -> list[int]:
    counter &= (1 << COUNTER_BITS) - 1
    bits = [1, 0]
    bits += [(counter >> (COUNTER_BITS - 1 - i)) & 1 for i in range(COUNTER_BITS)]
    check = _check_value(counter)
    bits += [(check >> (CHECK_BITS - 1 - i)) & 1 for i in range(CHECK_BITS)]
    return bits


def _band_height(height: int) -> int:
    return max(16, height // 10)


def _block_edges(width: int) -> list[tuple[int, int]]:
    return [(i * width // _BLOCKS, (i + 1) * width // _BLOCKS) for i in range(_BLOCKS)]


@functools.cache
def _block_spans(width: int) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]:
    """Start and end columns of each block's inner half (a quarter off either side)."""
    spans = []
    for x0, x1 in _block_edges(width):
        margin = max(1, (x1 - x0) // 4)
        spans.append((x0 + margin, x1 - margin))
    starts, ends = zip(*spans, strict=True)
    return np.array(starts, dtype=np.intp), np.array(ends, dtype=np.intp)


def draw_frame_counter(y_plane: npt.NDArray[np.uint8], counter: int) -> None:
    """Write `counter` (mod 2**24) into the top band of a luma plane, in place."""
    height, width = y_plane.shape
    band = _band_height(height)
    for (x0, x1), bit in zip(_block_edges(width), _counter_bits(counter), strict=True):
        y_plane[:band, x0:x1] = 235 if bit else 16


def _luma(frame: av.VideoFrame) -> npt.NDArray[np.uint8]:
    if frame.format.name in ("yuv420p", "yuvj420p", "yuv422p", "yuv444p", "gray", "nv12"):
        plane = frame.planes[0]
        raw = np.frombuffer(memoryview(plane), dtype=np.uint8)
        rows: npt.NDArray[np.uint8] = raw.reshape(-1, plane.line_size)[: frame.height]
        return rows[:, : frame.width]
    gray = np.asarray(frame.reformat(format="gray").to_ndarray(), dtype=np.uint8)
    return gray


def read_frame_counter(frame: av.VideoFrame | npt.NDArray[np.uint8]) -> int | None:
    """Read the test pattern's frame counter from a decoded frame (or its luma plane).

    Returns None when the band is not there (markers not found or check bits wrong).
    """
    y = frame if isinstance(frame, np.ndarray) else _luma(frame)
    height, width = y.shape
    band = _band_height(height)
    top, bottom = band // 4, max(band // 4 + 1, band * 3 // 4)
    # The inner half of each block, averaged over the band's middle rows: one column sum
    # and a cumulative sum instead of a numpy call per block (the probe reads every frame).
    starts, ends = _block_spans(width)
    columns = np.concatenate(([0], np.cumsum(y[top:bottom].sum(axis=0, dtype=np.int64))))
    sums = columns[ends] - columns[starts]
    means = (sums / ((ends - starts) * (bottom - top))).tolist()
    white, black = means[0], means[1]
    if white - black < 64:
        return None
    threshold = (white + black) / 2
    bits = [1 if m > threshold else 0 for m in means[2:]]
    counter = 0
    for bit in bits[:COUNTER_BITS]:
        counter = (counter << 1) | bit
    check = 0
    for bit in bits[COUNTER_BITS:]:
        check = (check << 1) | bit
    if check != _check_value(counter):
        return None
    return counter


class TestPattern:
    """The test pattern's pictures: a gradient, a bar moving 4 pixels a frame, and the
    frame counter in the top band. `picture(n)` reuses one buffer (copy to keep it)."""

    __test__ = False  # not a pytest class

    def __init__(self, width: int, height: int) -> None:
        _check_size(width, height)
        self.width, self.height = width, height
        xs = np.linspace(16, 235, width, dtype=np.float32)
        ys = np.linspace(0, 40, height, dtype=np.float32)[:, None]
        self._background = np.clip(xs[None, :] * 0.6 + ys, 16, 235).astype(np.uint8)
        self._yuv = np.empty((height * 3 // 2, width), dtype=np.uint8)
        # Chroma: a fixed tint so the picture is not grey (U/V planes are packed rows).
        self._yuv[height : height + height // 4] = 100
        self._yuv[height + height // 4 :] = 160
        self._bar = max(8, width // 16)

    @property
    def bar_period(self) -> int:
        """Frames after which the bar is back where it started."""
        travel = self.width - self._bar
        return travel // math.gcd(travel, 4)

    def picture(self, n: int, counter: int | None = None) -> npt.NDArray[np.uint8]:
        """Frame n's picture, showing `counter` (default n)."""
        y = self._yuv[: self.height]
        y[:] = self._background
        x = (n * 4) % (self.width - self._bar)
        y[_band_height(self.height) :, x : x + self._bar] = 235
        draw_frame_counter(y, n if counter is None else counter)
        return self._yuv


class TestPatternSource(PacedTrack):
    """A moving test pattern with the frame counter encoded in its top band, encoded by
    aiortc frame by frame (`agent.media.loops.pattern_loop` sends it without encoding)."""

    __test__ = False  # not a pytest class
    kind = "video"

    def __init__(self, width: int = 320, height: int = 240, fps: float = 15.0) -> None:
        super().__init__(1 / fps)
        self._pattern = TestPattern(width, height)
        self.width, self.height = width, height
        self._ticks = round(90000 / fps)
        self.frames_sent = 0

    def picture(self, n: int) -> npt.NDArray[np.uint8]:
        return self._pattern.picture(n)

    async def recv(self) -> av.VideoFrame:
        n = await self._tick()
        self.frames_sent = n + 1
        return video_frame(self.picture(n), n * self._ticks)


__all__ = [
    "AUDIO_PTIME",
    "AUDIO_TIME_BASE",
    "OPUS_SILENCE",
    "RESYNC_AFTER",
    "SAMPLES_PER_FRAME",
    "SAMPLE_RATE",
    "VIDEO_TIME_BASE",
    "BlackVideoSource",
    "MediaSourceError",
    "PacedTrack",
    "Pacer",
    "SilenceSource",
    "TestPattern",
    "TestPatternSource",
    "ToneSource",
    "audio_frame",
    "black_yuv",
    "check_media_file",
    "draw_frame_counter",
    "open_media_file",
    "read_frame_counter",
    "tone_samples",
    "video_frame",
]
