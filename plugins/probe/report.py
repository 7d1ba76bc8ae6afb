"""Assembling `report.json` from what the probe measured, and writing its files:
`report.json`, `quality.png` and `metrics.prom` (blocking: run `write_outputs` in a
thread)."""

from __future__ import annotations

import json
import statistics
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from agent import (
    E_MODEL,
    AudioMarker,
    JoinTimings,
    LatencyReport,
    MarkerTracker,
    MosReport,
    ProbeReport,
    ProbeSla,
    StatisticsPosts,
    distribution,
    evaluate_sla,
    gauges_text,
    one_way_delay_ms,
    report_gauges,
)
from agent import mos as e_model_mos

from .chart import draw_quality
from .continuity import AudioGapDetector, FreezeDetector
from .measure import DIRECTIONS, KINDS, Sampler, assess
from .server import ServerWatch

REPORT = "report.json"
CHART = "quality.png"
METRICS = "metrics.prom"


@dataclass
class ReportInputs:
    target: str
    node: str
    alias: str
    conference: str | None
    service_type: str | None
    started_utc: datetime
    duration_s: float
    joined: bool
    failure: str | None
    timings: JoinTimings
    sampler: Sampler
    tracker: MarkerTracker | None
    freezes: FreezeDetector
    gaps: AudioGapDetector
    server: ServerWatch | None
    posts: StatisticsPosts
    sla: ProbeSla


def _latency(inputs: ReportInputs) -> LatencyReport:
    origin = inputs.sampler.origin
    rtt = distribution(inputs.sampler.rtts())
    tracker = inputs.tracker
    if tracker is None:
        return LatencyReport(markers=False, rtt_ms=rtt)
    audio = [
        AudioMarker(
            marker=trip.marker,
            t=round(trip.sent - origin, 3),
            round_trip_ms=round(trip.latency_ms, 1),
            lip_sync_ms=None if (ls := tracker.lip_sync_ms(trip)) is None else round(ls, 1),
        )
        for trip in tracker.audio
    ]
    sent = tracker.audio_source.markers_sent if tracker.audio_source is not None else 0
    return LatencyReport(
        markers=tracker.audio_source is not None,
        audio_markers_sent=sent,
        audio_round_trip_ms=distribution([m.round_trip_ms for m in audio]),
        video_round_trip_ms=distribution([v.latency_ms for v in tracker.video.values()]),
        lip_sync_ms=distribution([m.lip_sync_ms for m in audio if m.lip_sync_ms is not None]),
        audio=audio,
        rtt_ms=rtt,
    )


def build_report(inputs: ReportInputs) -> ProbeReport:
    sampler = inputs.sampler
    latency = _latency(inputs)
    trips = [(m.t + sampler.origin, m.round_trip_ms) for m in latency.audio]
    assessment = assess(sampler, trips, sampler.origin)
    loss = {
        f"{kind} {direction}": sampler.total_loss(kind, direction)
        for kind in KINDS
        for direction in DIRECTIONS
    }
    audio_loss = [v for k, v in loss.items() if k.startswith("audio") and v is not None]
    rtts = sampler.rtts()
    jitters = [
        s.jitter_ms for s in sampler.seconds if s.kind == "audio" and s.jitter_ms is not None
    ]
    delay = one_way_delay_ms(
        media_round_trip_ms=latency.audio_round_trip_ms.median
        if latency.audio_round_trip_ms
        else None,
        rtt_ms=statistics.median(rtts) if rtts else None,
        jitter_ms=statistics.median(jitters) if jitters else None,
    )
    window_scores = [w.mos for w in assessment.windows if w.mos is not None]
    mos = MosReport(
        model=E_MODEL.name,
        call=None
        if delay is None or not audio_loss
        else round(e_model_mos(delay, max(audio_loss)), 3),
        one_way_delay_ms=None if delay is None else round(delay, 1),
        audio_loss_percent=max(audio_loss) if audio_loss else None,
        min_window=min(window_scores) if window_scores else None,
    )
    server = None
    if inputs.server is not None:
        inputs.server.compare(loss)
        server = inputs.server.view
    report = ProbeReport(
        target=inputs.target,
        node=inputs.node,
        alias=inputs.alias,
        conference=inputs.conference,
        service_type=inputs.service_type,
        started_utc=inputs.started_utc.isoformat(timespec="seconds").replace("+00:00", "Z"),
        duration_s=round(inputs.duration_s, 3),
        joined=inputs.joined,
        failure=inputs.failure,
        timings=inputs.timings,
        seconds=sampler.seconds,
        windows=assessment.windows,
        classes=assessment.classes,
        mos=mos,
        latency=latency,
        freezes=inputs.freezes.summary(),
        audio_gaps=inputs.gaps.summary(),
        server=server,
        statistics_posts=inputs.posts,
        sla=inputs.sla,
    )
    report.verdict = evaluate_sla(report, inputs.sla)
    return report


def write_outputs(folder: Path, report: ProbeReport) -> None:
    """`report.json`, `quality.png` and `metrics.prom` in `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    data = report.model_dump(mode="json")
    (folder / REPORT).write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    draw_quality(folder / CHART, report, report.sla.rule)
    (folder / METRICS).write_text(gauges_text(report_gauges(report, time.time())), encoding="utf-8")
