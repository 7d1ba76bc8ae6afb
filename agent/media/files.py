"""Media files as outgoing tracks: VP8/Opus streams sent as packets, anything else decoded.

- Each stream of a file is demuxed from its own container (`Reader`), so a file whose
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
from pathlib import Path
from typing import Any

import av
import numpy as np
from aiortc.mediastreams import MediaStreamError

from .codecs import opus_samples
from .fileinfo import MediaSourceError
from .filereader import PASSTHROUGH, VIDEO_CLOCK, Item, Reader, probe
from .pacing import (
    AUDIO_PTIME,
    AUDIO_TIME_BASE,
    OPUS_SILENCE,
    RESYNC_AFTER,
    SAMPLES_PER_FRAME,
    VIDEO_TIME_BASE,
    PacedTrack,
)
from .sources import audio_frame, black_yuv, video_frame

log = logging.getLogger(__name__)

#: Packets since the last keyframe kept for transcoding on a keyframe request (beyond, a
#: request waits for the file's next keyframe).
GOP_KEPT = 600
#: Seconds of media one read job fetches, and how much must stay buffered ahead.
READ_SECONDS = 1.0
LOW_WATER = 0.5
_PICT_I = av.video.frame.PictureType.I
_PICT_NONE = av.video.frame.PictureType.NONE


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

    def __init__(self, reader: Reader, source: FileSource) -> None:
        self.reader = reader
        self.items: collections.deque[Item] = collections.deque()
        self._source = source
        self._job: asyncio.Future[list[Item]] | None = None

    def _ahead(self) -> float:
        return self.items[-1].t - self.items[0].t if self.items else 0.0

    def _refill(self) -> asyncio.Future[list[Item]] | None:
        if self._job is None and not self.reader.ended and self._ahead() < LOW_WATER:
            job = asyncio.get_running_loop().run_in_executor(None, self.reader.read, READ_SECONDS)
            job.add_done_callback(self._landed)
            self._job = job
        return self._job

    def _landed(self, job: asyncio.Future[list[Item]]) -> None:
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

    async def next(self) -> Item | None:
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

    def peek_until(self, t: float) -> Item | None:
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
            enc.thread_count = 1  # see agent.media.loops.vp8_encoder
            enc.options = {"deadline": "realtime", "cpu-used": "8", "lag-in-frames": "0"}
            self._encoder = enc
        out = frame.reformat(format="yuv420p")
        out.pts = self._n
        out.time_base = self._encoder.time_base
        out.pict_type = _PICT_I if self._n == 0 else _PICT_NONE
        self._n += 1
        packets = self._encoder.encode(out)
        return bytes(packets[0]) if packets else None


class FilePacketTrack(PacedTrack):
    """A VP8 or Opus stream of a file, sent as its packets at their file times."""

    def __init__(self, source: FileSource, reader: Reader) -> None:
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

    async def _keyframe_path(self, item: Item) -> bytes:
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


class FileAudioTrack(PacedTrack):
    """A decoded audio stream (mono 48 kHz, 20 ms frames); silence on underflow and after
    the end."""

    kind = "audio"

    def __init__(self, source: FileSource, reader: Reader) -> None:
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


class FileVideoTrack(PacedTrack):
    """A decoded video stream at `fps`: each tick sends the latest picture due (the last
    one again on underflow, black before the first)."""

    kind = "video"

    def __init__(
        self, source: FileSource, reader: Reader, fps: float, size: tuple[int, int]
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
        info = probe(self.path)
        has_audio = info["audio"] is not None and audio
        has_video = info["video"] is not None and video
        if not has_audio and not has_video:
            raise MediaSourceError(f"cannot play {self.path}: no audio or video stream")
        self.clock = _SourceClock()
        self.stopped = asyncio.Event()
        self.finished = threading.Event()
        self.error: BaseException | None = None
        self.passthrough: dict[str, bool] = {}
        self._readers: list[Reader] = []
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
    ) -> Reader:
        reader = Reader(self.path, kind, info=info, loop=self.loop, decode=decode, size=size)
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
