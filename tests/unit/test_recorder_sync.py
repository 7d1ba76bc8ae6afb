"""A/V sync over a long recording, ten simulated minutes of `bench.recorder_sync.simulate`
(the benchmark runs the hour): the audio click and the video flash sent at the same instant
every minute land within 40 ms of each other, and every gap keeps its length."""

from __future__ import annotations

import random
import shutil
from pathlib import Path

import pytest

from agent.media.clips import RATE, VIDEO_CLOCK
from bench.recorder_sync import BASE_DELAY, T0, Gap, simulate
from plugins.recorder.clock import StreamClock

# -- the test ----------------------------------------------------------------------------

FAST_GAPS = [Gap(200.0, 3.0, recall=False), Gap(380.0, 3.0, recall=True)]


@pytest.mark.skipif(shutil.which("ffprobe") is None, reason="needs ffprobe")
@pytest.mark.parametrize("ppm", [200.0, -200.0])
def test_ten_minutes_of_drift_jitter_and_gaps_stay_in_sync(tmp_path: Path, ppm: float) -> None:
    r = simulate(tmp_path, 10, ppm, FAST_GAPS, seed=3)
    assert not r.missing, r
    assert len(r.offsets) == 10
    assert r.max_offset <= 0.040, [round(o * 1000, 1) for o in r.offsets]
    assert r.max_gap_error <= 0.050, r.gap_errors
    assert [g["kind"] for g in r.summary_gaps] == ["media", "media"]
    assert r.resyncs == {"audio": 1, "video": 1}  # the re-call only


@pytest.mark.parametrize("ppm", [200.0, -200.0])
def test_stream_clocks_follow_a_drifting_sender_on_the_lower_envelope(ppm: float) -> None:
    # An hour of one sender's audio and video timestamps (random bases), arrivals with
    # 0-30 ms jitter and a 250 ms stall every minute: both map onto the bot's clock at
    # sending time + the base delay, within a few ms, all the way (0.72 s of drift).
    rng = random.Random(5)
    for rate, step in ((RATE, 0.02), (VIDEO_CLOCK, 1 / 15)):
        clock, base = StreamClock(rate), rng.randrange(1 << 30)
        worst = 0.0
        for n in range(int(3600 / step)):
            s = n * step
            sent = T0 + s / (1 + ppm * 1e-6)
            arrival = sent + BASE_DELAY + rng.uniform(0, 0.030)
            if s % 60 < 0.25:
                arrival = max(arrival, sent - s % 60 + 0.25 + BASE_DELAY)
            t = clock.map(base + round(s * rate), arrival)
            if n * step > 1.0:
                worst = max(worst, abs(t - (sent + BASE_DELAY)))
        assert worst < 0.005, (rate, worst)
        assert clock.resyncs == 0
