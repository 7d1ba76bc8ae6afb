"""Synthetic encoded media for the recorder tests and bench: real VP8 frames (test pattern
with frame counters, optional white flashes) and real Opus packets (tone, optional clicks),
made once per process with PyAV's encoders, and helpers to read a recording back."""

from __future__ import annotations

import fractions
import json
import subprocess
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import av
import numpy as np
import numpy.typing as npt

from agent.media.sources import TestPatternSource, read_frame_counter, video_frame
from agent.media.tap import EncodedFrame

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


# -- reading a recording back ----------------------------------------------------------


def ffprobe(path: Path) -> dict[str, Any]:
    out = subprocess.run(
        [
            "ffprobe",
            "-v",
            "error",
            "-show_entries",
            "format=duration,format_name:stream=codec_name,codec_type,width,height",
            "-of",
            "json",
            str(path),
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    ).stdout
    doc: dict[str, Any] = json.loads(out)
    return doc


def decode_audio(path: Path) -> tuple[npt.NDArray[np.float64], float]:
    """Mono float samples from the file and the time of the first one."""
    chunks: list[npt.NDArray[np.float64]] = []
    start: float | None = None
    with av.open(str(path)) as f:
        stream = f.streams.audio[0]
        resampler = av.AudioResampler(format="flt", layout="mono", rate=RATE)
        frame: Any
        for frame in f.decode(stream):
            if start is None and frame.pts is not None:
                start = float(frame.pts * frame.time_base)
            for out in resampler.resample(frame):
                chunks.append(out.to_ndarray().reshape(-1).astype(np.float64))
    samples = np.concatenate(chunks) if chunks else np.zeros(0)
    return samples, start or 0.0


def decode_video(path: Path) -> list[tuple[float, int | None, float]]:
    """(time, frame counter, mean luma of the lower half) of every decoded frame."""
    out: list[tuple[float, int | None, float]] = []
    with av.open(str(path)) as f:
        frame: Any
        for frame in f.decode(f.streams.video[0]):
            y: npt.NDArray[np.uint8] = frame.to_ndarray(format="gray")
            h = y.shape[0]
            t = float(frame.pts * frame.time_base) if frame.pts is not None else -1.0
            out.append((t, read_frame_counter(y), float(y[h // 2 :].mean())))
    return out
