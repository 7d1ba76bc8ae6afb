"""The probe's pieces without a network: per-second figures and windows from snapshots,
freezes and audio gaps, the statistics body, the SLA verdict, gauges, the schedule, RTP
figures of the media SSRC, and the plugin's imports."""

from __future__ import annotations

import asyncio
import io
import os
import signal
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiortc import RTCPeerConnection
from aiortc.rtcrtpreceiver import StreamStatistics

from agent import (
    JoinTimings,
    LatencyReport,
    MediaSnapshot,
    MosReport,
    ProbeReport,
    ProbeSla,
    Quality,
    QualityRule,
    ReceiveFigures,
    SendFigures,
    StreamSnapshot,
    Verdict,
    distribution,
    evaluate_sla,
    gauges_text,
    report_gauges,
)
from agent.media.rtpstats import check_stats_seam, inbound_counters
from agent.runtime import probe_run
from agent.runtime.probe_run import ProbeRunConfig, ProbeRunner, TargetResult, parse_every
from plugins.probe import ProbeConfig
from plugins.probe.continuity import AudioGapDetector, FreezeDetector
from plugins.probe.measure import Sampler, assess
from plugins.probe.server import statistics_body
from tests.unit.test_layering import _modules, _plugin_violations

CURRENT, V26 = QualityRule.PEXIP_CURRENT, QualityRule.PEXIP_V26


def snapshot(t: float, rx_loss: float, tx_loss: float, jitter: float = 5.0) -> MediaSnapshot:
    """Cumulative figures after `t` seconds at 50 audio / 40 video packets a second."""
    streams = {}
    for kind, rate, size in (("audio", 50, 100), ("video", 40, 1000)):
        expected = int(rate * t)
        lost = round(expected * rx_loss / 100)
        sent = int(rate * t)
        streams[kind] = StreamSnapshot(
            kind,
            ReceiveFigures(
                expected - lost, lost, jitter, frames=int(15 * t), bytes=size * expected
            ),
            SendFigures(
                packets_sent=sent,
                bytes_sent=size * sent,
                remote_packets_lost=round(sent * tx_loss / 100),
                remote_expected=sent,
                remote_jitter_ms=jitter * 2,
                remote_fraction_lost_percent=tx_loss,
                rtt_ms=30.0,
            ),
        )
    return MediaSnapshot(at=1000.0 + t, connected_at=1000.0, streams=streams)


def test_seconds_windows_and_classes_from_snapshots() -> None:
    sampler = Sampler(origin=999.0)
    for second in range(0, 46):
        sampler.add(snapshot(float(second), rx_loss=2.0, tx_loss=5.0, jitter=50.0))
    one = [s for s in sampler.seconds if s.t == 11.0]
    audio_rx = next(s for s in one if s.kind == "audio" and s.direction == "receive")
    assert (audio_rx.packets, audio_rx.lost, audio_rx.loss_percent) == (50, 1, 2.0)
    assert audio_rx.bitrate_kbps == 40.0  # 50 packets x 100 bytes x 8 bits a second
    video_rx = next(s for s in one if s.kind == "video" and s.direction == "receive")
    assert video_rx.fps == 15.0
    video_tx = next(s for s in one if s.kind == "video" and s.direction == "send")
    assert (video_tx.packets, video_tx.loss_percent, video_tx.rtt_ms) == (40, 5.0, 30.0)
    assert video_tx.jitter_ms == 100.0

    result = assess(sampler, [], origin=999.0)
    assert len(result.windows) == 2  # 45 s of media: two complete windows
    first = result.windows[0]
    assert (first.start, first.end) == (1.0, 21.0)
    assert first.classes[CURRENT] == {"send": "3_bad", "receive": "2_ok", "call": "3_bad"}
    assert first.classes[V26] == {"send": "4_terrible", "receive": "3_bad", "call": "4_terrible"}
    current = result.classes[CURRENT]
    assert (current.live, current.completed) == ("3_bad", "3_bad")
    assert current.by_direction["receive"] == {"live": "2_ok", "completed": "2_ok"}
    assert (
        first.mos is not None and first.one_way_delay_ms == 15.0 + 2 * 100.0 + 20.0
    )  # worst audio jitter
    assert sampler.total_loss("audio", "send") == pytest.approx(5.0, abs=0.05)


def test_a_call_shorter_than_a_window_is_unknown() -> None:
    sampler = Sampler(origin=999.0)
    for second in range(0, 15):
        sampler.add(snapshot(float(second), 0.0, 0.0))
    result = assess(sampler, [], origin=999.0)
    assert result.windows == []
    assert result.classes[CURRENT].completed == result.classes[V26].live == "0_unknown"


def test_freezes_are_pictures_that_do_not_change_for_three_intervals() -> None:
    freezes = FreezeDetector(origin=0.0)
    t, counter = 0.0, 0
    for n in range(60):
        t += 1 / 15
        if 20 <= n < 30:  # the same picture for 10 frames: a freeze of 11 intervals
            freezes.frame(t, counter)
            continue
        counter += 1
        freezes.frame(t, counter)
    for _ in range(2):  # two frames lost in a row: not a freeze (3 intervals or less)
        t += 2 / 15
        counter += 1
        freezes.frame(t, counter)
    summary = freezes.summary()
    assert summary.count == 1
    assert summary.longest_ms == pytest.approx(11 * 1000 / 15, abs=1)


def test_audio_gaps_are_more_than_three_missing_frames() -> None:
    gaps = AudioGapDetector(origin=0.0)
    opus_20ms = b"\xfc\xff\xfe"  # TOC: CELT fullband 20 ms
    timestamps = [0, 960, 1920, 1920 + 3 * 960, 1920 + 8 * 960, 1920 + 9 * 960]
    for i, ts in enumerate(timestamps):
        gaps.packet(opus_20ms, ts, i * 0.02, 48000)
    summary = gaps.summary()
    assert summary.count == 1 and summary.total_ms == 80.0  # 4 frames; the 2-frame hole is not


def test_the_statistics_body_has_the_sdk_names_and_units() -> None:
    sampler = Sampler(origin=999.0)
    for second in range(0, 12):
        sampler.add(snapshot(float(second), rx_loss=2.0, tx_loss=4.0))
    body = statistics_body(sampler.seconds, 5.0, "320x240")
    audio, video = body["audio"], body["video"]
    assert audio.rx_codec == "opus" and video.tx_codec == "VP8"
    assert audio.rx_bitrate == 40.0 and audio.rx_jitter == 5.0
    assert audio.rx_historic_packet_loss == 2.0 and audio.tx_historic_packet_loss == 4.0
    assert audio.rx_windowed_packet_loss == 2.0
    assert video.rx_resolution == "320x240" and audio.rx_resolution is None
    assert audio.tx_packets_sent == 50 * 11


def report(**changes: Any) -> ProbeReport:
    base = ProbeReport(
        target="london",
        node="https://london.example.com",
        alias="test_call",
        started_utc="2026-01-01T00:00:00Z",
        duration_s=61.0,
        joined=True,
        timings=JoinTimings(
            request_token_ms=80, ice_connected_ms=300, first_audio_ms=420, first_video_ms=510
        ),
        mos=MosReport(
            model="m", call=4.2, one_way_delay_ms=90, audio_loss_percent=0.1, min_window=4.1
        ),
        latency=LatencyReport(markers=True, audio_round_trip_ms=distribution([180.0, 200.0])),
    )
    base.classes = assess(Sampler(origin=0.0), [], 0.0).classes
    for rule in QualityRule:
        base.classes[rule].completed = Quality.GOOD.label
    return base.model_copy(update=changes)


def test_a_good_call_passes_with_its_figures_on_one_line() -> None:
    verdict = evaluate_sla(report(), ProbeSla())
    assert verdict == Verdict(
        ok=True,
        line="PASS london: Good (pexip_current), MOS 4.20, join 510 ms, round trip 190 ms",
        breaches=[],
    )


def test_every_breach_is_named_with_its_figure_and_threshold() -> None:
    bad = report(
        timings=JoinTimings(
            request_token_ms=80, ice_connected_ms=300, first_audio_ms=6100, first_video_ms=510
        ),
        mos=MosReport(model="m", call=3.1, one_way_delay_ms=300, audio_loss_percent=4.0,
                      min_window=2.9),
        latency=LatencyReport(markers=True, audio_round_trip_ms=distribution([650.0])),
    )  # fmt: skip
    bad.classes[CURRENT].completed = Quality.BAD.label
    verdict = evaluate_sla(bad, ProbeSla())
    assert not verdict.ok
    assert verdict.breaches == [
        "join 6100 ms > 5000 ms",
        "class Bad worse than OK (pexip_current)",
        "MOS 3.10 < 3.50",
        "round trip 650 ms > 400 ms",
    ]
    assert verdict.line.startswith("FAIL london: join 6100 ms > 5000 ms; class Bad")
    relaxed = ProbeSla(join_ms=None, min_class="bad", min_mos=None, max_latency_ms=None)
    assert evaluate_sla(bad, relaxed).ok


def test_a_probe_that_did_not_join_fails_with_the_reason_only() -> None:
    verdict = evaluate_sla(
        report(joined=False, failure="node_unreachable: connection refused"), ProbeSla()
    )
    assert verdict.line == "FAIL london: did not join: node_unreachable: connection refused"


def test_sla_and_plugin_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="min_class cannot be unknown"):
        ProbeSla(min_class="unknown")
    assert ProbeSla(min_class="3_bad").min_class == "bad"
    with pytest.raises(ValueError, match="video must look like 640x480@15"):
        ProbeConfig(video="large")
    assert ProbeConfig(video="320x240@10").video_size() == (320, 240, 10.0)


def test_gauges_carry_the_target() -> None:
    good = report()
    good.verdict = evaluate_sla(good, ProbeSla())
    text = gauges_text(report_gauges(good, 1_700_000_000.0))
    assert 'pexbot_probe_sla_ok{target="london"} 1.0' in text
    assert 'pexbot_probe_join_ms{milestone="first_video",target="london"} 510.0' in text
    assert (
        'pexbot_probe_quality{rule="pexip_current",scope="completed",target="london"} 1.0' in text
    )
    assert 'pexbot_probe_round_trip_ms{kind="audio",target="london"} 190.0' in text
    assert 'pexbot_probe_mos{target="london"} 4.2' in text


@pytest.mark.parametrize(("text", "seconds"), [("90", 90.0), ("90s", 90.0), ("5m", 300.0),
                                               ("1h", 3600.0), (30, 30.0)])  # fmt: skip
def test_schedule_durations(text: str | int, seconds: float) -> None:
    assert parse_every(text) == seconds


@pytest.mark.parametrize("text", ["soon", "0", "-5m", "5 minutes"])
def test_bad_schedule_durations(text: str) -> None:
    with pytest.raises(ValueError, match="not a duration"):
        parse_every(text)


async def test_a_schedule_runs_rounds_until_stopped_and_serves_the_latest(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = ProbeRunConfig.model_validate(
        {
            "every": 0.05,
            "targets": [
                {"name": "a", "node": "http://127.0.0.1:9", "alias": "x"},
                {"name": "b", "node": "http://127.0.0.1:9", "alias": "y"},
            ],
        }
    )
    rounds: list[str] = []

    async def fake_probe(config: ProbeRunConfig, target: Any, bots: Any = None) -> TargetResult:
        rounds.append(target.name)
        ok = target.name == "a" or len(rounds) <= 2  # b breaks its SLA from round two
        line = f"{'PASS' if ok else 'FAIL'} {target.name}: ..."
        good = report(target=target.name)
        good.verdict = Verdict(ok=ok, line=line)
        return TargetResult(target.name, good.verdict, good, Path("/tmp"))

    monkeypatch.setattr(probe_run, "probe_target", fake_probe)
    out = io.StringIO()
    runner = ProbeRunner(config, out)
    three_rounds = asyncio.Event()
    real_round = runner.round

    async def counted_round() -> list[TargetResult]:
        results = await real_round()
        if len(rounds) >= 6:
            three_rounds.set()
        return results

    runner.round = counted_round  # type: ignore[method-assign]
    task = asyncio.create_task(runner.run())
    await asyncio.wait_for(three_rounds.wait(), 5)
    runner.stop("SIGTERM")
    assert await asyncio.wait_for(task, 5) == 1
    lines = out.getvalue().splitlines()
    assert lines[:2] == ["PASS a: ...", "  report: /tmp/report.json"]
    assert "2 of 2 targets met their SLA" in lines and "1 of 2 targets met their SLA" in lines
    gauges = {(g.name, g.labels["target"]): g.value for g in runner.gauges()}
    assert gauges[("pexbot_probe_sla_ok", "a")] == 1.0
    assert gauges[("pexbot_probe_sla_ok", "b")] == 0.0


async def test_inbound_counters_read_the_media_ssrc_not_rtx() -> None:
    pc = RTCPeerConnection()
    receiver = pc.addTransceiver("video").receiver
    check_stats_seam(receiver)
    media, rtx = StreamStatistics(90000), StreamStatistics(90000)
    media.packets_received, media.base_seq, media.max_seq = 950, 0, 999
    rtx.packets_received, rtx.base_seq, rtx.max_seq = 12, 0, 11
    media._jitter_q4 = 16 * 900  # 900 timestamp units: 10 ms at 90 kHz
    receiver._RTCRtpReceiver__remote_streams = {1: media, 2: rtx}  # type: ignore[attr-defined]
    receiver._RTCRtpReceiver__rtx_ssrc = {2: 1}  # type: ignore[attr-defined]
    counters = inbound_counters(receiver)
    assert counters is not None
    assert (counters.ssrc, counters.packets_received, counters.packets_lost) == (1, 950, 50)
    assert counters.jitter_ms == 10.0 and counters.expected == 1000
    await pc.close()


def test_the_probe_plugin_imports_nothing_but_agent() -> None:
    probe_modules = [m for m in _modules("plugins") if m.startswith("plugins.probe")]
    assert {"plugins.probe", "plugins.probe.measure", "plugins.probe.chart"} <= set(probe_modules)
    assert [v for v in _plugin_violations() if "plugins/probe" in v] == []


async def test_a_schedule_serves_its_gauges_on_metrics(monkeypatch: pytest.MonkeyPatch) -> None:
    config = ProbeRunConfig.model_validate(
        {
            "metrics_port": 0,
            "every": 0.05,
            "targets": [{"name": "a", "node": "http://127.0.0.1:9", "alias": "x"}],
        }
    )
    urls: list[str] = []
    pages: list[str] = []
    rounds: list[int] = []

    async def fake_probe(config: ProbeRunConfig, target: Any, bots: Any = None) -> TargetResult:
        rounds.append(1)
        assert len(rounds) <= 2, "ran on after SIGTERM"
        if len(rounds) == 2:
            # Round two: round one's figures are on /metrics; then stop like `kill` would.
            async with aiohttp.ClientSession() as http, http.get(urls[0]) as resp:
                pages.append(await resp.text())
            os.kill(os.getpid(), signal.SIGTERM)
        good = report(target=target.name)
        good.verdict = evaluate_sla(good, ProbeSla())
        return TargetResult(target.name, good.verdict, good, Path("/tmp"))

    monkeypatch.setattr(probe_run, "probe_target", fake_probe)
    code = await probe_run.run_probes(config, io.StringIO(), on_ready=urls.append)
    assert code == 0
    assert 'pexbot_probe_sla_ok{target="a"} 1.0' in pages[0]
    assert 'pexbot_probe_mos{target="a"} 4.2' in pages[0]
