"""Signal measurements for tests and diagnostics: levels (dBFS) and tones (FFT).

The end-to-end tests prove media with measured signals ("C hears 440 Hz and 880 Hz"), so
these helpers take plain numpy arrays (mono int16 or float in [-1, 1]) and AudioFrames.
Tone presence is judged relative to the spectrum's strongest peak and to the band's noise
floor, which is robust to Opus coding and to mixing levels.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import av
import numpy as np
import numpy.typing as npt

SAMPLE_RATE = 48000
FloatArray = npt.NDArray[np.float64]


def to_float(samples: npt.ArrayLike) -> FloatArray:
    """int16 (or float) samples -> float64 in [-1, 1]."""
    array = np.asarray(samples)
    if array.dtype == np.int16:
        return array.astype(np.float64) / 32768.0
    return array.astype(np.float64)


def frame_to_mono(frame: av.AudioFrame) -> FloatArray:
    """An AudioFrame (s16/flt, packed or planar, any channels) -> mono float64."""
    data = frame.to_ndarray()
    channels = len(frame.layout.channels)
    if frame.format.is_planar:
        samples = to_float(data).reshape(channels, -1)
    else:
        samples = to_float(data).reshape(-1, channels).T
    mono: FloatArray = samples.mean(axis=0)
    return mono


def frames_to_mono(frames: Iterable[av.AudioFrame]) -> FloatArray:
    parts = [frame_to_mono(f) for f in frames]
    return np.concatenate(parts) if parts else np.zeros(0)


def level_dbfs(samples: npt.ArrayLike) -> float:
    """RMS level in dBFS (a full-scale sine is -3 dBFS); -inf for digital silence."""
    x = to_float(samples)
    if x.size == 0:
        return float("-inf")
    rms = float(np.sqrt(np.mean(x * x)))
    return 20 * np.log10(rms) if rms > 0 else float("-inf")


def spectrum(
    samples: npt.ArrayLike, sample_rate: int = SAMPLE_RATE
) -> tuple[FloatArray, FloatArray]:
    """(frequencies, magnitudes) of a Hann-windowed real FFT."""
    x = to_float(samples)
    if x.size < 2:
        raise ValueError("need at least 2 samples for a spectrum")
    window = np.hanning(x.size)
    magnitudes = np.asarray(np.abs(np.fft.rfft(x * window)) / (window.sum() / 2), np.float64)
    freqs = np.asarray(np.fft.rfftfreq(x.size, 1 / sample_rate), np.float64)
    return freqs, magnitudes


@dataclass(frozen=True)
class Peak:
    frequency: float
    magnitude: float  # linear amplitude of the sinusoid (1.0 = full scale)


def dominant_frequencies(
    samples: npt.ArrayLike,
    count: int = 3,
    *,
    sample_rate: int = SAMPLE_RATE,
    min_separation_hz: float = 30.0,
    min_frequency: float = 20.0,
) -> list[Peak]:
    """The `count` strongest spectral peaks, at least `min_separation_hz` apart."""
    freqs, mags = spectrum(samples, sample_rate)
    order = np.argsort(mags)[::-1]
    peaks: list[Peak] = []
    for index in order:
        f = float(freqs[index])
        if f < min_frequency:
            continue
        if all(abs(f - p.frequency) >= min_separation_hz for p in peaks):
            peaks.append(Peak(f, float(mags[index])))
            if len(peaks) == count:
                break
    return peaks


def tone_magnitude(
    samples: npt.ArrayLike,
    frequency: float,
    *,
    sample_rate: int = SAMPLE_RATE,
    tolerance_hz: float = 10.0,
) -> float:
    """Peak linear amplitude within `frequency ± tolerance_hz`."""
    freqs, mags = spectrum(samples, sample_rate)
    band = (freqs >= frequency - tolerance_hz) & (freqs <= frequency + tolerance_hz)
    return float(mags[band].max()) if band.any() else 0.0


def has_tone(
    samples: npt.ArrayLike,
    frequency: float,
    *,
    sample_rate: int = SAMPLE_RATE,
    tolerance_hz: float = 10.0,
    min_dbfs: float = -50.0,
    relative_db: float = -20.0,
) -> bool:
    """Whether a tone at `frequency` is present.

    Present means: its amplitude is above `min_dbfs` (absolute), and within `relative_db`
    of the strongest component of the signal (so a tone that leaked at -40 dB under a
    loud one does not count).
    """
    freqs, mags = spectrum(samples, sample_rate)
    band = (freqs >= frequency - tolerance_hz) & (freqs <= frequency + tolerance_hz)
    if not band.any():
        return False
    peak = float(mags[band].max())
    strongest = float(mags[freqs >= 20].max()) if (freqs >= 20).any() else 0.0
    if peak <= 0 or strongest <= 0:
        return False
    absolute = 20 * np.log10(peak)
    relative = 20 * np.log10(peak / strongest)
    return bool(absolute >= min_dbfs and relative >= relative_db)
