"""Outgoing media sources: paced aiortc tracks (20 ms audio, fixed-fps video).

Why these shapes:
- Pacing is ours, on the event loop's monotonic clock: frame n is due at start + n*period.
  After a stall longer than `RESYNC_AFTER` the schedule restarts from now instead of
  bursting the backlog out; RTP timestamps stay continuous (they come from n).
- Silence is sent as a pre-encoded Opus silence packet (no encoder cost, ~0 bytes of
  payload). That is only valid when Opus is negotiated, which MediaPeer enforces; use
  `SilenceSource(opus_packets=False)` elsewhere.
- Frames must not carry `pict_type = I` (decoded files do): aiortc's VP8 encoder would make
  every frame a keyframe. Every video frame sent here has it reset.
- The test pattern writes a frame counter into the picture as a band of black/white blocks
  (2 marker blocks, 24 counter bits, 4 check bits) spanning the full width, so it survives
  VP8 compression and rescaling; `read_frame_counter` reads it back from decoded video.
- A media file is decoded by PyAV in a worker thread into bounded queues; the tracks never
  block the loop: on underflow they send silence / repeat the last picture (black before
  the first one).
"""

from __future__ import annotations

import asyncio
import fractions
import logging
import math
import queue
import threading
from pathlib import Path
from typing import Any

import av
import numpy as np
import numpy.typing as npt
from aiortc import MediaStreamTrack
from aiortc.mediastreams import MediaStreamError

log = logging.getLogger(__name__)

SAMPLE_RATE = 48000
AUDIO_PTIME = 0.020
SAMPLES_PER_FRAME = 960
AUDIO_TIME_BASE = fractions.Fraction(1, SAMPLE_RATE)
VIDEO_TIME_BASE = fractions.Fraction(1, 90000)
RESYNC_AFTER = 0.25  # seconds behind schedule before the pacer restarts its schedule

# One 20 ms Opus frame (CELT, fullband) that decodes to digital silence.
OPUS_SILENCE = b"\xf8\xff\xfe"

_PICT_NONE = av.video.frame.PictureType.NONE


class Pacer:
    """Yields frame indices at a fixed period on the loop's monotonic clock."""

    def __init__(self, period: float) -> None:
        if period <= 0:
            raise ValueError("period must be positive")
        self.period = period
        self._start: float | None = None
        self._n = -1
        self.resyncs = 0

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
        elif delay < -RESYNC_AFTER:
            self._start = now - self._n * self.period
            self.resyncs += 1
        return self._n


class _PacedTrack(MediaStreamTrack):
    def __init__(self, period: float) -> None:
        super().__init__()
        self._pacer = Pacer(period)

    async def _tick(self) -> int:
        if self.readyState != "live":
            raise MediaStreamError
        return await self._pacer.next()


def audio_frame(samples: npt.NDArray[np.int16], pts: int) -> av.AudioFrame:
    """A mono s16 48 kHz AudioFrame from int16 samples."""
    frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout="mono")
    frame.sample_rate = SAMPLE_RATE
    frame.pts = pts
    frame.time_base = AUDIO_TIME_BASE
    return frame


class SilenceSource(_PacedTrack):
    """Silence every 20 ms (pre-encoded Opus packets unless `opus_packets=False`)."""

    kind = "audio"

    def __init__(self, *, opus_packets: bool = True) -> None:
        super().__init__(AUDIO_PTIME)
        self._opus_packets = opus_packets
        self._zeros = np.zeros(SAMPLES_PER_FRAME, dtype=np.int16)

    async def recv(self) -> av.AudioFrame | av.Packet[Any]:
        n = await self._tick()
        if self._opus_packets:
            packet = av.Packet(OPUS_SILENCE)
            packet.pts = n * SAMPLES_PER_FRAME
            packet.time_base = AUDIO_TIME_BASE
            return packet
        return audio_frame(self._zeros, n * SAMPLES_PER_FRAME)


class ToneSource(_PacedTrack):
    """A phase-continuous sine tone, mono 48 kHz, 20 ms frames."""

    kind = "audio"

    def __init__(self, frequency: float, *, level_dbfs: float = -12.0) -> None:
        super().__init__(AUDIO_PTIME)
        if not 0 < frequency < SAMPLE_RATE / 2:
            raise ValueError(f"tone frequency must be in (0, {SAMPLE_RATE // 2}) Hz")
        self.frequency = frequency
        self._amplitude = 32767 * 10 ** (level_dbfs / 20)
        self._omega = 2 * math.pi * frequency / SAMPLE_RATE
        self._t = np.arange(SAMPLES_PER_FRAME, dtype=np.float64)

    def samples(self, n: int) -> npt.NDArray[np.int16]:
        start = n * SAMPLES_PER_FRAME
        phase = (start * self._omega) % (2 * math.pi)
        wave = self._amplitude * np.sin(phase + self._omega * self._t)
        return wave.astype(np.int16)

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


class BlackVideoSource(_PacedTrack):
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
    means = []
    for x0, x1 in _block_edges(width):
        margin = max(1, (x1 - x0) // 4)
        means.append(float(y[top:bottom, x0 + margin : x1 - margin].mean()))
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


class TestPatternSource(_PacedTrack):
    """A moving test pattern with the frame counter encoded in its top band."""

    __test__ = False  # not a pytest class
    kind = "video"

    def __init__(self, width: int = 320, height: int = 240, fps: float = 15.0) -> None:
        super().__init__(1 / fps)
        _check_size(width, height)
        self.width, self.height = width, height
        self._ticks = round(90000 / fps)
        xs = np.linspace(16, 235, width, dtype=np.float32)
        ys = np.linspace(0, 40, height, dtype=np.float32)[:, None]
        self._background = np.clip(xs[None, :] * 0.6 + ys, 16, 235).astype(np.uint8)
        self._yuv = np.empty((height * 3 // 2, width), dtype=np.uint8)
        # Chroma: a fixed tint so the picture is not grey (U/V planes are packed rows).
        self._yuv[height : height + height // 4] = 100
        self._yuv[height + height // 4 :] = 160
        self._bar = max(8, width // 16)
        self.frames_sent = 0

    def picture(self, n: int) -> npt.NDArray[np.uint8]:
        y = self._yuv[: self.height]
        y[:] = self._background
        x = (n * 4) % (self.width - self._bar)
        y[_band_height(self.height) :, x : x + self._bar] = 235
        draw_frame_counter(y, n)
        return self._yuv

    async def recv(self) -> av.VideoFrame:
        n = await self._tick()
        self.frames_sent = n + 1
        return video_frame(self.picture(n), n * self._ticks)


class MediaSourceError(ValueError):
    """A media file that cannot be played: missing, unreadable, or without the stream asked
    for. The message is one line naming the file."""


def _open_file(path: Path) -> Any:
    try:
        return av.open(str(path))
    except (OSError, av.FFmpegError) as exc:
        # strerror: "No such file or directory" rather than "[Errno 2] ...: '/path'".
        why = getattr(exc, "strerror", None) or str(exc)
        raise MediaSourceError(f"cannot open {path}: {why}") from None


def check_media_file(path: str | Path, *, audio: bool = False, video: bool = False) -> None:
    """Raise `MediaSourceError` unless `path` opens and has each stream asked for."""
    path = Path(path)
    with _open_file(path) as container:
        for kind, wanted, streams in (
            ("audio", audio, container.streams.audio),
            ("video", video, container.streams.video),
        ):
            if wanted and not streams:
                raise MediaSourceError(f"cannot play {path} as {kind}: it has no {kind} stream")


class FileSource:
    """A media file played through PyAV, looped or once, as `audio` and `video` tracks.

    Decoding happens in a worker thread feeding bounded queues (~1 s); the tracks pace
    themselves and fill with silence / the last picture (black before the first) on
    underflow, and after the end when `loop=False`. `finished` is set when a non-looping
    file has been fully decoded. Both selected tracks must be consumed (or disabled with
    `audio=False` / `video=False`), otherwise the worker blocks on the full queue.
    Call `stop()` to end the worker.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        loop: bool = True,
        audio: bool = True,
        video: bool = True,
        fps: float | None = None,
        size: tuple[int, int] | None = None,
    ) -> None:
        self.path = Path(path)
        self.loop = loop
        with _open_file(self.path) as container:
            has_audio = bool(container.streams.audio) and audio
            has_video = bool(container.streams.video) and video
            rate = None
            if has_video:
                stream = container.streams.video[0]
                rate = stream.average_rate
                if size is None:
                    size = (stream.codec_context.width, stream.codec_context.height)
        if not has_audio and not has_video:
            raise MediaSourceError(f"cannot play {self.path}: no audio or video stream")
        self._fps = float(fps or rate or 30)
        self._size = size or (320, 240)
        self._stop = threading.Event()
        self.finished = threading.Event()
        self.error: BaseException | None = None
        self._audio_q: queue.Queue[av.AudioFrame] | None = (
            queue.Queue(maxsize=50) if has_audio else None
        )
        self._video_q: queue.Queue[av.VideoFrame] | None = (
            queue.Queue(maxsize=max(2, int(self._fps))) if has_video else None
        )
        self.audio: FileAudioTrack | None = FileAudioTrack(self) if has_audio else None
        self.video: FileVideoTrack | None = (
            FileVideoTrack(self, self._fps, self._size) if has_video else None
        )
        self._thread = threading.Thread(
            target=self._run, name=f"file-source:{self.path.name}", daemon=True
        )
        self._thread.start()

    def _put(self, q: queue.Queue[Any], item: Any) -> bool:
        while not self._stop.is_set():
            try:
                q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                self._play_once()
                if not self.loop:
                    break
        except Exception as exc:  # reported through .error; tracks keep filling
            log.warning("file source %s failed: %s", self.path, exc)
            self.error = exc
        finally:
            self.finished.set()

    def _play_once(self) -> None:
        with av.open(str(self.path)) as container:
            streams: list[Any] = []
            if self._audio_q is not None:
                streams.append(container.streams.audio[0])
            if self._video_q is not None:
                streams.append(container.streams.video[0])
            resampler = av.AudioResampler(
                format="s16", layout="mono", rate=SAMPLE_RATE, frame_size=SAMPLES_PER_FRAME
            )
            width, height = self._size
            for packet in container.demux(streams):
                if self._stop.is_set():
                    return
                for frame in packet.decode():
                    if isinstance(frame, av.AudioFrame) and self._audio_q is not None:
                        for chunk in resampler.resample(frame):
                            if not self._put(self._audio_q, chunk):
                                return
                    elif isinstance(frame, av.VideoFrame) and self._video_q is not None:
                        out = frame.reformat(width=width, height=height, format="yuv420p")
                        if not self._put(self._video_q, out):
                            return

    def stop(self) -> None:
        """Stop the worker and end both tracks (idempotent; joins the thread briefly)."""
        self._stop.set()
        for track in (self.audio, self.video):
            if track is not None:
                track.stop()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout=2)


class FileAudioTrack(_PacedTrack):
    kind = "audio"

    def __init__(self, source: FileSource) -> None:
        super().__init__(AUDIO_PTIME)
        self._source = source
        self._zeros = np.zeros(SAMPLES_PER_FRAME, dtype=np.int16)
        self.underflows = 0

    async def recv(self) -> av.AudioFrame:
        n = await self._tick()
        q = self._source._audio_q
        assert q is not None
        try:
            frame = q.get_nowait()
        except queue.Empty:
            self.underflows += 1
            return audio_frame(self._zeros, n * SAMPLES_PER_FRAME)
        frame.pts = n * SAMPLES_PER_FRAME
        frame.time_base = AUDIO_TIME_BASE
        return frame


class FileVideoTrack(_PacedTrack):
    kind = "video"

    def __init__(self, source: FileSource, fps: float, size: tuple[int, int]) -> None:
        super().__init__(1 / fps)
        self._source = source
        self._ticks = round(90000 / fps)
        width, height = size
        self._last: av.VideoFrame = video_frame(black_yuv(width, height), 0)
        self.underflows = 0

    async def recv(self) -> av.VideoFrame:
        n = await self._tick()
        q = self._source._video_q
        assert q is not None
        try:
            self._last = q.get_nowait()
        except queue.Empty:
            self.underflows += 1
        frame = self._last
        frame.pts = n * self._ticks
        frame.time_base = VIDEO_TIME_BASE
        frame.pict_type = _PICT_NONE
        return frame
