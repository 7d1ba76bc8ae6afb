"""Energy VAD with hysteresis, on synthetic signals; and its cost."""

from __future__ import annotations

import time

import av
import numpy as np
import pytest

from agent.media.sources import ToneSource
from agent.media.vad import EnergyVad, VoiceDetector, frame_samples, rms_dbfs

SILENCE = np.zeros(960, dtype=np.int16)


def tone(dbfs: float) -> np.ndarray:
    return ToneSource(300, level_dbfs=dbfs).samples(0)


def run(vad: VoiceDetector, frames: list[np.ndarray]) -> list[bool]:
    return [vad.process(f) for f in frames]


def test_levels() -> None:
    assert rms_dbfs(SILENCE) == -120.0
    assert abs(rms_dbfs(tone(-10)) - (-13.01)) < 0.1  # sine RMS is 3 dB below its peak


def test_attack_hangover_and_release() -> None:
    vad = EnergyVad(on_dbfs=-40, off_dbfs=-50, attack_frames=2, release_frames=5)
    loud = tone(-20)
    assert run(vad, [SILENCE] * 3) == [False] * 3
    assert run(vad, [loud, loud, loud]) == [False, True, True]
    # a short gap (syllable pause) keeps it on
    assert run(vad, [SILENCE] * 4 + [loud]) == [True] * 5
    # a long gap turns it off exactly after release_frames
    assert run(vad, [SILENCE] * 6) == [True] * 4 + [False, False]


def test_single_click_does_not_trigger() -> None:
    vad = EnergyVad(attack_frames=2)
    loud = tone(-20)
    assert run(vad, [loud, SILENCE, loud, SILENCE]) == [False] * 4


def test_between_thresholds_keeps_state() -> None:
    vad = EnergyVad(on_dbfs=-40, off_dbfs=-50, attack_frames=1, release_frames=2)
    middle = tone(-42)  # RMS -45 dBFS: between off and on
    assert run(vad, [middle] * 5) == [False] * 5
    vad.process(tone(-20))
    assert run(vad, [middle] * 5) == [True] * 5
    vad.reset()
    assert not vad.active


def test_bad_configuration() -> None:
    with pytest.raises(ValueError):
        EnergyVad(on_dbfs=-50, off_dbfs=-40)
    with pytest.raises(ValueError):
        EnergyVad(attack_frames=0)


def test_decoded_frame_samples_and_cost() -> None:
    # aiortc decodes Opus to s16 stereo 48 kHz, 960 samples per channel per 20 ms.
    stereo = np.repeat(tone(-20), 2).reshape(1, -1)
    frame = av.AudioFrame.from_ndarray(stereo, format="s16", layout="stereo")
    vad = EnergyVad()
    n = 2000
    start = time.perf_counter()
    for _ in range(n):
        vad.process(frame_samples(frame))
    per_frame_us = (time.perf_counter() - start) / n * 1e6
    print(f"energy VAD incl. to_ndarray: {per_frame_us:.1f} us per 20 ms frame")
    assert vad.active
    assert per_frame_us < 200  # well under 1% of a core (200 us = 1%); typically ~10 us
    with pytest.raises(ValueError, match="s16"):
        frame_samples(
            av.AudioFrame.from_ndarray(stereo.astype(np.float32), format="flt", layout="stereo")
        )
