"""Video freezes and audio gaps in what the probe receives.

- A **freeze** is a stretch with no *new* picture for more than 3 frame intervals: no
  decoded frame at all, or (on a test call, where each picture carries the probe's frame
  counter) frames that repeat an old counter, as a node does when it lost the probe's
  video. The frame interval is the median interval between new pictures of the call.
- An **audio gap** is missing audio longer than 3 frames (60 ms of 20 ms Opus frames):
  consecutive received Opus packets whose RTP timestamps skip more than 3 packet
  durations, whether the packets were lost or never sent.
"""

from __future__ import annotations

import itertools
import statistics
from dataclasses import dataclass, field

from agent import Continuity, opus_duration_ms

INTERVALS = 3  # more than this many frame intervals without a new picture is a freeze
MAX_EVENTS = 200  # events listed in the report (counts and totals cover all)


def _summary(events: list[tuple[float, float]]) -> Continuity:
    return Continuity(
        count=len(events),
        total_ms=round(sum(d for _, d in events), 1),
        longest_ms=round(max((d for _, d in events), default=0.0), 1),
        events=[(round(t, 3), round(d, 1)) for t, d in events[:MAX_EVENTS]],
    )


@dataclass
class FreezeDetector:
    """Fed with the arrival of every decoded frame and its counter (None without one)."""

    origin: float
    pictures: list[float] = field(default_factory=list)  # arrivals of new pictures
    _last_counter: int | None = None

    def frame(self, arrival: float, counter: int | None) -> None:
        if counter is not None:
            if counter == self._last_counter:
                return  # the same picture again
            self._last_counter = counter
        self.pictures.append(arrival)

    def summary(self, end: float | None = None) -> Continuity:
        times = self.pictures
        if len(times) < 3:
            return Continuity()
        gaps = [b - a for a, b in itertools.pairwise(times)]
        interval = statistics.median(gaps)
        events = [
            (a - self.origin, 1000.0 * (b - a))
            for a, b in itertools.pairwise(times)
            if b - a > INTERVALS * interval
        ]
        if end is not None and end - times[-1] > INTERVALS * interval:
            events.append((times[-1] - self.origin, 1000.0 * (end - times[-1])))
        return _summary(events)


@dataclass
class AudioGapDetector:
    """Fed with every received Opus packet (RTP timestamp, arrival)."""

    origin: float
    events: list[tuple[float, float]] = field(default_factory=list)
    _expected: int | None = None

    def packet(self, data: bytes, timestamp: int, arrival: float, clock_rate: int) -> None:
        duration = round(opus_duration_ms(data) * clock_rate / 1000) if data else 0
        duration = duration or clock_rate // 50
        if self._expected is not None:
            missing = timestamp - self._expected
            if missing > INTERVALS * duration:
                self.events.append((arrival - self.origin, 1000.0 * missing / clock_rate))
        if self._expected is None or timestamp + duration > self._expected:
            self._expected = timestamp + duration

    def summary(self) -> Continuity:
        return _summary(self.events)
