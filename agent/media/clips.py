"""Encoded clips of the built-in sources: real VP8 frames of the test pattern (frame counter
n in frame n, optional white flashes) and real Opus packets of a tone (optional clicks),
made once per process with PyAV's encoders, and `feed()` to deliver them as a tap would.

For tests and benchmarks of anything that consumes encoded media (the recorder, your own
plugins), without a peer connection."""

from __future__ import annotations

import fractions
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import cache
from typing import Any

import av
import numpy as np
import numpy.typing as npt

from .sources import TestPatternSource, video_frame
from .tap import EncodedFrame

RATE = 48000
PTIME = 960  # samples per 20 ms packet
VIDEO_CLOCK = 90000


@dataclass(frozen=True)
class Clip:
    """Encoded frames with their RTP timestamps (relative to the clip's start)."""

    frames: tuple[tuple[int, bytes], ...]  # (timestamp, data)
    clock_rate: int
    codec: str
    kind: str


def _flash(y: npt.NDArray[np.uint8], height: int) -> None:
    y[height // 4 : height] = 235


@cache
def vp8_clip(
    frames: int,
    fps: int = 15,
    width: int = 320,
    height: int = 240,
    flashes: tuple[int, ...] = (),
    gop: int = 30,
    bitrate: int = 300_000,
) -> Clip:
    """VP8 frames of the test pattern (counter n in frame n); frames in `flashes` are white."""
    enc: Any = av.CodecContext.create("libvpx", "w")
    enc.width, enc.height, enc.pix_fmt = width, height, "yuv420p"
    enc.time_base = fractions.Fraction(1, fps)
    enc.framerate = fractions.Fraction(fps, 1)
    enc.gop_size = gop
    enc.bit_rate = bitrate
    enc.options = {"deadline": "realtime", "cpu-used": "8", "lag-in-frames": "0"}
    source = TestPatternSource(width, height, fps)
    out: list[tuple[int, bytes]] = []
    step = VIDEO_CLOCK // fps
    for n in range(frames):
        yuv = source.picture(n).copy()
        if n in flashes:
            _flash(yuv[:height], height)
        frame = video_frame(yuv, n)
        frame.time_base = enc.time_base
        for p in enc.encode(frame):
            out.append((int(p.pts) * step, bytes(p)))
    for p in enc.encode(None):
        out.append((int(p.pts) * step, bytes(p)))
    return Clip(tuple(out), VIDEO_CLOCK, "vp8", "video")


@cache
def opus_clip(
    seconds: float, frequency: float = 440.0, clicks: tuple[float, ...] = (), tone: bool = True
) -> Clip:
    """20 ms Opus packets of a tone (or silence) with optional loud 10 ms clicks."""
    n = round(seconds * RATE)
    t = np.arange(n) / RATE
    signal = 0.25 * np.sin(2 * np.pi * frequency * t) if tone else np.zeros(n)
    for at in clicks:
        i = round(at * RATE)
        signal[i : i + RATE // 100] = 0.9 * np.sin(2 * np.pi * 2000 * t[: RATE // 100])
    pcm = (signal * 32767).astype(np.int16)
    enc: Any = av.CodecContext.create("libopus", "w")
    enc.sample_rate = RATE
    enc.layout = "mono"
    enc.format = "s16"
    enc.bit_rate = 48000
    out: list[tuple[int, bytes]] = []
    for k in range(n // PTIME):
        frame = av.AudioFrame.from_ndarray(
            pcm[k * PTIME : (k + 1) * PTIME].reshape(1, -1), format="s16", layout="mono"
        )
        frame.sample_rate = RATE
        frame.pts = k * PTIME
        frame.time_base = fractions.Fraction(1, RATE)
        for p in enc.encode(frame):
            out.append((len(out) * PTIME, bytes(p)))
    for p in enc.encode(None):
        out.append((len(out) * PTIME, bytes(p)))
    return Clip(tuple(out), RATE, "opus", "audio")


def feed(
    clips: Iterable[Clip], start: float, *, ts_offset: dict[str, int] | None = None
) -> Iterator[EncodedFrame]:
    """The clips' frames as a tap would deliver them, in arrival order; arrival = start +
    RTP time (so the stream is perfectly paced), RTP timestamps shifted by `ts_offset`."""
    items: list[EncodedFrame] = []
    for clip in clips:
        offset = (ts_offset or {}).get(clip.kind, 0)
        for ts, data in clip.frames:
            items.append(
                EncodedFrame(
                    codec=clip.codec,
                    data=data,
                    timestamp=ts + offset,
                    arrival=start + ts / clip.clock_rate,
                    clock_rate=clip.clock_rate,
                    kind=clip.kind,
                )
            )
    items.sort(key=lambda f: f.arrival)
    return iter(items)
