from __future__ import annotations

import av
import numpy as np
import pytest

from agent.media import analysis
from agent.media.sources import ToneSource


def mix(*parts: np.ndarray) -> np.ndarray:
    total = np.sum([p.astype(np.int32) for p in parts], axis=0)
    return np.asarray(np.clip(total, -32768, 32767), dtype=np.int16)


def tone(freq: float, dbfs: float = -12, frames: int = 25) -> np.ndarray:
    source = ToneSource(freq, level_dbfs=dbfs)
    return np.concatenate([source.samples(n) for n in range(frames)])


def test_level_dbfs() -> None:
    assert analysis.level_dbfs(np.zeros(480, np.int16)) == float("-inf")
    assert analysis.level_dbfs(np.zeros(0)) == float("-inf")
    assert abs(analysis.level_dbfs(tone(1000, -6)) - (-9.03)) < 0.1


def test_two_tones_found_and_told_apart() -> None:
    samples = mix(tone(440), tone(880, -18))
    peaks = analysis.dominant_frequencies(samples, 2)
    assert [round(p.frequency) for p in peaks] == [440, 880]
    assert analysis.has_tone(samples, 440) and analysis.has_tone(samples, 880)
    assert not analysis.has_tone(samples, 660)
    assert abs(20 * np.log10(analysis.tone_magnitude(samples, 880)) + 18) < 0.5


def test_leak_far_below_the_main_tone_is_not_presence() -> None:
    samples = mix(tone(880), tone(440, -50))
    assert not analysis.has_tone(samples, 440)
    assert analysis.has_tone(samples, 440, relative_db=-45, min_dbfs=-60)
    assert not analysis.has_tone(np.zeros(4800, np.int16), 440)


def test_frames_to_mono_handles_layouts() -> None:
    mono = tone(500, frames=1)
    packed = av.AudioFrame.from_ndarray(np.repeat(mono, 2).reshape(1, -1), "s16", "stereo")
    planar = av.AudioFrame.from_ndarray(
        np.stack([mono, mono]).astype(np.float32) / 32768, "fltp", "stereo"
    )
    for frame in (packed, planar):
        out = analysis.frames_to_mono([frame])
        assert out.shape == (960,)
        assert np.allclose(out, mono / 32768.0, atol=1e-4)
    assert analysis.frames_to_mono([]).size == 0
    with pytest.raises(ValueError):
        analysis.spectrum(np.zeros(1))
