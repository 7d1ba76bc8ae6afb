"""The fault soak of issue 12 for one minute (`make soak` runs ten): ten bots (`pexbot run`
talkers, a recorder, a watcher and a `pexbot fleet` of four) on a local node with 15 s
tokens, event streams dropped every 20 s, 503s on refreshes, event connections and calls,
a refused-refresh window, two forced media losses and a renegotiation. About 75 s of wall
time, half a core (the talkers send no video and the recorder records audio only)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.soak import RECORDER, SHORT, run_soak

pytestmark = pytest.mark.e2e


async def test_ten_bots_ride_out_a_minute_of_faults(tmp_path: Path) -> None:
    report = await run_soak(SHORT, tmp_path)
    print("\n".join(report.lines()))
    assert report.bots == 10
    assert report.lost == []
    assert report.ghosts == []
    assert report.tracebacks == []
    assert report.skipped == []
    assert dict(report.injected) == {"refuse_refresh": 1, "media_loss": 2, "renegotiate": 1}
    # The refusal window outlasts a refresh interval: (nearly) every bot rejoined, once.
    assert sum(report.rejoins.values()) >= 5 and max(report.rejoins.values()) <= 2
    # Each forced media loss is one re-call of its target; a renegotiation is none.
    assert report.recalls.get(RECORDER, 0) == 1 and report.recalls.get("Tone A", 0) == 1
    assert sum(report.recalls.values()) == 2
    # Streams dropped every 20 s: every bot reconnected its events at least twice.
    assert len(report.reconnects) == 10 and min(report.reconnects.values()) >= 2
    # The recorder: one media gap on its timeline per outage it met, each with its cause.
    assert report.gaps_ok, report.lines()
    assert report.recording["duration"] >= SHORT.seconds - 10
    assert report.probed_seconds is not None
    assert abs(report.probed_seconds - report.recording["duration"]) < 1.0
    assert report.ok
