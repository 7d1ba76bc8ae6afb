"""Speech or not: a numpy classifier for a few seconds of mono audio.

Speech is a train of syllables: its loudness rises and falls 2-8 times a second by tens
of dB, and its voiced sounds are harmonic (a peaky, far-from-flat spectrum). A line hum,
a fan, white or pink noise, a steady tone or a sustained chord have a nearly constant
envelope; typing is bursty but broadband (a flat spectrum) and lacks the syllable rhythm.
Three features, each mapped to 0..1 and combined by their minimum (all must look like
speech):

- modulation depth: standard deviation of the 10 ms frame level in dB (top 50 dB);
- syllable-rate modulation: the share of the envelope's modulation spectrum (0.5-40 Hz)
  that lies in 2-8 Hz;
- spectral flatness (geometric over arithmetic mean of the power spectrum, 100 Hz-7 kHz),
  median over the louder frames.

Music with rhythm and melody can look like speech: the classifier's job is to spare a
talking lecturer, not to find every kind of noise. Cost: two real FFT passes over the
signal, well under a millisecond per second of 16 kHz audio (`bench/moderator.py`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = ["SpeechVerdict", "classify", "downsample"]

FloatArray = npt.NDArray[np.float64]

#: The classifier works at 16 kHz: speech features live below 7 kHz.
RATE = 16000
_HOP = RATE // 100  # 10 ms envelope frames
_FFT = 512  # 32 ms spectral frames
_DEPTH_DB = 50.0  # envelope levels below the loudest frame minus this are floored


@dataclass(frozen=True)
class SpeechVerdict:
    #: 0 (noise) .. 1 (speech).
    score: float
    depth_db: float
    syllable_share: float
    flatness: float

    @property
    def evidence(self) -> dict[str, float]:
        return {
            "speech_score": round(self.score, 3),
            "depth_db": round(self.depth_db, 2),
            "syllable_share": round(self.syllable_share, 3),
            "flatness": round(self.flatness, 3),
        }


def downsample(samples: FloatArray, rate: int) -> FloatArray:
    """Mono float samples at `rate` (a multiple of 16 kHz) -> 16 kHz, by block averaging
    (a crude low-pass; enough for envelope and flatness)."""
    if rate % RATE:
        raise ValueError(f"sample rate {rate} is not a multiple of {RATE}")
    factor = rate // RATE
    if factor == 1:
        return samples
    n = samples.size // factor * factor
    result: FloatArray = samples[:n].reshape(-1, factor).mean(axis=1)
    return result


def _ramp(value: float, low: float, high: float) -> float:
    """0 at `low`, 1 at `high`, linear in between (either direction)."""
    t = (value - low) / (high - low)
    return float(min(max(t, 0.0), 1.0))


def classify(samples: FloatArray) -> SpeechVerdict:
    """Speech score of mono float samples at 16 kHz (at least one second)."""
    if samples.size < RATE:
        raise ValueError("need at least one second of audio")
    x = samples.astype(np.float64, copy=False)
    frames = x[: x.size // _HOP * _HOP].reshape(-1, _HOP)
    energy = np.sqrt(np.mean(frames * frames, axis=1)) + 1e-9
    if float(energy.max()) < 1e-5:  # digital silence: nothing to judge, not speech
        return SpeechVerdict(0.0, 0.0, 0.0, 1.0)
    level = 20 * np.log10(energy)
    depth = float(np.std(np.maximum(level, level.max() - _DEPTH_DB)))

    envelope = energy / energy.mean() - 1.0
    n = envelope.size
    power = np.abs(np.fft.rfft(envelope * np.hanning(n))) ** 2
    freqs = np.fft.rfftfreq(n, 1 / 100)
    total = float(power[(freqs >= 0.5) & (freqs <= 40)].sum()) + 1e-12
    share = float(power[(freqs >= 2) & (freqs <= 8)].sum()) / total

    spec_frames = x[: x.size // _FFT * _FFT].reshape(-1, _FFT) * np.hanning(_FFT)
    spectrum = np.abs(np.fft.rfft(spec_frames, axis=1)) ** 2 + 1e-12
    bins = np.fft.rfftfreq(_FFT, 1 / RATE)
    band = spectrum[:, (bins >= 100) & (bins <= 7000)]
    flat = np.exp(np.mean(np.log(band), axis=1)) / np.mean(band, axis=1)
    loudness = band.sum(axis=1)
    loud = loudness >= loudness.max() * 1e-2
    flatness = float(np.median(flat[loud]))

    score = min(
        _ramp(depth, 3.0, 8.0),
        _ramp(share, 0.12, 0.3),
        _ramp(flatness, 0.45, 0.2),
    )
    return SpeechVerdict(score, depth, share, flatness)
