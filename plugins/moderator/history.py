"""One participant's voice activity over time, from `stage` events: talk ratio over a
window, the current talk burst, when they last spoke.

Stage events are sent on change only, so a state holds until the next event says
otherwise: talk time is integrated over time, never counted per event. A VAD that flaps
(on/off around a syllable gap, or a level near its threshold) must not cut a burst into
pieces: gaps up to `merge_gap` seconds are bridged when measuring bursts (the talk ratio
still counts only the time the VAD was on).
"""

from __future__ import annotations

from collections import deque

__all__ = ["VoiceHistory"]


class VoiceHistory:
    """Speech intervals of one participant within `horizon` seconds, and its burst."""

    __slots__ = ("_intervals", "_talk", "burst_start", "horizon", "last_end", "merge_gap", "since")

    def __init__(self, horizon: float, merge_gap: float) -> None:
        self.horizon = horizon
        self.merge_gap = merge_gap
        #: Start of the ongoing interval (None while silent).
        self.since: float | None = None
        #: End of the last finished interval (None if it never spoke).
        self.last_end: float | None = None
        #: Start of the current burst: intervals separated by gaps <= merge_gap.
        self.burst_start: float | None = None
        self._intervals: deque[tuple[float, float]] = deque()
        self._talk = 0.0  # sum of the finished intervals kept

    @property
    def speaking(self) -> bool:
        return self.since is not None

    def start(self, now: float) -> None:
        if self.since is not None:
            return
        bridged = (
            self.burst_start is not None
            and self.last_end is not None
            and now - self.last_end <= self.merge_gap
        )
        if not bridged:
            self.burst_start = now
        self.since = now

    def stop(self, now: float) -> None:
        if self.since is None:
            return
        if now > self.since:
            self._intervals.append((self.since, now))
            self._talk += now - self.since
        self.since = None
        self.last_end = now
        self._prune(now)

    def _prune(self, now: float) -> None:
        cutoff = now - self.horizon
        while self._intervals and self._intervals[0][1] <= cutoff:
            start, end = self._intervals.popleft()
            self._talk -= end - start

    def talk_time(self, now: float, window: float) -> float:
        """Seconds of voice activity in the last `window` seconds."""
        self._prune(now)
        cutoff = now - window
        total = self._talk
        # Intervals that begin before the window count only in part (few: they are old).
        for start, end in self._intervals:
            if start >= cutoff:
                break
            total -= min(end, cutoff) - start
        if self.since is not None:
            total += now - max(self.since, cutoff)
        return max(total, 0.0)

    def in_burst(self, now: float) -> bool:
        """Speaking, or silent for no longer than `merge_gap` after speaking."""
        if self.since is not None:
            return True
        return self.last_end is not None and now - self.last_end <= self.merge_gap

    def burst(self, now: float) -> float:
        """Length of the current burst in seconds (0 when not in one)."""
        if self.burst_start is None or not self.in_burst(now):
            return 0.0
        end = now if self.since is not None else (self.last_end or now)
        return end - self.burst_start

    def silent_for(self, now: float, since_join: float) -> float:
        """Seconds since it last spoke (or since `since_join` if it never did)."""
        if self.since is not None:
            return 0.0
        return now - (self.last_end if self.last_end is not None else since_join)
