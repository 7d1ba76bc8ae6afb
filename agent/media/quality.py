"""Call-quality maths: Pexip's call-quality classes (both published rules) and one MOS.

**Pexip's classes** (`Quality`: 0 Unknown, 1 Good, 2 OK, 3 Bad, 4 Terrible, the numbers and
`N_label` strings of the management API) are given per 20 s window of packet loss, in two
published versions (`QualityRule`):

- `pexip_v26` (the v26 status API page, docs.pexip.com v19): loss below 1 % Good, below 3 %
  OK, below 10 % Bad, else Terrible; **then** a jitter above 40 ms steps the class one level
  down (Terrible stays Terrible). The value of a completed call is the most frequent window
  class.
- `pexip_current` (docs.pexip.com `admin/media_statistics.htm`): the same loss bands in both
  directions, no jitter step; the value of a completed call is the *average* of the windows.

Both: the live value is the most frequent class of the last three windows, and a call
shorter than one window is Unknown. Boundaries are the text's: "< 1 %" is Good, so exactly
1 % is OK; jitter must be "> 40 ms", so exactly 40 ms does not step down.

Declared where the text is silent: a tie between classes (three different windows, or an
even split) goes to the **worse** class, so a probe never hides a problem; an average is
rounded half up (towards worse), as Pexip's web client does with `Math.round`; a window
with no packets is Unknown and left out of live and completed values.

Units: loss in percent (0-100), jitter and delays in milliseconds. W3C-style statistics in
seconds or aiortc's RTP timestamp units must be converted first (`agent.media.rtpstats`).

**MOS** (`EModel`, `mos`): one named E-model variant, ITU-T G.107 with default values for
every parameter except delay and packet loss (the "simplified E-model"); constants cited on
`EModel`. Pexip publishes no MOS: keep it apart from the classes.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import IntEnum, StrEnum

__all__ = [
    "E_MODEL",
    "JITTER_STEP_MS",
    "LIVE_WINDOWS",
    "LOSS_BANDS",
    "WINDOW_SECONDS",
    "CounterSample",
    "EModel",
    "Quality",
    "QualityRule",
    "WindowFigures",
    "completed_quality",
    "live_quality",
    "loss_percent",
    "mos",
    "one_way_delay_ms",
    "split_windows",
    "window_quality",
    "worst",
]

#: Length of one classification window (both rules).
WINDOW_SECONDS = 20.0
#: The live value is the most frequent class of this many last windows.
LIVE_WINDOWS = 3
#: Upper bounds (exclusive, percent) of Good, OK and Bad; anything from 10 % on is Terrible.
LOSS_BANDS: tuple[float, float, float] = (1.0, 3.0, 10.0)
#: v26 only: jitter strictly above this (ms) steps the class one level down.
JITTER_STEP_MS = 40.0


class QualityRule(StrEnum):
    """Which published version of Pexip's call-quality rule."""

    PEXIP_V26 = "pexip_v26"
    PEXIP_CURRENT = "pexip_current"


class Quality(IntEnum):
    """A call-quality class; the numbers are the management API's."""

    UNKNOWN = 0
    GOOD = 1
    OK = 2
    BAD = 3
    TERRIBLE = 4

    @property
    def label(self) -> str:
        """The management API's string form: `1_good`, `4_terrible`, ..."""
        return f"{self.value}_{self.name.lower()}"

    @property
    def text(self) -> str:
        """`Good`, `OK`, ... for people."""
        return "OK" if self is Quality.OK else self.name.capitalize()

    @classmethod
    def parse(cls, value: str | int) -> Quality:
        """`"ok"`, `"OK"`, `"2_ok"`, `2` -> `Quality.OK`; ValueError naming the value."""
        if isinstance(value, int) and not isinstance(value, bool):
            return cls(value)
        text = str(value).strip().lower()
        head, _, tail = text.partition("_")
        if head.isdigit() and (not tail or cls(int(head)).name.lower() == tail):
            return cls(int(head))
        for member in cls:
            if member.name.lower() == text:
                return member
        raise ValueError(f"not a call-quality class: {value!r} (good, ok, bad, terrible)")


def worst(classes: Iterable[Quality]) -> Quality:
    """The worst known class (Unknown when there is none)."""
    known = [c for c in classes if c is not Quality.UNKNOWN]
    return max(known, default=Quality.UNKNOWN)


def _check_figure(name: str, value: float, upper: float | None = None) -> None:
    if not math.isfinite(value) or value < 0 or (upper is not None and value > upper):
        bound = f" and at most {upper:g}" if upper is not None else ""
        raise ValueError(f"{name} must be a finite number from 0{bound}, got {value!r}")


def window_quality(
    loss_percent: float | None, jitter_ms: float | None, rule: QualityRule
) -> Quality:
    """One window's class from its packet loss (percent) and jitter (ms).

    `loss_percent` None means no packets in the window: Unknown. `jitter_ms` None (not
    measured) never steps down. The current rule ignores jitter."""
    if loss_percent is None:
        return Quality.UNKNOWN
    _check_figure("loss_percent", loss_percent, 100.0)
    level = Quality.GOOD + sum(loss_percent >= bound for bound in LOSS_BANDS)
    if rule is QualityRule.PEXIP_V26 and jitter_ms is not None:
        _check_figure("jitter_ms", jitter_ms)
        if jitter_ms > JITTER_STEP_MS:
            level = min(level + 1, Quality.TERRIBLE)
    return Quality(level)


def _mode(classes: Sequence[Quality]) -> Quality:
    counts = Counter(classes)
    top = max(counts.values())
    return max(c for c, n in counts.items() if n == top)  # ties: the worse class


def live_quality(windows: Sequence[Quality]) -> Quality:
    """The live value (both rules): most frequent class of the last three known windows."""
    known = [w for w in windows if w is not Quality.UNKNOWN]
    return _mode(known[-LIVE_WINDOWS:]) if known else Quality.UNKNOWN


def completed_quality(windows: Sequence[Quality], rule: QualityRule) -> Quality:
    """The value of a completed call: v26 the most frequent window class, current the
    average of the windows (rounded half towards worse)."""
    known = [w for w in windows if w is not Quality.UNKNOWN]
    if not known:
        return Quality.UNKNOWN
    if rule is QualityRule.PEXIP_V26:
        return _mode(known)
    mean = sum(int(w) for w in known) / len(known)
    return Quality(math.floor(mean + 0.5))


# -- windows from cumulative counters --------------------------------------------------


def loss_percent(lost: int, expected: int) -> float | None:
    """Lost packets as a percentage of the expected (received + lost); None without any.

    Negative deltas (duplicates make RFC 3550's cumulative loss go down) count as 0."""
    if expected <= 0:
        return None
    return 100.0 * min(max(lost, 0), expected) / expected


@dataclass(frozen=True)
class CounterSample:
    """One stream's cumulative counters at time `t` (seconds on any one clock)."""

    t: float
    expected: int  # packets expected so far: received + lost
    lost: int  # packets lost so far (RFC 3550 cumulative)
    jitter_ms: float | None = None  # interarrival jitter now (ms)


@dataclass(frozen=True)
class WindowFigures:
    """One complete window of one stream."""

    start: float
    end: float
    expected: int
    lost: int
    loss_percent: float | None  # None: no packets in the window
    jitter_ms: float | None  # mean of the jitter readings inside the window

    def quality(self, rule: QualityRule) -> Quality:
        return window_quality(self.loss_percent, self.jitter_ms, rule)


def split_windows(
    samples: Sequence[CounterSample], start: float, window: float = WINDOW_SECONDS
) -> list[WindowFigures]:
    """Complete windows `[start + k*window, start + (k+1)*window)` of one stream.

    Loss comes from counter deltas between the samples nearest each boundary (the last
    sample at or before it; the first window starts from zero counters when there is no
    earlier sample); jitter is the mean of the window's readings. A trailing partial window
    is not returned: a call shorter than one window has none (Unknown)."""
    if window <= 0:
        raise ValueError("window must be positive")
    ordered = sorted(samples, key=lambda s: s.t)
    if not ordered:
        return []
    out: list[WindowFigures] = []
    k = 0
    while start + (k + 1) * window <= ordered[-1].t + 1e-9:
        lo, hi = start + k * window, start + (k + 1) * window
        before = [s for s in ordered if s.t <= lo + 1e-9]
        upto = [s for s in ordered if s.t <= hi + 1e-9]
        first = before[-1] if before else CounterSample(lo, 0, 0)
        last = upto[-1]
        expected = max(last.expected - first.expected, 0)
        lost = last.lost - first.lost
        jitters = [
            s.jitter_ms for s in ordered if lo < s.t <= hi + 1e-9 and s.jitter_ms is not None
        ]
        out.append(
            WindowFigures(
                start=lo,
                end=hi,
                expected=expected,
                lost=max(lost, 0),
                loss_percent=loss_percent(lost, expected),
                jitter_ms=sum(jitters) / len(jitters) if jitters else None,
            )
        )
        k += 1
    return out


# -- MOS: the E-model ------------------------------------------------------------------


@dataclass(frozen=True)
class EModel:
    """ITU-T G.107 (06/2015) E-model with default values for every parameter except the
    one-way delay Ta and the packet loss Ppl: the "simplified E-model".

    - `r0` = 93.2: Ro - Is with every G.107 default value (clause 7.7, "Default values",
      gives R = 93.2 for that set); the advantage factor A = 0.
    - Delay impairment Id = 0.024 Ta + 0.11 (Ta - 177.3) H(Ta - 177.3), H the unit step:
      the fit of G.107's Idd/Idte/Idle at default values by R. G. Cole and J. H.
      Rosenbluth, "Voice over IP performance monitoring", ACM SIGCOMM CCR 31(2), 2001.
    - Effective equipment impairment (G.107 clause 7.5):
      Ie,eff = Ie + (95 - Ie) * Ppl / (Ppl / BurstR + Bpl), Ppl in percent, BurstR = 1 for
      random loss (> 1 bursty).
    - Codec: `ie` = 0 and `bpl` = 25.1, G.711 with packet loss concealment under random
      loss (ITU-T G.113 Appendix I). G.107 (narrowband) has no Opus values: the probe
      rates its Opus calls as a concealing narrowband codec, comparable between runs, not
      a wideband score.
    - R -> MOS (G.107 Annex B): 1 for R < 0, 4.5 for R > 100, else
      1 + 0.035 R + R (R - 60)(100 - R) 7e-6, floored at 1 (the cubic dips below 1 for
      R < 6.5).
    """

    r0: float = 93.2
    ie: float = 0.0
    bpl: float = 25.1
    name: str = "ITU-T G.107 simplified E-model (G.711+PLC: Ie 0, Bpl 25.1; Id per Cole-Rosenbluth)"

    def delay_impairment(self, one_way_delay_ms: float) -> float:
        _check_figure("one_way_delay_ms", one_way_delay_ms)
        ta = one_way_delay_ms
        return 0.024 * ta + (0.11 * (ta - 177.3) if ta > 177.3 else 0.0)

    def loss_impairment(self, loss_percent: float, burst_ratio: float = 1.0) -> float:
        _check_figure("loss_percent", loss_percent, 100.0)
        if not math.isfinite(burst_ratio) or burst_ratio < 1:
            raise ValueError(f"burst_ratio must be at least 1, got {burst_ratio!r}")
        ppl = loss_percent
        return self.ie + (95.0 - self.ie) * ppl / (ppl / burst_ratio + self.bpl)

    def r_factor(
        self, one_way_delay_ms: float, loss_percent: float, burst_ratio: float = 1.0
    ) -> float:
        return (
            self.r0
            - self.delay_impairment(one_way_delay_ms)
            - self.loss_impairment(loss_percent, burst_ratio)
        )

    @staticmethod
    def mos_from_r(r: float) -> float:
        if r <= 0:
            return 1.0
        if r >= 100:
            return 4.5
        return max(1.0, 1 + 0.035 * r + r * (r - 60) * (100 - r) * 7e-6)

    def mos(self, one_way_delay_ms: float, loss_percent: float, burst_ratio: float = 1.0) -> float:
        return self.mos_from_r(self.r_factor(one_way_delay_ms, loss_percent, burst_ratio))


#: The one variant the probe uses.
E_MODEL = EModel()


def mos(one_way_delay_ms: float, loss_percent: float, burst_ratio: float = 1.0) -> float:
    """MOS (1-4.5) of the `E_MODEL` for a one-way delay (ms) and a packet loss (percent)."""
    return E_MODEL.mos(one_way_delay_ms, loss_percent, burst_ratio)


#: Added to the network half of the RTT when no media round trip was measured: 20 ms
#: packetization (one Opus frame) ...
PACKETIZATION_MS = 20.0
#: ... and a jitter buffer of this many times the interarrival jitter.
JITTER_BUFFER_FACTOR = 2.0


def one_way_delay_ms(
    *,
    media_round_trip_ms: float | None = None,
    rtt_ms: float | None = None,
    jitter_ms: float | None = None,
) -> float | None:
    """Ta, the mouth-to-ear delay the E-model wants.

    With a measured media round trip (a test call loops the probe's markers back) it is
    half of it: network, buffers and codecs of both ways, halved. Otherwise an estimate:
    half the RTCP round-trip time + a jitter buffer of `JITTER_BUFFER_FACTOR` x jitter +
    `PACKETIZATION_MS`. None when neither is known."""
    if media_round_trip_ms is not None:
        return media_round_trip_ms / 2
    if rtt_ms is None:
        return None
    return rtt_ms / 2 + JITTER_BUFFER_FACTOR * (jitter_ms or 0.0) + PACKETIZATION_MS
