"""Per-node sequence tracking of event-sink events: duplicates, gaps, late arrivals.

A node numbers its events per sink from 1; a retried POST repeats a number with the same
`time`; a sink restart starts again from 1 with new times. So an already seen number with
the same time is a duplicate, and a seen number with another time is a new series.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Literal

SEEN_WINDOW = 4096  # numbers remembered per node for duplicate detection

Verdict = Literal["new", "duplicate", "late"]


@dataclass(frozen=True)
class SequenceGap:
    """Events `first`..`last` of `node` never arrived (so far)."""

    node: str
    first: int
    last: int
    reason: str

    @property
    def count(self) -> int:
        return self.last - self.first + 1


class _Series:
    def __init__(self) -> None:
        self.last = 0
        self.seen: OrderedDict[int, float | None] = OrderedDict()
        self.missing: list[tuple[int, int]] = []

    def remember(self, seq: int, when: float | None) -> None:
        self.seen[seq] = when
        self.seen.move_to_end(seq)
        while len(self.seen) > SEEN_WINDOW:
            self.seen.popitem(last=False)

    def fill(self, seq: int) -> bool:
        for i, (low, high) in enumerate(self.missing):
            if low <= seq <= high:
                parts = [(low, seq - 1), (seq + 1, high)]
                self.missing[i : i + 1] = [(a, b) for a, b in parts if a <= b]
                return True
        return False


class SequenceTracker:
    """Judges each (node, seq, time) and records the gaps it reveals."""

    def __init__(self) -> None:
        self._series: dict[str, _Series] = {}

    def last(self, node: str) -> int:
        series = self._series.get(node)
        return 0 if series is None else series.last

    def nodes(self) -> dict[str, int]:
        return {node: s.last for node, s in self._series.items()}

    def restore(self, node: str, seq: int, when: float | None) -> None:
        """Resume from a saved event (a restarted receiver reading its JSONL file)."""
        series = self._series.setdefault(node, _Series())
        series.last = max(series.last, seq)
        series.remember(seq, when)

    def judge(self, node: str, seq: int, when: float | None) -> tuple[Verdict, SequenceGap | None]:
        series = self._series.get(node)
        if series is None:
            series = self._series[node] = _Series()
            series.last = seq
            series.remember(seq, when)
            if seq > 1:
                series.missing.append((1, seq - 1))
                return "new", SequenceGap(node, 1, seq - 1, "before the first event received")
            return "new", None
        if seq in series.seen:
            if series.seen[seq] == when:
                return "duplicate", None
            # Same number, other time: the node's sink restarted its numbering.
            self._series[node] = _Series()
            return self.judge(node, seq, when)
        if seq == series.last + 1:
            series.last = seq
            series.remember(seq, when)
            return "new", None
        if seq > series.last + 1:
            gap = SequenceGap(node, series.last + 1, seq - 1, "missing between events")
            series.missing.append((gap.first, gap.last))
            series.last = seq
            series.remember(seq, when)
            return "new", gap
        if series.fill(seq):
            series.remember(seq, when)
            return "late", None
        if seq == 1:
            # Restarted numbering whose earlier numbers fell out of the window.
            self._series[node] = _Series()
            return self.judge(node, seq, when)
        return "duplicate", None
