"""Writing small media files for the file-source tests: the test pattern (frame counter n
in frame n) and a tone, in VP8/Opus containers, interleaved or not."""

from __future__ import annotations

import fractions
import itertools
from pathlib import Path
from typing import Any

import av
import numpy as np

from agent.media.sources import TestPattern, audio_frame, tone_samples, video_frame
from tests.support.recording import decode_video


def write_media(
    path: Path,
    seconds: float = 2.0,
    *,
    fps: int = 15,
    size: tuple[int, int] = (160, 120),
    audio: bool = True,
    video: bool = True,
    interleaved: bool = True,
    tone: float = 440.0,
    gop: int = 15,
    fmt: str | None = None,
) -> dict[str, list[bytes]]:
    """Write `path` (container from its suffix or `fmt`) and return the packets written,
    by kind. Not interleaved: every video packet first, then every audio packet."""
    # max_interleave_delta: the muxer writes packets in the order given instead of
    # buffering them to interleave.
    options = {} if interleaved else {"max_interleave_delta": "1"}
    written: dict[str, list[bytes]] = {"audio": [], "video": []}
    with av.open(str(path), "w", format=fmt, options=options) as out:
        vstream: Any = None
        astream: Any = None
        if video:
            vstream = out.add_stream("libvpx", rate=fps)
            vstream.width, vstream.height, vstream.pix_fmt = *size, "yuv420p"
            vstream.gop_size = gop
            vstream.bit_rate = 200_000
        if audio:
            astream = out.add_stream("libopus", rate=48000)
            astream.layout = "mono"
        packets: dict[str, list[Any]] = {"audio": [], "video": []}
        if vstream is not None:
            pattern = TestPattern(*size)
            for n in range(round(seconds * fps)):
                frame = video_frame(pattern.picture(n).copy(), n)
                frame.time_base = fractions.Fraction(1, fps)
                packets["video"] += vstream.encode(frame)
            packets["video"] += vstream.encode(None)
        if astream is not None:
            for n in range(round(seconds * 50)):
                samples = tone_samples(tone, 8000, n)
                packets["audio"] += astream.encode(audio_frame(samples, n * 960))
            packets["audio"] += astream.encode(None)
        order = (
            [p for pair in _zip_by_time(packets["video"], packets["audio"]) for p in pair]
            if interleaved
            else [("video", p) for p in packets["video"]] + [("audio", p) for p in packets["audio"]]
        )
        for kind, packet in order:
            written[kind].append(bytes(packet))
            out.mux(packet)
    return written


def _zip_by_time(video: list[Any], audio: list[Any]) -> list[tuple[tuple[str, Any], ...]]:
    tagged = [("video", p) for p in video] + [("audio", p) for p in audio]
    tagged.sort(key=lambda kp: float(kp[1].pts * kp[1].time_base))
    return [(item,) for item in tagged]


def write_flash_click(
    path: Path,
    seconds: float,
    marks: tuple[float, ...],
    *,
    fps: int = 30,
    size: tuple[int, int] = (320, 240),
) -> None:
    """The test pattern with its lower part white for two frames from each mark, and
    silence with a loud 2 kHz click of 10 ms at each mark (VP8 + Opus, WebM): audio and
    video events at the same instants, to measure lip sync."""
    width, height = size
    flashed = {round(m * fps) + k for m in marks for k in (0, 1)}
    clicks = {round(m * 50) for m in marks}  # 20 ms frames; marks on the 20 ms grid
    with av.open(str(path), "w") as out:
        vstream: Any = out.add_stream("libvpx", rate=fps)
        vstream.width, vstream.height, vstream.pix_fmt = width, height, "yuv420p"
        vstream.bit_rate = 400_000
        astream: Any = out.add_stream("libopus", rate=48000)
        astream.layout = "mono"
        pattern = TestPattern(width, height)
        for n in range(round(seconds * fps)):
            yuv = pattern.picture(n).copy()
            if n in flashed:
                yuv[height // 4 : height] = 235
            frame = video_frame(yuv, n)
            frame.time_base = fractions.Fraction(1, fps)
            for packet in vstream.encode(frame):
                out.mux(packet)
        for packet in vstream.encode(None):
            out.mux(packet)
        t = np.arange(480) / 48000
        click = (0.9 * 32767 * np.sin(2 * np.pi * 2000 * t)).astype(np.int16)
        for n in range(round(seconds * 50)):
            samples = np.zeros(960, dtype=np.int16)
            if n in clicks:
                samples[:480] = click
            for packet in astream.encode(audio_frame(samples, n * 960)):
                out.mux(packet)
        for packet in astream.encode(None):
            out.mux(packet)


def flashes_and_clicks(path: Path) -> tuple[list[float], list[float]]:
    """Onsets (s, file time) of the white flashes and of the clicks in a recording."""
    video = decode_video(path)
    flashes = [
        t for (_t0, _, low0), (t, _, low) in itertools.pairwise(video) if low > 200 and low0 <= 200
    ]
    clicks: list[float] = []
    with av.open(str(path)) as f:
        frame: Any
        for frame in f.decode(f.streams.audio[0]):
            if frame.pts is None:
                continue
            loud = np.flatnonzero(np.abs(frame.to_ndarray()[0]) > 0.3)
            if loud.size:
                # Each frame at its own time: a gap in the stream must not shift the rest.
                at = float(frame.pts * frame.time_base) + float(loud[0]) / frame.sample_rate
                if not clicks or at - clicks[-1] > 0.3:
                    clicks.append(at)
    return flashes, clicks
