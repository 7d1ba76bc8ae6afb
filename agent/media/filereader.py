"""Reading one stream of a media file: its packets (VP8/Opus, sent as they are) or its
decoded frames, in batches, from a container of its own (`Reader`), and the facts a file
source needs first (`probe`: streams, loop period).

A stream demuxed from its own container plays in step with the other stream of the same
file even when the file is not interleaved. Times are file times (s) with the loop passes
added; packets carry RTP timestamps derived from them (Opus: exact, from the samples the
packets hold).
"""

from __future__ import annotations

import fractions
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av

from .codecs import opus_samples
from .fileinfo import open_media_file
from .pacing import AUDIO_PTIME, SAMPLE_RATE, SAMPLES_PER_FRAME

#: Codecs sent as the file's own packets.
PASSTHROUGH = {"audio": "opus", "video": "vp8"}
VIDEO_CLOCK = 90000


@dataclass(slots=True)
class Item:
    t: float  # file time (s), looping included: when it goes out after the origin
    ts: int  # RTP timestamp (packets) / pts (frames) on the stream's clock
    data: Any  # bytes (a packet), av.AudioFrame or av.VideoFrame
    key: bool = False


#: Files shorter than this (by their container) get their loop period from a demux-only
#: scan of every packet: exact, so a looping clip keeps exact RTP spacing at the wrap.
SCAN_BELOW = 300.0


def _stream_ends(container: Any, start: float, kinds: dict[str, Any]) -> dict[str, float]:
    """Where each stream's media ends (s from `start`), from its packets' times and
    durations (a container's durations include an Opus stream's end trimming)."""
    ends: dict[str, float] = {}
    for packet in container.demux():
        if packet.size == 0 or packet.pts is None or packet.time_base is None:
            continue
        stream = packet.stream
        facts = kinds.get(stream.type)
        if facts is None or stream.index != facts["index"]:
            continue
        end = float((packet.pts + (packet.duration or 0)) * packet.time_base) - start
        ends[stream.type] = max(ends.get(stream.type, 0.0), end)
    return ends


def _period(ends: dict[str, float], info: dict[str, Any]) -> float:
    """The loop period: where the longer stream ends, snapped to the video's frame grid
    (or Opus' 20 ms) when within 5 % of a step of it: containers store ms, and a loop
    that is a whole number of frames keeps exact RTP spacing at the wrap."""
    period = max(ends.values(), default=0.0)
    video = info.get("video")
    step = 1 / float(video["rate"]) if video and video["rate"] else None
    if step is None and info.get("audio") and info["audio"]["codec"] == PASSTHROUGH["audio"]:
        step = AUDIO_PTIME
    if step is not None and period > 0:
        steps = period / step
        if abs(steps - round(steps)) < 0.05:
            period = round(steps) * step
    return period


def probe(path: Path) -> dict[str, Any]:
    """Stream facts and the loop period (s): where the longer stream ends (a scan of the
    packets for short files, the container's duration for long ones)."""
    with open_media_file(path) as container:
        info: dict[str, Any] = {"start": 0.0, "audio": None, "video": None}
        if container.start_time is not None:
            info["start"] = container.start_time / av.time_base
        for kind in ("audio", "video"):
            streams = getattr(container.streams, kind)
            if streams:
                stream = streams[0]
                ctx = stream.codec_context
                info[kind] = {
                    "index": stream.index,
                    "codec": ctx.name,
                    "rate": stream.average_rate if kind == "video" else None,
                    "size": (ctx.width, ctx.height) if kind == "video" else None,
                }
        duration = (container.duration or 0) / av.time_base
        ends = {"all": duration}
        if duration < SCAN_BELOW:
            kinds = {k: info[k] for k in ("audio", "video") if info[k] is not None}
            ends = _stream_ends(container, info["start"], kinds) or ends
        info["period"] = _period(ends, info)
    return info


class Reader:
    """One stream of one file from its own container, read in blocking batches.

    `read()` runs in an executor thread, one call at a time (the owning track makes sure);
    `close()` may come from the loop at any time.
    """

    def __init__(
        self,
        path: Path,
        kind: str,
        *,
        info: dict[str, Any],
        loop: bool,
        decode: bool,
        size: tuple[int, int] | None = None,
    ) -> None:
        self.path = path
        self.kind = kind
        self.loop = loop
        self.decode = decode
        self.size = size
        self.start = float(info["start"])
        stream = info[kind] or {}
        self._rate = float(stream["rate"]) if stream.get("rate") else None
        self.period = float(info["period"])
        self.ended = False
        self._pass = 0
        self._container: Any = None
        self._demux: Any = None
        self._stream: Any = None
        self._samples = 0  # audio samples so far in this pass
        self._first: float | None = None  # file time of the pass's first audio
        self._resampler: Any = None
        self._lock = threading.Lock()
        self._closed = False

    def _open(self) -> None:
        self._container = open_media_file(self.path)
        self._stream = getattr(self._container.streams, self.kind)[0]
        self._demux = self._container.demux(self._stream)
        self._samples = 0
        self._first = None
        if self.decode and self.kind == "audio":
            self._resampler = av.AudioResampler(
                format="s16", layout="mono", rate=SAMPLE_RATE, frame_size=SAMPLES_PER_FRAME
            )

    def _close_container(self) -> None:
        if self._container is not None:
            self._container.close()
            self._container = self._demux = self._stream = None

    def close(self) -> None:
        self._closed = True
        if self._lock.acquire(blocking=False):  # else the running read() closes it
            try:
                self._close_container()
            finally:
                self._lock.release()

    def read(self, seconds: float) -> list[Item]:
        """About `seconds` of items (fewer at the end; none once ended)."""
        with self._lock:
            out: list[Item] = []
            try:
                while not self._closed and not self.ended:
                    if self._container is None:
                        self._open()
                    try:
                        packet = next(self._demux)
                    except StopIteration:
                        out.extend(self._flush())
                        self._close_container()
                        if self.loop and self.period > 0:
                            self._pass += 1
                        else:
                            self.ended = True
                        continue
                    out.extend(self._items(packet))
                    if out and out[-1].t - out[0].t >= seconds:
                        break
            finally:
                if self._closed:
                    self._close_container()
            return out

    def _offset(self) -> float:
        return self._pass * self.period

    def _file_time(self, pts: int | None, time_base: fractions.Fraction | None) -> float | None:
        if pts is None or time_base is None:
            return None
        rel = float(pts * time_base) - self.start
        if rel >= self.period > 0:
            return None  # past the loop period (container rounding): dropped
        return max(rel, 0.0)

    def _on_frame_grid(self, rel: float) -> float:
        """A constant-rate video's time snapped to its frame grid (WebM stores ms: 15 fps
        would otherwise give RTP steps of 6030 and 5940 instead of 6000)."""
        if self._rate:
            frames = rel * self._rate
            if abs(frames - round(frames)) < 0.05:
                return round(frames) / self._rate
        return rel

    def _items(self, packet: Any) -> list[Item]:
        if packet.size == 0:
            return []
        if self.decode:
            return self._decoded(packet.decode())
        data = bytes(packet)
        if self.kind == "video":
            rel = self._file_time(packet.pts, packet.time_base)
            if rel is None:
                return []
            t = self._offset() + self._on_frame_grid(rel)
            return [Item(t, round(t * VIDEO_CLOCK), data, bool(packet.is_keyframe))]
        # Opus: time from the samples the packets hold (their TOC), exact at 48 kHz.
        if self._first is None:
            first = self._file_time(packet.pts, packet.time_base)
            self._first = first if first is not None else 0.0
        rel = round(self._first * SAMPLE_RATE) + self._samples
        self._samples += opus_samples(data)
        if self.loop and rel >= round(self.period * SAMPLE_RATE):
            return []  # the encoder's padding past the period: the next pass starts here
        ts = round(self._offset() * SAMPLE_RATE) + rel
        return [Item(ts / SAMPLE_RATE, ts, data)]

    def _flush(self) -> list[Item]:
        if not self.decode or self._stream is None:
            return []
        items = self._decoded(self._stream.codec_context.decode(None))
        if self._resampler is not None:
            items += self._audio_chunks(self._resampler.resample(None))
        return items

    def _decoded(self, frames: list[Any]) -> list[Item]:
        items: list[Item] = []
        for frame in frames:
            if self.kind == "audio":
                if self._first is None:
                    first = self._file_time(frame.pts, frame.time_base)
                    self._first = first if first is not None else 0.0
                items += self._audio_chunks(self._resampler.resample(frame))
            else:
                rel = self._file_time(frame.pts, frame.time_base)
                if rel is None:
                    continue
                width, height = self.size or (frame.width & ~1, frame.height & ~1)
                out = frame.reformat(width=width, height=height, format="yuv420p")
                t = self._offset() + rel
                items.append(Item(t, 0, out))
        return items

    def _audio_chunks(self, chunks: list[Any]) -> list[Item]:
        items = []
        for chunk in chunks:
            t = self._offset() + (self._first or 0.0) + self._samples / SAMPLE_RATE
            self._samples += chunk.samples
            items.append(Item(t, 0, chunk))
        return items
