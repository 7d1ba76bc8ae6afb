"""aiortc's wall clock without datetime arithmetic.

aiortc stamps every RTP packet it sends with `clock.current_ntp_time()` twice (the
abs-send-time extension, the sender report's clock) and every packet it receives with
`clock.current_ms()`; both build a timezone-aware `datetime` and subtract the NTP epoch
from it, several microseconds each, on the per-packet path. `install_fast_clock()`
replaces those two functions of `aiortc.clock` (which aiortc's modules call through the
module, `clock.current_ntp_time()`) with equivalents computed from `time.time()`: the same
values (NTP seconds since 1900 with a 32-bit fraction; milliseconds since 1900).

Private API: `check_clock_seam()` verifies the functions exist under those names and that
the replacements agree with aiortc's own (RuntimeError "aiortc private seam moved: ...");
`tests/unit/test_media_seam.py` fails loudly if they move.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from aiortc import clock

#: Seconds from the NTP epoch (1900-01-01) to the Unix epoch (1970-01-01).
NTP_UNIX_OFFSET = 2_208_988_800

_lock = threading.Lock()
_originals: dict[str, Callable[[], int]] = {}


def current_ntp_time() -> int:
    """NTP time now: seconds since 1900 in the high 32 bits, the fraction in the low 32."""
    now = time.time()
    seconds = int(now)
    return ((seconds + NTP_UNIX_OFFSET) << 32) | int((now - seconds) * 4294967296.0)


def current_ms() -> int:
    """Milliseconds since the NTP epoch (aiortc's arrival times)."""
    return int((time.time() + NTP_UNIX_OFFSET) * 1000)


_FAST: dict[str, Callable[[], int]] = {
    "current_ntp_time": current_ntp_time,
    "current_ms": current_ms,
}


def check_clock_seam() -> None:
    """Raise RuntimeError("aiortc private seam moved: ...") if aiortc's clock functions are
    gone or the replacements no longer agree with them."""
    problems = []
    for name, fast in _FAST.items():
        original = _originals.get(name, getattr(clock, name, None))
        if not callable(original) or original is fast:
            problems.append(f"aiortc.clock.{name} is gone")
            continue
        ours, theirs = fast(), original()
        # current_ntp_time: 2**32 units a second; allow 50 ms between the two calls.
        tolerance = 50 if name == "current_ms" else 50 * 2**32 // 1000
        if abs(ours - theirs) > tolerance:
            problems.append(f"aiortc.clock.{name} no longer means what it did ({theirs})")
    if problems:
        raise RuntimeError("aiortc private seam moved: " + "; ".join(problems))


def install_fast_clock() -> None:
    """Replace aiortc's per-packet clock functions (idempotent, thread-safe; checked)."""
    with _lock:
        if _originals:
            return
        check_clock_seam()
        for name, fast in _FAST.items():
            _originals[name] = getattr(clock, name)
            setattr(clock, name, fast)


def fast_clock_installed() -> bool:
    return all(getattr(clock, name) is fast for name, fast in _FAST.items())
