"""Signals for the moderator's tests: the committed espeak-ng speech (`speech.ogg`, made by
`make_speech.sh`) and generated noises, plus a WAV writer for bots' `file:` sources."""

from __future__ import annotations

import wave
from functools import cache
from pathlib import Path

import av
import numpy as np
import numpy.typing as npt

HERE = Path(__file__).resolve().parent
SPEECH = HERE / "speech.ogg"
RATE = 48000

FloatArray = npt.NDArray[np.float64]


@cache
def _speech() -> FloatArray:
    parts = []
    with av.open(str(SPEECH)) as container:
        resampler = av.AudioResampler(format="s16", layout="mono", rate=RATE)
        for frame in container.decode(audio=0):
            for chunk in resampler.resample(frame):
                parts.append(chunk.to_ndarray().reshape(-1))
    return np.concatenate(parts).astype(np.float64) / 32768.0


def speech(seconds: float | None = None, offset: float = 0.0) -> FloatArray:
    """The fixture's speech at 48 kHz, `seconds` long from `offset`."""
    x = _speech()
    start = int(offset * RATE)
    end = x.size if seconds is None else start + int(seconds * RATE)
    return x[start:end].copy()


def white(seconds: float, level: float = 0.1, seed: int = 1) -> FloatArray:
    result: FloatArray = np.random.default_rng(seed).standard_normal(int(seconds * RATE)) * level
    return result


def pink(seconds: float, level: float = 0.1, seed: int = 2) -> FloatArray:
    n = int(seconds * RATE)
    spectrum = np.fft.rfft(np.random.default_rng(seed).standard_normal(n))
    spectrum /= np.sqrt(np.maximum(np.fft.rfftfreq(n, 1 / RATE), 20.0))
    x = np.fft.irfft(spectrum, n=n)
    result: FloatArray = x / np.std(x) * level
    return result


def tone(seconds: float, hz: float = 440.0, level: float = 0.25) -> FloatArray:
    t = np.arange(int(seconds * RATE)) / RATE
    result: FloatArray = np.sin(2 * np.pi * hz * t) * level
    return result


def hum(seconds: float, level: float = 0.2) -> FloatArray:
    t = np.arange(int(seconds * RATE)) / RATE
    result: FloatArray = (np.sin(2 * np.pi * 50 * t) + 0.5 * np.sin(2 * np.pi * 150 * t)) * level
    return result + white(seconds, level / 20)


def typing(seconds: float, seed: int = 3) -> FloatArray:
    """Key clicks: short broadband bursts 4-12 times a second."""
    rng = np.random.default_rng(seed)
    x = np.zeros(int(seconds * RATE))
    at = 0.0
    click = np.exp(-np.arange(400) / 60)
    while True:
        at += rng.uniform(0.08, 0.25)
        i = int(at * RATE)
        if i + click.size >= x.size:
            return x
        x[i : i + click.size] += rng.standard_normal(click.size) * click * 0.3


def chords(seconds: float, level: float = 0.15) -> FloatArray:
    """Sustained chords changing every 2 s (organ-like)."""
    t = np.arange(int(seconds * RATE)) / RATE
    roots = [261.6, 329.6, 392.0, 349.2]
    x = np.zeros(t.size)
    for i, root in enumerate(roots * int(seconds // 8 + 1)):
        seg = (t >= 2 * i) & (t < 2 * i + 2)
        for ratio in (1.0, 1.25, 1.5):
            x[seg] += np.sin(2 * np.pi * root * ratio * t[seg])
    result: FloatArray = x / 3 * level
    return result


def write_wav(path: Path, samples: FloatArray, rate: int = RATE) -> Path:
    """16-bit mono WAV (what a bot's `file:` audio source plays)."""
    pcm = (np.clip(samples, -1, 1) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(pcm.tobytes())
    return path
