"""Media files as outgoing tracks: VP8/Opus streams sent as packets, anything else decoded.

- Each stream of a file is demuxed from its own container (`_Reader`), so a file whose
  streams are not interleaved (all video packets, then all audio) plays in sync: neither
  stream waits for the other to be read.
- A stream whose codec is VP8 or Opus (WebM, Matroska, IVF, Ogg) is sent as the file's
  packets, never decoded (`FilePacketTrack`; aiortc only packetizes them, see
  `agent.media.sender`). Any other codec, or a video that must be resized or re-timed
  (`size`/`fps`), is decoded to frames that aiortc encodes in its executor
  (`FileAudioTrack`, `FileVideoTrack`).
- Reading happens in batches of about a second in the event loop's default executor, never
  on the loop and without a thread per file; each track keeps what was read in a deque.
- Timing: both tracks of a file share one clock (`_SourceClock`): an item at file time `t`
  goes out at `origin + t`, the origin being set by the first track to send. Looping adds
  the file's duration (one period for both streams, so they stay in step forever); RTP
  timestamps come from file time (monotonic across the loops). After a stall longer than
  `RESYNC_AFTER` the origin moves instead of the backlog bursting out.
- A receiver's keyframe request on a packet video track is answered by transcoding
  (decode + encode, in the executor) from the requested frame up to the file's next
  keyframe, where the file's own packets take over again.
- With `loop=False`, audio continues as silence after the end and video stops; `finished`
  is set when every stream has been read to its end.
"""

from __future__ import annotations

import asyncio
import collections
import fractions
import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av
import numpy as np
from aiortc.mediastreams import MediaStreamError

from .codecs import opus_samples
from .sources import (
    AUDIO_PTIME,
    AUDIO_TIME_BASE,
    OPUS_SILENCE,
    RESYNC_AFTER,
    SAMPLE_RATE,
    SAMPLES_PER_FRAME,
    VIDEO_TIME_BASE,
    MediaSourceError,
    _open_file,
    _PacedTrack,
    audio_frame,
    black_yuv,
    video_frame,
)

log = logging.getLogger(__name__)

#: Codecs sent as the file's own packets.
PASSTHROUGH = {"audio": "opus", "video": "vp8"}
#: Packets since the last keyframe kept for transcoding on a keyframe request (beyond, a
#: request waits for the file's next keyframe).
GOP_KEPT = 600
#: Seconds of media one read job fetches, and how much must stay buffered ahead.
READ_SECONDS = 1.0
LOW_WATER = 0.5
VIDEO_CLOCK = 90000
_PICT_I = av.video.frame.PictureType.I
_PICT_NONE = av.video.frame.PictureType.NONE


@dataclass(slots=True)
class _Item:
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


def _probe(path: Path) -> dict[str, Any]:
    """Stream facts and the loop period (s): where the longer stream ends (a scan of the
    packets for short files, the container's duration for long ones)."""
    with _open_file(path) as container:
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


class _Reader:
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
        self._container = _open_file(self.path)
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

    def read(self, seconds: float) -> list[_Item]:
        """About `seconds` of items (fewer at the end; none once ended)."""
        with self._lock:
            out: list[_Item] = []
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

    def _items(self, packet: Any) -> list[_Item]:
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
            return [_Item(t, round(t * VIDEO_CLOCK), data, bool(packet.is_keyframe))]
        # Opus: time from the samples the packets hold (their TOC), exact at 48 kHz.
        if self._first is None:
            first = self._file_time(packet.pts, packet.time_base)
            self._first = first if first is not None else 0.0
        rel = round(self._first * SAMPLE_RATE) + self._samples
        self._samples += opus_samples(data)
        if self.loop and rel >= round(self.period * SAMPLE_RATE):
            return []  # the encoder's padding past the period: the next pass starts here
        ts = round(self._offset() * SAMPLE_RATE) + rel
        return [_Item(ts / SAMPLE_RATE, ts, data)]

    def _flush(self) -> list[_Item]:
        if not self.decode or self._stream is None:
            return []
        items = self._decoded(self._stream.codec_context.decode(None))
        if self._resampler is not None:
            items += self._audio_chunks(self._resampler.resample(None))
        return items

    def _decoded(self, frames: list[Any]) -> list[_Item]:
        items: list[_Item] = []
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
                items.append(_Item(t, 0, out))
        return items

    def _audio_chunks(self, chunks: list[Any]) -> list[_Item]:
        items = []
        for chunk in chunks:
            t = self._offset() + (self._first or 0.0) + self._samples / SAMPLE_RATE
            self._samples += chunk.samples
            items.append(_Item(t, 0, chunk))
        return items


class _SourceClock:
    """The one clock of a file's tracks: file time t is due at origin + t."""

    def __init__(self) -> None:
        self.origin: float | None = None
        self.resyncs = 0

    async def wait(self, t: float) -> None:
        loop = asyncio.get_running_loop()
        now = loop.time()
        if self.origin is None:
            self.origin = now - t
            return
        delay = self.origin + t - now
        if delay > 0:
            await asyncio.sleep(delay)
        elif delay < -RESYNC_AFTER:
            self.origin = now - t
            self.resyncs += 1

    def media_time(self) -> float | None:
        if self.origin is None:
            return None
        return asyncio.get_running_loop().time() - self.origin


class _Buffered:
    """A track's read-ahead: items from its reader, refilled in the executor."""

    def __init__(self, reader: _Reader, source: FileSource) -> None:
        self.reader = reader
        self.items: collections.deque[_Item] = collections.deque()
        self._source = source
        self._job: asyncio.Future[list[_Item]] | None = None

    def _ahead(self) -> float:
        return self.items[-1].t - self.items[0].t if self.items else 0.0

    def _refill(self) -> asyncio.Future[list[_Item]] | None:
        if self._job is None and not self.reader.ended and self._ahead() < LOW_WATER:
            job = asyncio.get_running_loop().run_in_executor(None, self.reader.read, READ_SECONDS)
            job.add_done_callback(self._landed)
            self._job = job
        return self._job

    def _landed(self, job: asyncio.Future[list[_Item]]) -> None:
        self._job = None
        if job.cancelled():
            return
        error = job.exception()
        if error is not None:
            log.warning("file source %s failed: %s", self.reader.path, error)
            self._source._failed(error)
            self.reader.ended = True
            return
        self.items.extend(job.result())
        if self.reader.ended:
            self._source._ended()

    async def next(self) -> _Item | None:
        """The next item (waiting for a read when none is buffered); None after the end."""
        await self.filled()
        if not self.items:
            return None
        item = self.items.popleft()
        self._refill()
        return item

    async def filled(self) -> None:
        """Wait until something is buffered (or the stream ended)."""
        while not self.items:
            job = self._refill()
            if job is None:
                return
            await asyncio.shield(job)

    def peek_until(self, t: float) -> _Item | None:
        """Drop and return the last buffered item due by `t` (None if none is)."""
        last = None
        while self.items and self.items[0].t <= t:
            last = self.items.popleft()
        self._refill()
        return last


class _Transcoder:
    """Answers a keyframe request on a passthrough VP8 track: decodes the file's frames
    from its last keyframe and re-encodes them (the first as a keyframe) until the file's
    next keyframe. Runs in the executor; one call at a time."""

    def __init__(self, gop: list[bytes]) -> None:
        self._decoder: Any = av.CodecContext.create("vp8", "r")
        self._encoder: Any = None
        self._pending = list(gop)  # to decode before the first frame we send
        self._n = 0

    def step(self, data: bytes) -> bytes | None:
        for earlier in self._pending:
            self._decoder.decode(av.Packet(earlier))
        self._pending = []
        frames = self._decoder.decode(av.Packet(data))
        if not frames:
            return None
        frame = frames[-1]
        if self._encoder is None:
            enc: Any = av.CodecContext.create("libvpx", "w")
            enc.width, enc.height, enc.pix_fmt = frame.width, frame.height, "yuv420p"
            enc.time_base = fractions.Fraction(1, VIDEO_CLOCK)
            enc.bit_rate = max(len(data) * 8 * 30, 300_000)
            enc.options = {"deadline": "realtime", "cpu-used": "8", "lag-in-frames": "0"}
            self._encoder = enc
        out = frame.reformat(format="yuv420p")
        out.pts = self._n
        out.time_base = self._encoder.time_base
        out.pict_type = _PICT_I if self._n == 0 else _PICT_NONE
        self._n += 1
        packets = self._encoder.encode(out)
        return bytes(packets[0]) if packets else None


class FilePacketTrack(_PacedTrack):
    """A VP8 or Opus stream of a file, sent as its packets at their file times."""

    def __init__(self, source: FileSource, reader: _Reader) -> None:
        super().__init__(AUDIO_PTIME)  # the pacer only paces the silence after the end
        self.kind = reader.kind
        self._source = source
        self._buffer = _Buffered(reader, source)
        self._gop: list[bytes] = []  # video: packets since the last keyframe
        self._want_key = False
        self._transcoder: _Transcoder | None = None
        self._ts_end = 0
        self.keyframes_requested = 0

    def request_keyframe(self) -> None:
        """A receiver asked for a keyframe: transcode until the file's next one."""
        if self.kind == "video":
            self.keyframes_requested += 1
            self._want_key = True

    async def _keyframe_path(self, item: _Item) -> bytes:
        if item.key:
            self._gop = [item.data]
            self._want_key = False
            self._transcoder = None
            return bytes(item.data)
        if self._want_key and self._transcoder is None and len(self._gop) < GOP_KEPT:
            self._want_key = False
            self._transcoder = _Transcoder(self._gop)
        if len(self._gop) < GOP_KEPT:
            self._gop.append(item.data)
        elif self._transcoder is None:
            self._want_key = False  # too far from a keyframe to decode: wait for the next
        if self._transcoder is None:
            return bytes(item.data)
        out = await asyncio.get_running_loop().run_in_executor(
            None, self._transcoder.step, item.data
        )
        return bytes(item.data) if out is None else out

    async def recv(self) -> av.Packet[Any]:
        if self.readyState != "live":
            raise MediaStreamError
        item = await self._buffer.next()
        if item is None:
            return await self._after_end()
        await self._source.clock.wait(item.t)
        if self.readyState != "live":
            raise MediaStreamError
        data = await self._keyframe_path(item) if self.kind == "video" else item.data
        packet = av.Packet(data)
        packet.pts = item.ts
        packet.time_base = VIDEO_TIME_BASE if self.kind == "video" else AUDIO_TIME_BASE
        self._ts_end = item.ts + (opus_samples(data) if self.kind == "audio" else 0)
        return packet

    async def _after_end(self) -> av.Packet[Any]:
        if self.kind == "video":
            # Nothing more to show: wait until the track is stopped.
            await self._source.stopped.wait()
            raise MediaStreamError
        await self._tick()
        packet = av.Packet(OPUS_SILENCE)
        packet.pts = self._ts_end
        packet.time_base = AUDIO_TIME_BASE
        self._ts_end += SAMPLES_PER_FRAME
        return packet


class FileAudioTrack(_PacedTrack):
    """A decoded audio stream (mono 48 kHz, 20 ms frames); silence on underflow and after
    the end."""

    kind = "audio"

    def __init__(self, source: FileSource, reader: _Reader) -> None:
        super().__init__(AUDIO_PTIME)
        self._source = source
        self._buffer = _Buffered(reader, source)
        self._zeros = np.zeros(SAMPLES_PER_FRAME, dtype=np.int16)
        self._n = 0
        self.underflows = 0

    async def recv(self) -> av.AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        item = await self._buffer.next()
        pts = self._n * SAMPLES_PER_FRAME
        self._n += 1
        if item is None:
            self.underflows += 1
            await self._tick()
            return audio_frame(self._zeros, pts)
        await self._source.clock.wait(item.t)
        frame: av.AudioFrame = item.data
        frame.pts = pts
        frame.time_base = AUDIO_TIME_BASE
        return frame


class FileVideoTrack(_PacedTrack):
    """A decoded video stream at `fps`: each tick sends the latest picture due (the last
    one again on underflow, black before the first)."""

    kind = "video"

    def __init__(
        self, source: FileSource, reader: _Reader, fps: float, size: tuple[int, int]
    ) -> None:
        super().__init__(1 / fps)
        self._source = source
        self._buffer = _Buffered(reader, source)
        self._ticks = round(VIDEO_CLOCK / fps)
        self._last: av.VideoFrame = video_frame(black_yuv(*size), 0)
        self.underflows = 0

    async def recv(self) -> av.VideoFrame:
        n = await self._tick()
        if n == 0:
            await self._buffer.filled()  # the first picture, rather than black
        clock = self._source.clock
        if clock.origin is None:
            await clock.wait(0.0)
        now = clock.media_time() or 0.0
        # The picture nearest in time: due within half a frame period from now.
        item = self._buffer.peek_until(now + self._pacer.period / 2)
        if item is None:
            self.underflows += 1
        else:
            self._last = item.data
        frame = self._last
        frame.pts = n * self._ticks
        frame.time_base = VIDEO_TIME_BASE
        frame.pict_type = _PICT_NONE
        return frame


class FileSource:
    """A media file played looped (or once) as `audio` and `video` tracks.

    Streams in VP8/Opus are sent as packets (`passthrough[kind]` says which), unless
    `passthrough=False`, or `size`/`fps` ask for a video that differs from the file's.
    Call `stop()` when done; `finished` is set once a non-looping file has been read to
    its end, `error` holds what stopped a read.
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
        passthrough: bool = True,
    ) -> None:
        self.path = Path(path)
        self.loop = loop
        info = _probe(self.path)
        has_audio = info["audio"] is not None and audio
        has_video = info["video"] is not None and video
        if not has_audio and not has_video:
            raise MediaSourceError(f"cannot play {self.path}: no audio or video stream")
        self.clock = _SourceClock()
        self.stopped = asyncio.Event()
        self.finished = threading.Event()
        self.error: BaseException | None = None
        self.passthrough: dict[str, bool] = {}
        self._readers: list[_Reader] = []
        self._ended_readers = 0
        self.audio: FilePacketTrack | FileAudioTrack | None = None
        self.video: FilePacketTrack | FileVideoTrack | None = None
        if has_audio:
            packets = passthrough and info["audio"]["codec"] == PASSTHROUGH["audio"]
            reader = self._reader(info, "audio", decode=not packets)
            self.passthrough["audio"] = packets
            self.audio = FilePacketTrack(self, reader) if packets else FileAudioTrack(self, reader)
        if has_video:
            stream = info["video"]
            own_size = stream["size"]
            out_size = size or own_size or (320, 240)
            rate = float(fps or stream["rate"] or 30)
            packets = (
                passthrough
                and stream["codec"] == PASSTHROUGH["video"]
                and fps is None
                and (size is None or tuple(size) == tuple(own_size))
            )
            reader = self._reader(info, "video", decode=not packets, size=out_size)
            self.passthrough["video"] = packets
            self.video = (
                FilePacketTrack(self, reader)
                if packets
                else FileVideoTrack(self, reader, rate, out_size)
            )

    def _reader(
        self, info: dict[str, Any], kind: str, *, decode: bool, size: tuple[int, int] | None = None
    ) -> _Reader:
        reader = _Reader(self.path, kind, info=info, loop=self.loop, decode=decode, size=size)
        self._readers.append(reader)
        return reader

    def _ended(self) -> None:
        self._ended_readers += 1
        if self._ended_readers >= len(self._readers):
            self.finished.set()

    def _failed(self, error: BaseException) -> None:
        self.error = error
        self._ended()

    def stop(self) -> None:
        """End both tracks and close the files (idempotent)."""
        self.stopped.set()
        for track in (self.audio, self.video):
            if track is not None:
                track.stop()
        for reader in self._readers:
            reader.close()


__all__ = [
    "PASSTHROUGH",
    "FileAudioTrack",
    "FilePacketTrack",
    "FileSource",
    "FileVideoTrack",
]
