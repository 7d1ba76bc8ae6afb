"""The call-quality probe against the local node, impaired on purpose.

One node, one test-call service, six probes in parallel (two 20 s windows each), each
with its own impairment on the real RTP, both directions:

- 0 / 2 / 5 / 15 % loss -> Good / OK / Bad / Terrible by the current rule, per direction,
  and the management API's loss figures agree with the probe's (5 % is set live through
  the control API after the probe joined; the others come from the node's config);
- 60 ms jitter at 0.5 % loss -> Good by the current rule, OK by v26;
- 150 ms one-way delay -> the markers' round trip grows by 300 ms (+-40, plus the mean
  lateness of the node's timers it counted when starved) over the unimpaired probe, and
  the MOS drops.

The node runs as `pexbot node` in its own process (the second core): six calls' decoding
and encoding in the test's process would stall its event loop and show up as jitter.

Loss uses the `even` model (exactly N per 100 packets of each stream, evenly spaced): a
random roll could land on the other side of a 1 % or 3 % boundary, and a 20 s window of
15 fps video is only 150-300 packets (the fewer, the more starved its sender), so the drops
must be spread evenly for every window to show the figure; the question here is whether
the probe measures and classes what the network did. Loss is checked where it is injected
(the node's impairment counters) against where it is observed (the probe's windows): a
packet missing that the impairment did not drop would be the machine's, not the link's.
"""

from __future__ import annotations

import asyncio
import statistics
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from agent import ProbeReport, Quality, QualityRule
from agent.config import parse_config
from agent.runtime.bot import Bot
from agent.runtime.states import BotState
from plugins.probe import Probe, ProbeConfig
from tests.e2e.probe_support import Node, node_process

CURRENT, V26 = QualityRule.PEXIP_CURRENT, QualityRule.PEXIP_V26
WINDOWS = 2
DURATION = 20.0 * WINDOWS + 1


def _both(**knobs: Any) -> dict[str, Any]:
    return {"rx": dict(knobs), "tx": dict(knobs)}


# display name -> impairment from the node's config (`[media.impairment.participants]`)
IMPAIRED = {
    "loss-0": {},
    "loss-2": _both(loss=2, loss_model="even"),
    "loss-15": _both(loss=15, loss_model="even"),
    "jitter-60": _both(loss=0.5, loss_model="even", jitter=60),
    "delay-150": _both(delay=150),
}
LIVE = {"loss-5": _both(loss=5, loss_model="even")}  # set through the control API


@pytest.fixture
async def node(tmp_path: Path) -> AsyncIterator[Node]:
    async with node_process(tmp_path, IMPAIRED) as running:
        yield running


def probe_bot(node: Node, name: str, out: Path) -> tuple[Bot, Probe]:
    config = parse_config(
        {
            "node": node.base_url,
            "alias": "test_call",
            "display_name": name,
            "media": {"audio": "silence", "video": "black", "ice_host_addresses": ["127.0.0.1"]},
            "leave": {"duration": DURATION + 60, "shutdown_timeout": 30},
        }
    )
    settings = ProbeConfig.model_validate(
        {
            "target": name,
            "output_dir": str(out),
            "duration": DURATION,
            "video": "320x240@15",
            "management": {"url": node.base_url, "password": "admin", "poll_seconds": 10},
        }
    )
    probe = Probe(config=settings)
    return Bot(config, [probe], bot_id=name), probe


async def _live_impairment(node: Node, bot: Bot, body: dict[str, Any]) -> None:
    for _ in range(600):  # the probes pre-encode their media before joining: give them time
        if bot.state.state == BotState.IN_CALL and bot.session is not None:
            break
        await asyncio.sleep(0.05)
    assert bot.session is not None
    uuid = bot.session.participant_uuid
    status, reply = await node.control("POST", f"participants/{uuid}/impairment", body)
    assert status == 200, reply


def _classes(report: ProbeReport, rule: QualityRule) -> tuple[Quality, Quality, Quality]:
    found = report.classes[rule]
    return (
        Quality.parse(found.by_direction["send"]["completed"]),
        Quality.parse(found.by_direction["receive"]["completed"]),
        Quality.parse(found.completed),
    )


def _close(probe: float | None, server: float | None) -> bool:
    assert probe is not None and server is not None, (probe, server)
    return abs(probe - server) <= max(0.5, 0.2 * probe)


async def test_impaired_calls_are_classed_as_pexip_would(node: Node, tmp_path: Path) -> None:
    names = [*IMPAIRED, *LIVE]
    probes = {name: probe_bot(node, name, tmp_path) for name in names}
    runs = [asyncio.create_task(bot.run()) for bot, _ in probes.values()]
    await _live_impairment(node, probes["loss-5"][0], LIVE["loss-5"])
    # The node asked for statistics every 5 s (request_token) and keeps what it gets.
    posted: list[dict[str, Any]] = []
    for _ in range(60):
        await asyncio.sleep(0.5)
        status, state = await node.control("GET", "state")
        assert status == 200
        calls = [c for p in state["result"]["test_call"]["participants"] for c in p["calls"]]
        posted = [c["statistics"] for c in calls if c["statistics"]]
        if len(posted) == len(probes):
            break
    assert len(posted) == len(probes), state
    uuids = {name: bot.session.participant_uuid for name, (bot, _) in probes.items() if bot.session}
    assert set(uuids) == set(probes), uuids
    assert all(p["audio"]["rx_packets_received"] > 0 for p in posted)
    assert all(p["video"]["tx_codec"] == "VP8" for p in posted)
    results = await asyncio.wait_for(asyncio.gather(*runs), DURATION + 90)
    assert all(r.reason is None for r in results), results
    reports: dict[str, ProbeReport] = {}
    for name, (_, probe) in probes.items():
        assert probe.report is not None and probe.folder is not None, name
        reports[name] = probe.report
        saved = ProbeReport.model_validate_json((probe.folder / "report.json").read_text())
        assert saved.verdict == probe.report.verdict
        assert (probe.folder / "quality.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert len(probe.report.windows) == WINDOWS, (name, len(probe.report.windows))

    # Every packet a probe missed was dropped by the impairment (the probe's `send` is the
    # node's `rx`): the figures below are the link's, not a starved process's.
    status, impairment = await node.control("GET", "impairment")
    assert status == 200
    counters = impairment["result"]["counters"]
    for name, report in reports.items():
        for direction, link in (("send", "rx"), ("receive", "tx")):
            seen = sum(
                s.lost or 0 for w in report.windows for s in w.streams if s.direction == direction
            )
            # An unimpaired call (loss-0) has no counters: nothing was dropped on purpose.
            dropped = counters.get(uuids[name], {}).get(link, {})
            injected = dropped.get("lost", 0) + dropped.get("queue_drops", 0)
            assert seen <= injected, (
                f"{name} {direction}: {seen} packets lost, the impairment dropped {injected}: "
                f"{seen - injected} lost elsewhere (a starved receiver?)"
            )

    # Loss: the current rule, each direction and the call.
    expected = {
        "loss-0": Quality.GOOD,
        "loss-2": Quality.OK,
        "loss-5": Quality.BAD,
        "loss-15": Quality.TERRIBLE,
    }
    for name, quality in expected.items():
        assert _classes(reports[name], CURRENT) == (quality, quality, quality), name
        server = reports[name].server
        assert server is not None and not server.errors, (name, server and server.errors)
        for key, pair in server.loss_comparison.items():
            assert _close(pair["probe"], pair["server"]), (name, key, pair)
    # The node saw the same probe: its live override and the config both applied.
    assert {"rx", "tx"} <= set(next(iter(impairment["result"]["overrides"].values())))
    assert counters[uuids["loss-5"]]["tx"]["lost"] > 0

    # Jitter: only v26 steps down for it.
    jitter = reports["jitter-60"]
    assert _classes(jitter, CURRENT) == (Quality.GOOD,) * 3
    assert _classes(jitter, V26)[2] == Quality.OK
    worst_video = max(
        s.jitter_ms or 0 for w in jitter.windows for s in w.streams if s.kind == "video"
    )
    assert worst_video > 40

    # Delay: 150 ms each way is 300 ms more round trip. Compared marker by marker: the two
    # probes send theirs at the same moments, so a stall of the machine (or a jitter
    # buffer that grew after one) hits both alike and drops out of the difference. Only
    # the delayed probe's packets wait on the node's timers, though, and a starved node
    # sends them late: the mean lateness it counted each way is the machine's share, added
    # to the bound (and itself bounded: beyond 25 ms a way the figure says little).
    held = counters[uuids["delay-150"]]
    late = [held[way]["late_ms"] / max(held[way]["delayed"], 1) for way in ("rx", "tx")]
    assert max(late) <= 25, f"the node sent held packets {late} ms late on average"
    low, high = 260 + sum(late), 340 + sum(late)
    base, slow = reports["loss-0"].latency, reports["delay-150"].latency
    base_trips = {m.marker: m.round_trip_ms for m in base.audio}
    grown = [m.round_trip_ms - base_trips[m.marker] for m in slow.audio if m.marker in base_trips]
    assert len(grown) >= 25, (base.audio, slow.audio)
    assert low <= statistics.median(grown) <= high, (late, sorted(grown))
    assert base.rtt_ms is not None and slow.rtt_ms is not None
    assert low <= slow.rtt_ms.median - base.rtt_ms.median <= high, (late, base.rtt_ms, slow.rtt_ms)
    base_mos, slow_mos = reports["loss-0"].mos, reports["delay-150"].mos
    assert base_mos is not None and slow_mos is not None
    assert base_mos.call is not None and slow_mos.call is not None
    assert slow_mos.call < base_mos.call - 0.05

    # Every probe told the node what it measured, at the advertised interval.
    for name, report in reports.items():
        assert report.statistics_posts.interval_s == 5.0
        assert report.statistics_posts.sent >= 5 and report.statistics_posts.failed == 0, name
