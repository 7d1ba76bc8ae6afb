"""Per-second media figures from cumulative RTP snapshots, and the 20 s windows, classes and
MOS built on them.

A snapshot (`MediaSnapshot`, from `context.media_snapshot()`) holds cumulative counters in
explicit units; each second's figures are the deltas between two snapshots. Per stream
and direction the counters are also kept as `CounterSample`s, from which the windows are
cut (`split_windows`: loss from counter deltas, jitter the window's mean reading).
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from dataclasses import dataclass, field

from agent import (
    CounterSample,
    MediaSnapshot,
    Quality,
    QualityRule,
    RuleClasses,
    SecondSample,
    StreamWindow,
    WindowFigures,
    WindowReport,
    completed_quality,
    live_quality,
    loss_percent,
    one_way_delay_ms,
    split_windows,
    worst,
)
from agent import mos as e_model_mos

KINDS = ("audio", "video")
DIRECTIONS = ("send", "receive")
Key = tuple[str, str]  # (kind, direction)


@dataclass
class _Previous:
    at: float
    snapshot: MediaSnapshot


@dataclass
class Sampler:
    """Turns snapshots into `SecondSample` rows and per-stream counter samples."""

    origin: float  # the probe's start on the same clock (report times are relative to it)
    seconds: list[SecondSample] = field(default_factory=list)
    counters: dict[Key, list[CounterSample]] = field(default_factory=dict)
    first_at: float | None = None  # first snapshot with media: windows start here
    _previous: _Previous | None = None

    def add(self, snap: MediaSnapshot) -> None:
        if not snap.streams:
            return
        if self.first_at is None:
            self.first_at = snap.at
        previous = self._previous
        self._previous = _Previous(snap.at, snap)
        t = round(snap.at - self.origin, 3)
        for kind, stream in snap.streams.items():
            if kind not in KINDS:
                continue
            rx, tx = stream.rx, stream.tx
            if rx is not None:
                self.counters.setdefault((kind, "receive"), []).append(
                    CounterSample(
                        snap.at,
                        rx.packets_received + rx.packets_lost,
                        rx.packets_lost,
                        rx.jitter_ms,
                    )
                )
            if tx is not None and tx.remote_expected is not None:
                self.counters.setdefault((kind, "send"), []).append(
                    CounterSample(
                        snap.at,
                        tx.remote_expected,
                        tx.remote_packets_lost or 0,
                        tx.remote_jitter_ms,
                    )
                )
            if previous is None:
                continue
            elapsed = snap.at - previous.at
            before = previous.snapshot.streams.get(kind)
            if before is None or elapsed <= 0:
                continue
            if rx is not None:
                old = before.rx
                expected = rx.packets_received + rx.packets_lost
                old_expected = old.packets_received + old.packets_lost if old else 0
                lost = rx.packets_lost - (old.packets_lost if old else 0)
                frames = rx.frames - (old.frames if old else 0)
                self.seconds.append(
                    SecondSample(
                        t=t,
                        kind=kind,
                        direction="receive",
                        packets=max(expected - old_expected, 0),
                        lost=max(lost, 0),
                        loss_percent=_round(loss_percent(lost, expected - old_expected)),
                        jitter_ms=round(rx.jitter_ms, 2),
                        bitrate_kbps=round(
                            (rx.bytes - (old.bytes if old else 0)) * 8 / elapsed / 1000, 1
                        ),
                        fps=round(frames / elapsed, 1) if kind == "video" else None,
                    )
                )
            if tx is not None:
                old_tx = before.tx
                lost_tx: int | None = None
                loss_tx: float | None = None
                if tx.remote_expected is not None and old_tx and old_tx.remote_expected is not None:
                    lost_tx = (tx.remote_packets_lost or 0) - (old_tx.remote_packets_lost or 0)
                    loss_tx = loss_percent(lost_tx, tx.remote_expected - old_tx.remote_expected)
                sent = tx.packets_sent - (old_tx.packets_sent if old_tx else 0)
                self.seconds.append(
                    SecondSample(
                        t=t,
                        kind=kind,
                        direction="send",
                        packets=max(sent, 0),
                        lost=None if lost_tx is None else max(lost_tx, 0),
                        loss_percent=_round(loss_tx),
                        jitter_ms=_round(tx.remote_jitter_ms),
                        rtt_ms=_round(tx.rtt_ms),
                        bitrate_kbps=round(
                            (tx.bytes_sent - (old_tx.bytes_sent if old_tx else 0))
                            * 8
                            / elapsed
                            / 1000,
                            1,
                        ),
                    )
                )

    def windows(self) -> dict[Key, list[WindowFigures]]:
        if self.first_at is None:
            return {}
        return {
            key: split_windows(samples, self.first_at) for key, samples in self.counters.items()
        }

    def total_loss(self, kind: str, direction: str) -> float | None:
        samples = self.counters.get((kind, direction))
        if not samples:
            return None
        # From zero, not from the first sample: the first second's losses count too.
        last = samples[-1]
        return _round(loss_percent(last.lost, last.expected))

    def rtts(self) -> list[float]:
        return [s.rtt_ms for s in self.seconds if s.rtt_ms is not None]


def _round(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)


@dataclass(frozen=True)
class Assessment:
    windows: list[WindowReport]
    classes: dict[QualityRule, RuleClasses]


def assess(
    sampler: Sampler, round_trips: Iterable[tuple[float, float]], origin: float
) -> Assessment:
    """Windows with their classes (both rules, per direction and for the call) and MOS;
    `round_trips` are (time, audio round trip ms) of the markers."""
    per_stream = sampler.windows()
    count = min((len(w) for w in per_stream.values()), default=0)
    trips = list(round_trips)
    reports: list[WindowReport] = []
    per_direction: dict[QualityRule, dict[str, list[Quality]]] = {
        rule: {d: [] for d in DIRECTIONS} for rule in QualityRule
    }
    per_call: dict[QualityRule, list[Quality]] = {rule: [] for rule in QualityRule}
    for index in range(count):
        streams: list[StreamWindow] = []
        figures: list[tuple[str, WindowFigures]] = []
        for (kind, direction), windows in sorted(per_stream.items()):
            window = windows[index]
            figures.append((direction, window))
            streams.append(
                StreamWindow(
                    kind=kind,
                    direction=direction,
                    expected=window.expected,
                    lost=window.lost,
                    loss_percent=_round(window.loss_percent),
                    jitter_ms=_round(window.jitter_ms, 2),
                )
            )
        start, end = figures[0][1].start, figures[0][1].end
        classes: dict[QualityRule, dict[str, str]] = {}
        for rule in QualityRule:
            by_direction = {
                d: worst(w.quality(rule) for dd, w in figures if dd == d) for d in DIRECTIONS
            }
            call = worst(by_direction.values())
            for d in DIRECTIONS:
                per_direction[rule][d].append(by_direction[d])
            per_call[rule].append(call)
            classes[rule] = {
                "send": by_direction["send"].label,
                "receive": by_direction["receive"].label,
                "call": call.label,
            }
        delay, score = window_mos(streams, trips, sampler, start, end)
        reports.append(
            WindowReport(
                index=index,
                start=round(start - origin, 3),
                end=round(end - origin, 3),
                streams=streams,
                classes=classes,
                mos=score,
                one_way_delay_ms=delay,
            )
        )
    classes_out = {
        rule: RuleClasses(
            windows=[q.label for q in per_call[rule]],
            live=live_quality(per_call[rule]).label,
            completed=completed_quality(per_call[rule], rule).label,
            by_direction={
                d: {
                    "live": live_quality(per_direction[rule][d]).label,
                    "completed": completed_quality(per_direction[rule][d], rule).label,
                }
                for d in DIRECTIONS
            },
        )
        for rule in QualityRule
    }
    return Assessment(reports, classes_out)


def window_mos(
    streams: list[StreamWindow],
    trips: list[tuple[float, float]],
    sampler: Sampler,
    start: float,
    end: float,
) -> tuple[float | None, float | None]:
    """(one-way delay ms, MOS) of one window: the worse direction's audio loss; the delay
    from the markers' round trips in the window, else from RTT and jitter."""
    losses = [s.loss_percent for s in streams if s.kind == "audio" and s.loss_percent is not None]
    inside = [ms for t, ms in trips if start <= t < end]
    jitters = [s.jitter_ms for s in streams if s.kind == "audio" and s.jitter_ms is not None]
    rtts = [
        s.rtt_ms
        for s in sampler.seconds
        if s.rtt_ms is not None and start - sampler.origin <= s.t < end - sampler.origin
    ]
    delay = one_way_delay_ms(
        media_round_trip_ms=statistics.median(inside) if inside else None,
        rtt_ms=statistics.median(rtts) if rtts else None,
        jitter_ms=max(jitters) if jitters else None,
    )
    if delay is None or not losses:
        return None, None
    return round(delay, 1), round(e_model_mos(delay, max(losses)), 3)
