"""Video: incoming frames kept and rescaled off the loop, paced outgoing tracks, and whose
picture each receiver is shown.

- Readers keep each incoming track's latest decoded frame (`LatestFrame`). A receiver asks
  for it as a yuv420p array (`LatestFrame.yuv`): the conversion (PyAV `reformat`, which
  releases the GIL) runs once per source frame in the mixer's video thread (`Rescaler`),
  and every receiver of that frame awaits the same job. The event loop never scales.
- Every outgoing video track (`PacedVideoTrack`) sends a fresh frame per receiver: aiortc's
  encoder sets `pict_type` on the frame it encodes, and new frames start with `pict_type`
  NONE (decoded frames may carry `I`, which would make every frame a keyframe).
- `SpeakerChoice` picks, per receiver, the most recent speaker other than itself who sends
  video, held for `video_switch_hold` after a switch so two people talking at once do not
  make the picture flap.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import av
import numpy as np
import numpy.typing as npt
from aiortc import MediaStreamTrack
from aiortc.mediastreams import MediaStreamError

from agent.media.sources import Pacer, video_frame

log = logging.getLogger(__name__)

Yuv = npt.NDArray[np.uint8]
T = TypeVar("T")


def to_yuv(frame: av.VideoFrame, size: tuple[int, int] | None) -> Yuv:
    # yuv420p needs even sizes; None keeps the frame's own (rounded down to even).
    width, height = size if size is not None else (frame.width & ~1, frame.height & ~1)
    scaled = frame.reformat(width=width, height=height, format="yuv420p")
    return np.asarray(scaled.to_ndarray(), dtype=np.uint8)


class Rescaler:
    """One conference's video conversions, in one worker thread (created on first use)."""

    def __init__(self) -> None:
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None

    def submit(self, frame: av.VideoFrame, size: tuple[int, int] | None) -> asyncio.Future[Yuv]:
        return self.run(to_yuv, frame, size)

    def run(self, fn: Callable[..., T], *args: Any) -> asyncio.Future[T]:
        """`fn(*args)` in the conference's video thread (encoding, scaling)."""
        if self._pool is None:
            self._pool = concurrent.futures.ThreadPoolExecutor(
                max_workers=1, thread_name_prefix="mixer-video"
            )
        return asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)

    def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)


class LatestFrame:
    """The newest decoded frame of one incoming video track, and its yuv420p copy at
    `size` (None: the frame's own size), made once per frame by the `Rescaler`."""

    def __init__(self, rescaler: Rescaler, size: tuple[int, int] | None) -> None:
        self._rescaler = rescaler
        self._size = size
        self.frame: av.VideoFrame | None = None
        self.seq = 0
        self._done: tuple[int, Yuv | None] | None = None
        self._job: tuple[int, asyncio.Future[Yuv]] | None = None

    def put(self, frame: av.VideoFrame) -> None:
        self.frame = frame
        self.seq += 1

    async def read(self, track: MediaStreamTrack, counted: Callable[[str], None]) -> None:
        """Keep the incoming track's latest frame until the track ends."""
        with contextlib.suppress(MediaStreamError):
            while True:
                frame = await track.recv()
                counted("video")
                if isinstance(frame, av.VideoFrame):
                    self.put(frame)

    async def yuv(self) -> Yuv | None:
        """The latest frame converted; None before the first frame (or if it cannot be)."""
        frame, seq = self.frame, self.seq
        if frame is None:
            return None
        if self._done is not None and self._done[0] == seq:
            return self._done[1]
        if self._job is None or self._job[0] != seq:
            self._job = (seq, self._rescaler.submit(frame, self._size))
        job_seq, future = self._job
        try:
            # Shielded: one receiver's cancellation must not cancel the others' job.
            yuv: Yuv | None = await asyncio.shield(future)
        except asyncio.CancelledError:
            if not future.cancelled():
                raise  # our own task is being cancelled
            return None  # the rescaler closed under us (the conference's media stopped)
        except Exception:
            if self._done is None or self._done[0] < job_seq:
                log.warning("video frame %d could not be converted", job_seq, exc_info=True)
            yuv = None
        if self._done is None or self._done[0] < job_seq:
            self._done = (job_seq, yuv)
        return yuv


class PacedVideoTrack(MediaStreamTrack):
    """An outgoing video track at `fps`, silent until its call is acked: sends what
    `source` gives, nothing while it gives None."""

    kind = "video"

    def __init__(self, fps: float, source: Callable[[], Awaitable[Yuv | None]]) -> None:
        super().__init__()
        self._pacer = Pacer(1 / fps)
        self._ticks = round(90000 / fps)
        self._source = source
        self.acked = asyncio.Event()

    def _check(self) -> None:
        if self.readyState != "live":
            raise MediaStreamError

    async def recv(self) -> av.VideoFrame:
        while True:
            await self.acked.wait()
            self._check()
            n = await self._pacer.next()
            self._check()
            yuv = await self._source()
            self._check()
            if yuv is not None:
                return video_frame(yuv, n * self._ticks)

    def stop(self) -> None:
        super().stop()
        self.acked.set()


@dataclass(frozen=True)
class _Shown:
    uuid: str
    since: float
    speaker: bool  # chosen as a speaker (held), or as the fallback picture (not held)


class SpeakerChoice:
    """Whose video each receiver sees (by participant uuid)."""

    def __init__(self, hold: float) -> None:
        self._hold = hold
        self._shown: dict[str, _Shown] = {}  # receiver -> whose video, since when

    def choose(
        self, receiver: str, with_video: Mapping[str, T], speakers: Sequence[str], now: float
    ) -> T | None:
        """The most recent speaker in `with_video` (the others sending video, in join order);
        if none has spoken, the first of them; None (black) if there is nobody."""
        chosen = next((u for u in speakers if u in with_video), None)
        speaker = chosen is not None
        if chosen is None:
            chosen = next(iter(with_video), None)
        if chosen is None:
            return None
        # Hold a speaker's picture for a moment after a switch. A fallback picture (nobody
        # has spoken yet) gives way to the first speaker at once.
        shown = self._shown.get(receiver)
        if (
            shown is not None
            and shown.speaker
            and shown.uuid in with_video
            and shown.uuid != chosen
            and now - shown.since < self._hold
        ):
            return with_video[shown.uuid]
        if shown is None or shown.uuid != chosen or shown.speaker != speaker:
            self._shown[receiver] = _Shown(chosen, now, speaker)
        return with_video[chosen]

    def forget(self, receiver: str) -> None:
        self._shown.pop(receiver, None)
