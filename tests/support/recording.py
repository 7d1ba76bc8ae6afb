"""Reading a recording back: ffprobe's view, decoded audio and the frame counters of the
decoded video (see `agent.media.clips` for the media that goes in)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import av
import numpy as np
import numpy.typing as npt

from agent.media.clips import RATE
from agent.media.sources import read_frame_counter

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
