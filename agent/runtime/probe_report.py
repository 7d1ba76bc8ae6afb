"""The call-quality probe's report (`report.json`), its SLA and its Prometheus gauges.

One schema shared by the writer (the `probe` plugin) and the readers (`pexbot probe`, your
dashboards): `ProbeReport`. Units are in the field names (`_ms`, `_s`, `_kbps`,
`_percent`); times `t` are seconds since the probe's start (`started_utc`). Directions
are the probe's: `send` is what the probe sends (the node receives it: the management
API's `rx_*`), `receive` what it receives (the node's `tx_*`). Classes are the
management API's labels (`1_good` ... `4_terrible`, `0_unknown`).

`ProbeSla` holds the thresholds (`[sla]` in a probe file); `evaluate_sla` turns a report
into the `Verdict` (pass/fail, its breaches and a one-line summary); `report_gauges`
gives the report's figures as labelled gauges.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Literal

from prometheus_client.core import GaugeMetricFamily, Metric
from pydantic import BaseModel, ConfigDict, Field, field_validator

from ..media.quality import Quality, QualityRule

__all__ = [
    "SCHEMA_VERSION",
    "AudioMarker",
    "Continuity",
    "Distribution",
    "Gauge",
    "GaugeCollector",
    "JoinTimings",
    "LatencyReport",
    "MosReport",
    "ProbeReport",
    "ProbeSla",
    "RuleClasses",
    "SecondSample",
    "ServerSample",
    "ServerStream",
    "ServerView",
    "SinkWindow",
    "StatisticsPosts",
    "StreamWindow",
    "Verdict",
    "WindowReport",
    "distribution",
    "evaluate_sla",
    "gauges_text",
    "report_gauges",
]

SCHEMA_VERSION = 1
Direction = Literal["send", "receive"]
Kind = Literal["audio", "video"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class JoinTimings(_Model):
    """Milliseconds from the probe's start (just before `request_token`) to each milestone;
    None when it never happened."""

    request_token_ms: float | None = None
    ice_connected_ms: float | None = None
    first_audio_ms: float | None = None
    first_video_ms: float | None = None

    def slowest_ms(self) -> float | None:
        values = [
            self.request_token_ms,
            self.ice_connected_ms,
            self.first_audio_ms,
            self.first_video_ms,
        ]
        return None if any(v is None for v in values) else max(v for v in values if v is not None)


class SecondSample(_Model):
    """One second of one stream in one direction (counter deltas over that second)."""

    t: float
    kind: Kind
    direction: Direction
    packets: int  # receive: expected (received + lost); send: sent
    lost: int | None  # send: from the node's receiver reports (None before the first)
    loss_percent: float | None
    jitter_ms: float | None  # receive: ours; send: the node's, from its reports
    rtt_ms: float | None = None  # RTCP round trip (send side)
    bitrate_kbps: float | None = None
    fps: float | None = None  # video frames per second


class StreamWindow(_Model):
    kind: Kind
    direction: Direction
    expected: int
    lost: int
    loss_percent: float | None
    jitter_ms: float | None


class WindowReport(_Model):
    """One complete 20 s window."""

    index: int
    start: float
    end: float
    streams: list[StreamWindow]
    #: rule -> {"send": label, "receive": label, "call": label (the worse of the two)}
    classes: dict[QualityRule, dict[str, str]]
    mos: float | None = None
    one_way_delay_ms: float | None = None


class RuleClasses(_Model):
    """One rule's classes: per window, live (mode of the last three), completed."""

    windows: list[str]
    live: str
    completed: str
    #: direction -> {"live": label, "completed": label}
    by_direction: dict[Direction, dict[str, str]]


class Distribution(_Model):
    count: int
    median: float
    p95: float
    min: float
    max: float


def distribution(values: Sequence[float]) -> Distribution | None:
    if not values:
        return None
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return Distribution(
        count=len(ordered),
        median=round(statistics.median(ordered), 2),
        p95=round(p95, 2),
        min=round(ordered[0], 2),
        max=round(ordered[-1], 2),
    )


class AudioMarker(_Model):
    marker: int
    t: float  # when it was sent
    round_trip_ms: float
    lip_sync_ms: float | None  # audio minus video: > 0 means the sound comes after the picture


class LatencyReport(_Model):
    """Round trips of the probe's markers through a test call (empty elsewhere)."""

    markers: bool  # were markers sent (test calls only)
    audio_markers_sent: int = 0
    audio_round_trip_ms: Distribution | None = None
    video_round_trip_ms: Distribution | None = None
    lip_sync_ms: Distribution | None = None
    audio: list[AudioMarker] = Field(default_factory=list)
    rtt_ms: Distribution | None = None  # RTCP, for comparison (any call)


class Continuity(_Model):
    """Video freezes (no new picture for more than 3 frame intervals) or audio gaps."""

    count: int = 0
    total_ms: float = 0.0
    longest_ms: float = 0.0
    events: list[tuple[float, float]] = Field(default_factory=list)  # (t, duration ms)


class MosReport(_Model):
    model: str
    call: float | None  # whole call: median one-way delay, worst direction's audio loss
    one_way_delay_ms: float | None
    audio_loss_percent: float | None
    min_window: float | None


class ServerStream(_Model):
    """One media stream as the management API shows it (node's view: rx from the probe)."""

    stream_type: str
    rx_packet_loss: float | None = None
    tx_packet_loss: float | None = None
    rx_packets_received: int | None = None
    rx_packets_lost: int | None = None
    tx_packets_sent: int | None = None
    tx_packets_lost: int | None = None
    rx_jitter: float | None = None
    tx_jitter: float | None = None
    rx_bitrate: float | None = None
    tx_bitrate: float | None = None


class ServerSample(_Model):
    t: float
    call_quality: str | None
    streams: list[ServerStream]


class SinkWindow(_Model):
    """A `participant_media_stream_window` event about the probe (event sink, v2)."""

    time: float
    call_quality_was: str | None
    call_quality_now: str | None


class ServerView(_Model):
    """The probe's own participant as the node's management API and event sink saw it."""

    participant_id: str | None = None
    during: list[ServerSample] = Field(default_factory=list)
    history_call_quality: str | None = None
    history: list[ServerStream] = Field(default_factory=list)
    #: "kind direction" -> {"probe": %, "server": %} over the whole call
    loss_comparison: dict[str, dict[str, float | None]] = Field(default_factory=dict)
    sink_windows: list[SinkWindow] = Field(default_factory=list)
    errors: list[str] = Field(default_factory=list)


class StatisticsPosts(_Model):
    """The probe's own figures POSTed to the call's `statistics` endpoint."""

    interval_s: float | None  # from `client_stats_update_interval`; None: not advertised
    sent: int = 0
    failed: int = 0


class ProbeSla(_Model):
    """Thresholds a probe run must meet (None switches one off)."""

    #: The slowest join milestone (request_token, ICE, first audio, first video), ms.
    join_ms: float | None = Field(default=5000.0, gt=0)
    #: The completed call's class under `rule` must be this or better.
    min_class: str | None = "ok"
    rule: QualityRule = QualityRule.PEXIP_CURRENT
    min_mos: float | None = Field(default=3.5, ge=1, le=4.5)
    #: Median audio round trip through a test call (ms); RTCP RTT elsewhere.
    max_latency_ms: float | None = Field(default=400.0, gt=0)

    @field_validator("min_class")
    @classmethod
    def _known_class(cls, value: str | None) -> str | None:
        if value is None:
            return None
        quality = Quality.parse(value)
        if quality is Quality.UNKNOWN:
            raise ValueError("min_class cannot be unknown")
        return quality.name.lower()


class Verdict(_Model):
    ok: bool
    line: str
    breaches: list[str] = Field(default_factory=list)


class ProbeReport(_Model):
    """`report.json` (schema version `SCHEMA_VERSION`; see the module docstring)."""

    schema_version: int = SCHEMA_VERSION
    target: str
    node: str
    alias: str
    conference: str | None = None
    service_type: str | None = None
    started_utc: str
    duration_s: float
    joined: bool
    failure: str | None = None  # why the probe did not complete (e.g. `node_unreachable: ...`)
    timings: JoinTimings = Field(default_factory=JoinTimings)
    seconds: list[SecondSample] = Field(default_factory=list)
    windows: list[WindowReport] = Field(default_factory=list)
    classes: dict[QualityRule, RuleClasses] = Field(default_factory=dict)
    mos: MosReport | None = None
    latency: LatencyReport = Field(default_factory=lambda: LatencyReport(markers=False))
    freezes: Continuity = Field(default_factory=Continuity)
    audio_gaps: Continuity = Field(default_factory=Continuity)
    server: ServerView | None = None
    statistics_posts: StatisticsPosts = Field(
        default_factory=lambda: StatisticsPosts(interval_s=None)
    )
    sla: ProbeSla = Field(default_factory=ProbeSla)
    verdict: Verdict = Field(default_factory=lambda: Verdict(ok=False, line="not evaluated"))

    def completed(self, rule: QualityRule) -> Quality:
        found = self.classes.get(rule)
        return Quality.parse(found.completed) if found is not None else Quality.UNKNOWN

    def latency_ms(self) -> float | None:
        """Median audio round trip (test call), else median RTCP RTT."""
        trip = self.latency.audio_round_trip_ms or self.latency.rtt_ms
        return trip.median if trip is not None else None


def evaluate_sla(report: ProbeReport, sla: ProbeSla) -> Verdict:
    """Pass or fail, each breach named with its figure and threshold, and one line."""
    breaches: list[str] = []
    slowest = report.timings.slowest_ms()
    if not report.joined:
        # Nothing else can be judged: one reason, not a list of unknowns.
        why = report.failure or "no media"
        return Verdict(ok=False, line=f"FAIL {report.target}: did not join: {why}", breaches=[why])
    if report.failure:
        breaches.append(f"did not complete: {report.failure}")
    if sla.join_ms is not None:
        if slowest is None:
            breaches.append("join: media never flowed both ways")
        elif slowest > sla.join_ms:
            breaches.append(f"join {slowest:.0f} ms > {sla.join_ms:.0f} ms")
    quality = report.completed(sla.rule)
    if sla.min_class is not None:
        wanted = Quality.parse(sla.min_class)
        if quality is Quality.UNKNOWN:
            breaches.append(f"class unknown ({sla.rule}: under one 20 s window)")
        elif quality > wanted:
            breaches.append(f"class {quality.text} worse than {wanted.text} ({sla.rule})")
    score = report.mos.call if report.mos is not None else None
    if sla.min_mos is not None:
        if score is None:
            breaches.append("MOS unknown")
        elif score < sla.min_mos:
            breaches.append(f"MOS {score:.2f} < {sla.min_mos:.2f}")
    latency = report.latency_ms()
    if sla.max_latency_ms is not None and latency is not None and latency > sla.max_latency_ms:
        what = "round trip" if report.latency.audio_round_trip_ms else "RTT"
        breaches.append(f"{what} {latency:.0f} ms > {sla.max_latency_ms:.0f} ms")
    figures = [f"{quality.text} ({sla.rule})"]
    if score is not None:
        figures.append(f"MOS {score:.2f}")
    if slowest is not None:
        figures.append(f"join {slowest:.0f} ms")
    if latency is not None:
        figures.append(
            f"{'round trip' if report.latency.audio_round_trip_ms else 'RTT'} {latency:.0f} ms"
        )
    ok = not breaches
    detail = ", ".join(figures) if ok else "; ".join(breaches)
    return Verdict(
        ok=ok, line=f"{'PASS' if ok else 'FAIL'} {report.target}: {detail}", breaches=breaches
    )


@dataclass(frozen=True)
class Gauge:
    name: str
    help: str
    labels: dict[str, str]
    value: float


def report_gauges(report: ProbeReport, finished_at: float) -> list[Gauge]:
    """The report's figures as gauges labelled `target` (plus `rule`, `kind`, ...)."""
    target = {"target": report.target}
    out = [
        Gauge("pexbot_probe_sla_ok", "1 when the last run met its SLA", target,
              1.0 if report.verdict.ok else 0.0),
        Gauge("pexbot_probe_joined", "1 when the last run joined and had media", target,
              1.0 if report.joined and not report.failure else 0.0),
        Gauge("pexbot_probe_last_run_timestamp_seconds", "When the last run ended (Unix s)",
              target, finished_at),
    ]  # fmt: skip
    for milestone, value in report.timings.model_dump().items():
        if value is not None:
            out.append(
                Gauge("pexbot_probe_join_ms", "Join milestones, ms from the start",
                      {**target, "milestone": milestone.removesuffix("_ms")}, value)
            )  # fmt: skip
    for rule, classes in report.classes.items():
        for scope in ("live", "completed"):
            level = Quality.parse(getattr(classes, scope))
            out.append(
                Gauge("pexbot_probe_quality",
                      "Pexip call-quality class (0 unknown, 1 good ... 4 terrible)",
                      {**target, "rule": str(rule), "scope": scope}, float(level))
            )  # fmt: skip
    if report.mos is not None and report.mos.call is not None:
        out.append(Gauge("pexbot_probe_mos", "E-model MOS of the call", target, report.mos.call))
    latency = report.latency
    for kind, trip in (
        ("audio", latency.audio_round_trip_ms),
        ("video", latency.video_round_trip_ms),
    ):
        if trip is not None:
            out.append(
                Gauge("pexbot_probe_round_trip_ms", "Median media round trip through a test call",
                      {**target, "kind": kind}, trip.median)
            )  # fmt: skip
    if latency.lip_sync_ms is not None:
        out.append(Gauge("pexbot_probe_lip_sync_ms", "Median audio minus video delay", target,
                         latency.lip_sync_ms.median))  # fmt: skip
    if latency.rtt_ms is not None:
        out.append(Gauge("pexbot_probe_rtt_ms", "Median RTCP round-trip time", target,
                         latency.rtt_ms.median))  # fmt: skip
    totals: dict[tuple[str, str], list[int]] = {}
    for second in report.seconds:
        if second.lost is not None:
            pair = totals.setdefault((second.kind, second.direction), [0, 0])
            pair[0] += second.lost
            pair[1] += second.packets
    for (kind, direction), (lost, packets) in sorted(totals.items()):
        if packets:
            out.append(
                Gauge("pexbot_probe_loss_percent", "Packet loss over the call",
                      {**target, "kind": kind, "direction": direction}, 100.0 * lost / packets)
            )  # fmt: skip
    out.append(Gauge("pexbot_probe_freezes", "Video freezes in the call", target,
                     float(report.freezes.count)))  # fmt: skip
    out.append(Gauge("pexbot_probe_audio_gaps", "Audio gaps in the call", target,
                     float(report.audio_gaps.count)))  # fmt: skip
    return out


def gauges_text(gauges: Sequence[Gauge]) -> str:
    """Gauges in the Prometheus text format (a `metrics.prom` for node_exporter's textfile
    collector, or a `/metrics` page)."""
    from prometheus_client import CollectorRegistry, generate_latest  # noqa: PLC0415

    registry = CollectorRegistry()
    registry.register(GaugeCollector(lambda: gauges))
    return generate_latest(registry).decode()


class GaugeCollector:
    """A Prometheus collector of whatever gauges `source()` gives at scrape time."""

    def __init__(self, source: Callable[[], Sequence[Gauge]]) -> None:
        self._source = source

    def collect(self) -> Iterator[Metric]:
        families: dict[str, GaugeMetricFamily] = {}
        for gauge in self._source():
            labels = sorted(gauge.labels)
            family = families.get(gauge.name)
            if family is None:
                family = families[gauge.name] = GaugeMetricFamily(
                    gauge.name, gauge.help, labels=labels
                )
            family.add_metric([gauge.labels[k] for k in labels], gauge.value)
        yield from families.values()
