"""Writing small media files for the file-source tests: the test pattern (frame counter n
in frame n) and a tone, in VP8/Opus containers, interleaved or not."""

from __future__ import annotations

import fractions
from pathlib import Path
from typing import Any

import av

from agent.media.sources import TestPattern, audio_frame, tone_samples, video_frame


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
