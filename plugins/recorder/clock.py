"""One clock for every track: RTP timestamps mapped onto the bot's monotonic clock.

A stream's frame is placed at `time = ts / clock_rate + offset`, where `offset` is the
stream's estimate of `arrival - ts / clock_rate` for a frame that met no queueing on the
way: the *lower envelope* of what the frames show. Network delay only ever adds to an
arrival, so the smallest value over a window is the best one, and it is the same for
audio and video of one sender: both land on the bot's clock within a few ms, whatever
each stream's first frame met (jitter, a stall).

The offset starts at the first frame's and is then re-estimated from the frames of each
window of media time (0.25 s after an anchor, doubling up to `window`): the minimum over
the last `keep` windows. That also follows a sender whose clock runs fast or slow against
the bot's (tens to hundreds of ppm: 0.72 s an hour at 200 ppm) with a lag of a few
windows (~1 ms at 200 ppm), so the file's time axis is the bot's, not the sender's: a
recording does not drift against wall time, and a gap keeps its real length even when
the timestamps restart after it (a re-call), where the mapping can only come from arrival.

A stretch where nothing arrived stays exactly as long as the sender's clock says (RTP
timestamps keep running while a sender is cut off); jitter and stalls below `resync`
(a late frame, a retransmission, a 200 ms hold-up) do not move the mapping.

The stream is re-anchored at a frame when the timestamps cannot be trusted any more:
- they went backwards (a re-call: aiortc restarts them at 0 for a new receiver);
- the frame is more than `resync` s *earlier* than the mapping says (timestamps jumped
  ahead of real time, or the anchor frame itself had been delayed);
- it is more than `resync` s *later* (a sender whose timestamps stood still while it was
  gone; or frames held up by the network, in which case the next frame on time is
  "earlier" and re-anchors back: only the held-up frames are placed at their arrival).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

FIRST_WINDOW = 0.25  # s of media after an anchor before the first re-estimate


@dataclass
class StreamClock:
    clock_rate: int
    resync: float = 0.5
    window: float = 2.0  # s of media per offset estimate, at most
    keep: int = 3  # estimates the offset is the minimum of
    resyncs: int = 0
    _offset: float | None = None  # arrival - ts / rate, as the mapping has it
    _last_ts: int = 0
    _window_start: float = 0.0  # media time the current window started at
    _window_len: float = FIRST_WINDOW
    _window_min: float = 0.0  # smallest arrival - media in the current window
    _minima: deque[float] = field(default_factory=deque)  # of the last windows

    def map(self, timestamp: int, arrival: float) -> float:
        """The monotonic time of a frame with this RTP timestamp that arrived at `arrival`."""
        media = timestamp / self.clock_rate
        sample = arrival - media
        if self._offset is None:
            self._anchor(media, sample)
        elif timestamp < self._last_ts or abs(sample - self._offset) > self.resync:
            self._anchor(media, sample)
            self.resyncs += 1
        else:
            self._window_min = min(self._window_min, sample)
            if media - self._window_start >= self._window_len:
                self._minima.append(self._window_min)
                if len(self._minima) > self.keep:
                    self._minima.popleft()
                self._offset = min(self._minima)
                self._window_start, self._window_min = media, sample
                self._window_len = min(2 * self._window_len, self.window)
        self._last_ts = timestamp
        assert self._offset is not None
        return media + self._offset

    def _anchor(self, media: float, sample: float) -> None:
        self._offset = self._window_min = sample
        self._window_start, self._window_len = media, FIRST_WINDOW
        self._minima.clear()
