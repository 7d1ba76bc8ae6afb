"""The node's main video out: each shown source encoded once, its packets fanned out.

- Every main call's outgoing video is a `FanoutTrack`: a queue of VP8 packets that aiortc
  only packetizes (`agent.media.sender`). The conference's `VideoFanout` ticks at
  `video_fps`; on each tick it asks whom each receiver is shown (`choose`, the speaker
  choice), keeps one `_Encoding` (one libvpx encoder at the layout size) per shown source
  (and one for black, when somebody sees nobody), encodes every encoding's picture once in
  the conference's video thread (one job per tick), and hands the same packet to every
  receiver of it. Unwatched sources are not decoded at all (`SourceVideo.hold`).
- A switch is seamless: the receiver keeps getting its old source until the new encoding
  produced a keyframe of a real picture (a switch forces one); the first picture of a call
  is black until then. A receiver's PLI/FIR forces a keyframe on its encoding; a receiver
  whose queue overflowed drops frames until the next keyframe, which it asks for.
- RTP timestamps come from the tick index: monotonic with exact spacing across switches.
- Lip sync: the picture encoded on a tick is the source's frame captured when the audio
  leaving now was (`audio_delay`, the source's audio path: aiortc's receive buffer and the
  mixer's jitter buffer), so audio and video of one talker leave the node together.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import av
from aiortc import MediaStreamTrack
from aiortc.mediastreams import MediaStreamError

from agent.media.codecs import vp8_is_keyframe
from agent.media.loops import CAMERA_BITS_PER_PIXEL, VideoLoop, black_loop, vp8_encoder
from agent.media.pacing import VIDEO_TIME_BASE, Pacer
from agent.media.sources import black_yuv, video_frame

from .sourcevideo import SourceVideo
from .video import Rescaler, to_yuv

log = logging.getLogger(__name__)

#: Packets a receiver may have waiting (beyond: dropped, and a keyframe asked for).
QUEUE_FRAMES = 5
#: The encoder's own keyframe interval (s); switches and PLIs force them in between.
KEY_SECONDS = 10.0
_PICT_I = av.video.frame.PictureType.I
_PICT_NONE = av.video.frame.PictureType.NONE


class Source(Protocol):
    """A main call as the fan-out sees it (`calls.Source`)."""

    @property
    def call_uuid(self) -> str: ...

    @property
    def participant_uuid(self) -> str: ...

    @property
    def video(self) -> SourceVideo: ...


class FanoutTrack(MediaStreamTrack):
    """One receiver's main video: the packets of the encoding it is shown, as they come."""

    kind = "video"

    def __init__(self, fanout: VideoFanout, receiver: str) -> None:
        super().__init__()
        self.receiver = receiver  # participant uuid
        self.acked = asyncio.Event()
        self.encoding: _Encoding | None = None  # what it gets
        self.pending: _Encoding | None = None  # what it switches to at its next keyframe
        self._fanout = fanout
        self._queue: deque[tuple[bytes, int]] = deque()
        self._ready = asyncio.Event()
        self._need_key = True
        self.sent = 0
        self.dropped = 0

    def request_keyframe(self) -> None:
        """The receiver asked for a keyframe (PLI/FIR): its encoding makes one."""
        if self.encoding is not None:
            self.encoding.force_key = True

    def push(self, data: bytes, key: bool, pts: int) -> None:
        if self._need_key and not key:
            return  # undecodable before a keyframe
        if len(self._queue) >= QUEUE_FRAMES:
            self._queue.clear()
            self.dropped += 1
            self._need_key = True
            self.request_keyframe()
            if not key:
                return
        self._need_key = False
        self._queue.append((data, pts))
        self._ready.set()

    async def recv(self) -> av.Packet[Any]:
        while not self._queue:
            if self.readyState != "live":
                raise MediaStreamError
            self._ready.clear()
            await self._ready.wait()
        if self.readyState != "live":
            raise MediaStreamError
        data, pts = self._queue.popleft()
        packet = av.Packet(data)
        packet.pts = pts
        packet.time_base = VIDEO_TIME_BASE
        self.sent += 1
        return packet

    def stop(self) -> None:
        super().stop()
        self._ready.set()
        self.acked.set()


class _Encoding:
    """One libvpx encoder: `source`'s picture (None: black) at the layout size. Its codec is
    only touched in the conference's video thread."""

    def __init__(self, source: Source | None, size: tuple[int, int], fps: float) -> None:
        self.source = source
        self.size = size
        self.fps = fps
        self.force_key = True
        self.frames = 0
        self._codec: Any = None
        self._black: VideoLoop | None = None
        self._black_at = 0

    def _black_frame(self, key: bool) -> bytes:
        # Black is the process's pre-encoded loop: nothing to encode. Every picture is the
        # same, so restarting it at its keyframe is exact.
        if self._black is None:
            self._black = black_loop(*self.size, self.fps)
        if key:
            self._black_at = 0
        index = self._black_at % self._black.length
        self._black.ensure(index)
        self._black_at += 1
        return self._black.frames[index]

    def encode(self, frame: av.VideoFrame | None, key: bool, pts: int) -> tuple[bytes, bool]:
        if frame is None and self.source is None:
            data = self._black_frame(key)
            self.frames += 1
            return data, vp8_is_keyframe(data)
        width, height = self.size
        if self._codec is None:
            interval = max(1, round(KEY_SECONDS * self.fps))
            self._codec = vp8_encoder(
                width, height, self.fps, interval, bits_per_pixel=CAMERA_BITS_PER_PIXEL
            )
        yuv = black_yuv(width, height) if frame is None else to_yuv(frame, self.size)
        picture = video_frame(yuv, pts)
        picture.time_base = self._codec.time_base
        picture.pict_type = _PICT_I if key else _PICT_NONE
        packets = self._codec.encode(picture)
        data = b"".join(bytes(p) for p in packets)
        self.frames += 1
        return data, vp8_is_keyframe(data)


@dataclass
class _Job:
    encoding: _Encoding
    frame: av.VideoFrame | None
    key: bool
    real: bool  # a picture of the source (not black while it has none yet)


def _encode_all(jobs: list[_Job], pts: int) -> list[tuple[_Job, bytes, bool]]:
    return [(job, *job.encoding.encode(job.frame, job.key, pts)) for job in jobs]


class VideoFanout:
    """The conference's main video out (see the module docstring)."""

    def __init__(
        self,
        size: tuple[int, int],
        fps: float,
        worker: Rescaler,
        choose: Callable[[str], Source | None],
        audio_delay: Callable[[Source], float],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.size = size
        self.fps = fps
        self._ticks = round(90000 / fps)
        self._worker = worker
        self._choose = choose
        self._audio_delay = audio_delay
        self._clock = clock
        self.tracks: dict[str, FanoutTrack] = {}  # by call uuid
        self._encodings: dict[str | None, _Encoding] = {}  # by source call uuid (None: black)
        self._busy = False
        self.ticks = 0
        self.overruns = 0  # ticks skipped: the previous tick's encoding still ran
        self.encoded = 0

    @property
    def encodings(self) -> int:
        """Encoders running now: one per shown source (and black)."""
        return len(self._encodings)

    def track_for(self, call: Source) -> FanoutTrack:
        track = self.tracks.get(call.call_uuid)
        if track is None:
            track = self.tracks[call.call_uuid] = FanoutTrack(self, call.participant_uuid)
        return track

    def remove(self, call: Source) -> None:
        track = self.tracks.pop(call.call_uuid, None)
        if track is not None:
            track.stop()
        self._prune()

    async def run(self) -> None:
        """Tick at `fps` until cancelled."""
        pacer = Pacer(1 / self.fps)
        while True:
            n = await pacer.next()
            try:
                self.tick(n)
            except Exception:  # one bad tick must not end the conference's video
                log.exception("video fan-out tick failed")

    # -- one tick ----------------------------------------------------------------------

    def _encoding(self, source: Source | None) -> _Encoding:
        key = None if source is None else source.call_uuid
        encoding = self._encodings.get(key)
        if encoding is None:
            encoding = self._encodings[key] = _Encoding(source, self.size, self.fps)
            if source is not None:
                source.video.hold("shown")
        return encoding

    def _prune(self) -> None:
        used = {id(e) for t in self.tracks.values() for e in (t.encoding, t.pending) if e}
        for key, encoding in list(self._encodings.items()):
            if id(encoding) not in used:
                del self._encodings[key]
                if encoding.source is not None:
                    encoding.source.video.release("shown")

    def _waiting_on(self, encoding: _Encoding) -> bool:
        """A receiver with nothing to show waits for this encoding (gets black from it)."""
        return any(t.pending is encoding and t.encoding is None for t in self.tracks.values())

    def tick(self, n: int) -> None:
        self.ticks += 1
        for track in self.tracks.values():
            if not track.acked.is_set() or track.readyState != "live":
                continue
            encoding = self._encoding(self._choose(track.receiver))
            if track.encoding is encoding:
                track.pending = None
            elif track.pending is not encoding:
                track.pending = encoding
                encoding.force_key = True
        self._prune()
        if self._busy:
            self.overruns += 1
            return
        now = self._clock()
        jobs = []
        for encoding in self._encodings.values():
            frame = None
            if encoding.source is not None:
                video = encoding.source.video
                frame = video.frame_captured_by(now - self._audio_delay(encoding.source))
                if frame is None and not self._waiting_on(encoding):
                    continue  # nothing decoded yet, and nobody needs a picture meanwhile
            key, encoding.force_key = encoding.force_key, False
            jobs.append(_Job(encoding, frame, key, real=frame is not None or not encoding.source))
        if not jobs:
            return
        self._busy = True
        future = self._worker.run(_encode_all, jobs, n * self._ticks)
        future.add_done_callback(lambda f: self._encoded(f, n * self._ticks))

    def _encoded(self, future: asyncio.Future[list[tuple[_Job, bytes, bool]]], pts: int) -> None:
        self._busy = False
        if future.cancelled():
            return
        error = future.exception()
        if error is not None:
            log.error("video encoding failed", exc_info=error)
            return
        results = future.result()
        made: dict[int, tuple[bytes, bool]] = {}
        for job, data, key in results:
            self.encoded += 1
            if key and not job.real:
                job.encoding.force_key = True  # the source's first picture: a keyframe too
            if not data:
                continue
            made[id(job.encoding)] = (data, key)
            for track in self.tracks.values():
                if track.pending is job.encoding and key and (job.real or track.encoding is None):
                    track.encoding, track.pending = job.encoding, None
        # One packet per track and tick (after any switch): two frames with one RTP
        # timestamp would be joined into one by the receiver's jitter buffer.
        for track in self.tracks.values():
            got = made.get(id(track.encoding))
            if got is not None:
                track.push(got[0], got[1], pts)
        self._prune()

    def close(self) -> None:
        for track in self.tracks.values():
            track.stop()
        self.tracks.clear()
        self._prune()


__all__ = ["FanoutTrack", "VideoFanout"]
