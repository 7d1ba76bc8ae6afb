"""`CpuHeadroom`: how many more bots a worker's CPU budget allows, from what it measures.

A fixed `--capacity` is right only for the bots it was measured with: a recorder costs a
few % of a core, a probe decoding video more, a signalling-only bot almost nothing. With a
CPU budget (`--cpu-budget`, in cores), the worker measures its own process's CPU over the
last few seconds (its bots run in it), learns what one running bot costs from that, and
claims another job only while the budget leaves room for one more at that cost.
`--capacity` stays the hard ceiling.

"auto" takes the budget from the container's CPU limit (cgroup v2 `cpu.max`, or v1's CFS
quota), else the CPUs this process may run on, and keeps 20 % of it spare: joins cost more
than steady state, and the event loop needs slack to pace media on time.
"""

from __future__ import annotations

import math
import os
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path

#: Share of an "auto" budget the worker fills.
AUTO_SHARE = 0.8
#: Cost assumed for a bot before one has been measured (cores): a recording bot with
#: audio and 640x480 video measured 2.7-3.4 % of a core (`bench vs_chromium`), rounded up
#: for joins.
DEFAULT_BOT_CORES = 0.05
#: CPU is averaged over this window (s).
WINDOW = 5.0
_CGROUP = Path("/sys/fs/cgroup")


def process_cpu_seconds() -> float:
    """CPU time of this process, every thread (s)."""
    return time.process_time()


def cgroup_cpu_limit(root: Path = _CGROUP) -> float | None:
    """The container's CPU limit in cores (cgroup v2 `cpu.max`, v1 CFS quota); None if none."""
    try:
        quota, _, period = (root / "cpu.max").read_text().strip().partition(" ")
        if quota != "max":
            return int(quota) / int(period or "100000")
        return None
    except (OSError, ValueError):
        pass
    try:
        quota_us = int((root / "cpu" / "cpu.cfs_quota_us").read_text())
        period_us = int((root / "cpu" / "cpu.cfs_period_us").read_text())
    except (OSError, ValueError):
        return None
    return quota_us / period_us if quota_us > 0 and period_us > 0 else None


def auto_budget(root: Path = _CGROUP) -> float:
    """`AUTO_SHARE` of the container's CPU limit, else of the CPUs this process may use."""
    limit = cgroup_cpu_limit(root)
    if limit is None:
        limit = float(len(os.sched_getaffinity(0)))
    return round(limit * AUTO_SHARE, 3)


class CpuHeadroom:
    """Bots a CPU budget (cores) still has room for, measured as the worker runs."""

    def __init__(
        self,
        budget: float,
        *,
        bot_cores: float = DEFAULT_BOT_CORES,
        cpu_seconds: Callable[[], float] = process_cpu_seconds,
        clock: Callable[[], float] = time.monotonic,
        window: float = WINDOW,
    ) -> None:
        if budget <= 0 or bot_cores <= 0:
            raise ValueError("the CPU budget and a bot's cost must be positive")
        self.budget = budget
        self.default_bot_cores = bot_cores
        self._cpu_seconds = cpu_seconds
        self._clock = clock
        self._window = window
        self._samples: deque[tuple[float, float]] = deque()
        #: Cores the process used over the window, and the bots it ran meanwhile.
        self.used = 0.0
        self._bots: deque[tuple[float, int]] = deque()

    def _sample(self, running: int) -> None:
        now = self._clock()
        self._samples.append((now, self._cpu_seconds()))
        self._bots.append((now, running))
        while len(self._samples) > 2 and now - self._samples[1][0] >= self._window:
            self._samples.popleft()
        while len(self._bots) > 1 and now - self._bots[0][0] > self._window:
            self._bots.popleft()
        (t0, c0), (t1, c1) = self._samples[0], self._samples[-1]
        if t1 > t0:
            self.used = max(0.0, (c1 - c0) / (t1 - t0))

    def bot_cores(self) -> float:
        """What one bot costs: the measured CPU over the fewest bots that ran in the window
        (a bot that just left still weighs in it), never below half the default (idle
        bots of a quiet minute would otherwise let in a flood)."""
        fewest = min((n for _, n in self._bots), default=0)
        if fewest <= 0:
            return self.default_bot_cores
        return max(self.used / fewest, self.default_bot_cores / 2)

    def room(self, running: int) -> int:
        """How many more bots fit in the budget now (0 when it is spent)."""
        self._sample(running)
        cost = self.bot_cores()
        # Bots just started have not shown their cost yet: count them at the estimate.
        spare = self.budget - max(self.used, running * cost)
        if spare <= 0:
            return 0
        return math.floor(spare / cost + 1e-9)
