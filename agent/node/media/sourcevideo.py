"""One participant's incoming video at the node: watched encoded, decoded only on demand.

- The receiver gets an encoded-frame tap (`agent.media.tap`) with decoding off: the node
  counts frames and knows who sends video without decoding anything. Decoding is on while
  someone holds it (`hold("shown")` by the fan-out while a receiver is shown this source;
  another holder, e.g. a quality probe, may hold it to measure); turning it on asks the
  sender for a keyframe so the decoder can start at once.
- Decoded frames go into a short history stamped with the tap's arrival (when the frame's
  last packet came: the tap takes aiortc's buffering out). The fan-out picks the frame that
  arrived when the audio it is sending now did (`frame_captured_by`, the nearest): lip
  sync through the node.
"""

from __future__ import annotations

import contextlib
import logging
from collections import deque
from collections.abc import Callable, Coroutine
from typing import Any

import av
from aiortc import MediaStreamTrack, RTCRtpReceiver
from aiortc.mediastreams import MediaStreamError

from agent.media.tap import EncodedFrame, EncodedTap

log = logging.getLogger(__name__)

#: Decoded frames kept to pick from (s): more than the audio path's delay.
HISTORY_SECONDS = 0.6
#: Video counts as sent while encoded frames arrived within this long.
ACTIVE_WITHIN = 2.0
_ARRIVALS_KEPT = 128


class SourceVideo:
    """A participant's incoming video: tap, on-demand decoding, captured-time history."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._spawn: Callable[[Coroutine[Any, Any, None], str], None] | None = None
        self.tap: EncodedTap | None = None
        self._holders: set[str] = set()
        self._arrivals: deque[tuple[int, float]] = deque(maxlen=_ARRIVALS_KEPT)
        self.history: deque[tuple[float, av.VideoFrame]] = deque()
        self.frames_decoded = 0
        self.keyframes_requested = 0

    # -- the encoded side ----------------------------------------------------------------

    def attach(
        self,
        receiver: RTCRtpReceiver,
        counted: Callable[[str], None],
        spawn: Callable[[Coroutine[Any, Any, None], str], None],
    ) -> None:
        """Tap `receiver` (decoding off until held); `spawn` runs a task owned by the call."""
        if self.tap is not None:
            return
        self._spawn = spawn
        self.tap = EncodedTap(receiver, clock=self._clock, decode=bool(self._holders))

        def seen(frame: EncodedFrame) -> None:
            counted("video")
            self._arrivals.append((frame.timestamp, frame.arrival))

        self.tap.subscribe(seen)

    @property
    def active(self) -> bool:
        """Encoded video arrived recently (the participant sends video)."""
        tap = self.tap
        return (
            tap is not None
            and tap.last_arrival is not None
            and self._clock() - tap.last_arrival < ACTIVE_WITHIN
        )

    # -- decoding on demand ----------------------------------------------------------------

    @property
    def decoding(self) -> bool:
        return bool(self._holders)

    def hold(self, holder: str) -> None:
        """Decode while at least one holder holds (asks the sender for a keyframe)."""
        first = not self._holders
        self._holders.add(holder)
        if first and self.tap is not None:
            self.tap.decode = True
            self.keyframes_requested += 1
            if self._spawn is not None:
                self._spawn(self._request_keyframe(), "mixer-video-pli")

    def release(self, holder: str) -> None:
        if holder not in self._holders:
            return  # not held by it: nothing changes (callers may release every tick)
        self._holders.discard(holder)
        if not self._holders:
            if self.tap is not None:
                self.tap.decode = False
            self.history.clear()

    async def _request_keyframe(self) -> None:
        if self.tap is not None:
            with contextlib.suppress(Exception):  # the connection may be closing
                await self.tap.request_keyframe()

    async def read(self, track: MediaStreamTrack) -> None:
        """Keep the decoded frames (only come while decoding) until the track ends."""
        with contextlib.suppress(MediaStreamError):
            while True:
                frame = await track.recv()
                if isinstance(frame, av.VideoFrame) and self._holders:
                    self._keep(frame)

    def _keep(self, frame: av.VideoFrame) -> None:
        self.frames_decoded += 1
        arrival = next((a for ts, a in reversed(self._arrivals) if ts == frame.pts), None)
        captured = arrival if arrival is not None else self._clock()
        self.history.append((captured, frame))
        while len(self.history) > 1 and self.history[0][0] < captured - HISTORY_SECONDS:
            self.history.popleft()

    @property
    def seq(self) -> int:
        """Counts decoded frames: a new value means a new picture."""
        return self.frames_decoded

    @property
    def frame(self) -> av.VideoFrame | None:
        """The newest decoded frame."""
        return self.history[-1][1] if self.history else None

    def frame_captured_by(self, t: float) -> av.VideoFrame | None:
        """The frame that arrived nearest to `t` (None before the first)."""
        if not self.history:
            return None
        return min(self.history, key=lambda item: abs(item[0] - t))[1]
