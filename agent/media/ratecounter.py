"""aiortc's incoming-bitrate counter without a thousand objects per video receiver.

`aiortc.rate.RateCounter` keeps its 1 ms buckets as 1,000 `RateBucket` instances, made for
every received video stream (`RemoteBitrateEstimator`) and alive for the whole call: in the
node about half of the objects a call creates, all made at once when a participant joins.
The garbage collector walks each of them on every full pass, and a mass join allocates them
by the ten thousand, which is what starts those passes right then (see
`agent.node.heap`). `CompactRateCounter` keeps the same buckets as two lists of ints (ints
are not tracked by the collector) and computes exactly what aiortc's does.
`install_compact_rate_counter()` puts it in place of `aiortc.rate.RateCounter`, which
`RemoteBitrateEstimator` looks up when it is created.

Private API: `check_rate_counter_seam()` raises RuntimeError("aiortc private seam moved:
...") if the class is gone or its constructor changed; `tests/unit/test_media_seam.py`
fails loudly if it moves, and `tests/unit/test_rate_counter.py` checks that both counters
agree.
"""

from __future__ import annotations

import inspect
import threading

from aiortc import rate

_lock = threading.Lock()
_original: list[type] = []


class CompactRateCounter:
    """Rate counter storing the amount received in 1 ms buckets (aiortc's, compact)."""

    def __init__(self, window_size: int, scale: int = 8000) -> None:
        self._origin_index = 0
        self._origin_ms: int | None = None
        self._scale = scale
        self._window_size = window_size
        self.reset()

    def add(self, value: int, now_ms: int) -> None:
        if self._origin_ms is None:
            self._origin_ms = now_ms
        else:
            self._erase_old(now_ms)
        index = (self._origin_index + now_ms - self._origin_ms) % self._window_size
        self._counts[index] += 1
        self._values[index] += value
        self._total_count += 1
        self._total_value += value

    def rate(self, now_ms: int) -> int | None:
        if self._origin_ms is not None:
            self._erase_old(now_ms)
            active_window_size = now_ms - self._origin_ms + 1
            if self._total_count > 0 and active_window_size > 1:
                return round(self._scale * self._total_value / active_window_size)
        return None

    def reset(self) -> None:
        self._counts = [0] * self._window_size
        self._values = [0] * self._window_size
        self._origin_index = 0
        self._origin_ms = None
        self._total_count = 0
        self._total_value = 0

    def _erase_old(self, now_ms: int) -> None:
        assert self._origin_ms is not None
        new_origin_ms = now_ms - self._window_size + 1
        while self._origin_ms < new_origin_ms:
            index = self._origin_index
            self._total_count -= self._counts[index]
            self._total_value -= self._values[index]
            self._counts[index] = 0
            self._values[index] = 0
            self._origin_index = (index + 1) % self._window_size
            self._origin_ms += 1


def check_rate_counter_seam() -> None:
    """Raise RuntimeError if aiortc's RateCounter is gone or no longer built the same way."""
    original = _original[0] if _original else getattr(rate, "RateCounter", None)
    if not isinstance(original, type):
        raise RuntimeError("aiortc private seam moved: aiortc.rate.RateCounter is gone")
    params = list(inspect.signature(original).parameters)
    if params != ["window_size", "scale"] or not all(
        callable(getattr(original, name, None)) for name in ("add", "rate", "reset")
    ):
        raise RuntimeError(f"aiortc private seam moved: aiortc.rate.RateCounter{params}")


def install_compact_rate_counter() -> None:
    """Put `CompactRateCounter` in place of aiortc's (idempotent, thread-safe; checked)."""
    with _lock:
        if _original:
            return
        check_rate_counter_seam()
        _original.append(rate.RateCounter)
        rate.RateCounter = CompactRateCounter  # type: ignore[misc,assignment]


def original_rate_counter() -> type:
    """aiortc's own RateCounter (for tests that compare the two)."""
    return _original[0] if _original else rate.RateCounter
