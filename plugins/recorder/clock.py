"""One clock for every track: RTP timestamps mapped onto the bot's monotonic clock.

Each stream is anchored at its first frame: `time = arrival0 + (ts - ts0) / clock_rate`.
Audio and video thus land on the same (monotonic) time axis, and a stretch where nothing
arrived stays exactly as long as the sender's clock says (RTP timestamps keep running
while a sender is cut off). Arrival jitter does not move the mapping.

The stream is re-anchored at a frame when the timestamps cannot be trusted any more:
- they went backwards (a re-call: aiortc restarts them at 0 for a new receiver);
- the frame is more than `resync` s *earlier* than the mapping says (timestamps jumped
  ahead of real time, or the anchor frame itself had been delayed);
- it is more than `resync` s *later* (a sender whose timestamps stood still while it was
  gone; or frames held up by the network, in which case the next frame on time is
  "earlier" and re-anchors back: only the held-up frames are placed at their arrival).
Jitter below `resync` (a late frame, a retransmission) does not move the mapping.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class StreamClock:
    clock_rate: int
    resync: float = 0.5
    resyncs: int = 0
    _offset: float | None = None  # arrival - ts / rate of the anchor
    _last_ts: int = 0

    def map(self, timestamp: int, arrival: float) -> float:
        """The monotonic time of a frame with this RTP timestamp that arrived at `arrival`."""
        media = timestamp / self.clock_rate
        offset = arrival - media
        if self._offset is None:
            self._offset = offset
        elif timestamp < self._last_ts or abs(offset - self._offset) > self.resync:
            self._offset = offset
            self.resyncs += 1
        self._last_ts = timestamp
        return media + self._offset
