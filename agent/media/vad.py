"""Voice activity detection on decoded audio: energy with hysteresis, pluggable.

Energy (RMS in dBFS) per 20 ms frame is a poor speech detector but a cheap and
predictable one: it is what the node needs for "who is speaking" and what bots need for
"did anything arrive". Hysteresis (separate on/off thresholds plus a hangover) keeps the
decision from flapping on syllable gaps. The `VoiceDetector` Protocol lets a better detector
(e.g. WebRTC VAD or a model) replace it without touching callers.

Cost: one dot product over 960-1920 int16 samples, ~10-20 us per frame (measured in the
unit tests), i.e. ~0.1 % of a core per stream.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

import av
import numpy as np
import numpy.typing as npt


class VoiceDetector(Protocol):
    """Feeds on consecutive frames; returns whether voice is active after each one."""

    @property
    def active(self) -> bool: ...

    def process(self, samples: npt.NDArray[np.int16]) -> bool: ...

    def reset(self) -> None: ...


def rms_dbfs(samples: npt.NDArray[np.int16]) -> float:
    """RMS of int16 samples in dBFS; -120 for digital silence."""
    if samples.size == 0:
        return -120.0
    flat = samples.reshape(-1).astype(np.float32)
    energy = float(np.dot(flat, flat)) / flat.size
    if energy <= 0:
        return -120.0
    return 10 * math.log10(energy) - 90.30899869919435  # 20*log10(32768)


@dataclass
class EnergyVad:
    """Energy VAD with hysteresis.

    Turns on after `attack_frames` consecutive frames above `on_dbfs`; turns off after
    `release_frames` consecutive frames below `off_dbfs` (frames in between keep the state).
    """

    on_dbfs: float = -40.0
    off_dbfs: float = -50.0
    attack_frames: int = 2
    release_frames: int = 15  # 300 ms at 20 ms frames

    def __post_init__(self) -> None:
        if self.off_dbfs > self.on_dbfs:
            raise ValueError("off_dbfs must not be above on_dbfs")
        if self.attack_frames < 1 or self.release_frames < 1:
            raise ValueError("attack_frames and release_frames must be at least 1")
        self._active = False
        self._above = 0
        self._below = 0
        self.level_dbfs = -120.0

    @property
    def active(self) -> bool:
        return self._active

    def process(self, samples: npt.NDArray[np.int16]) -> bool:
        level = self.level_dbfs = rms_dbfs(samples)
        if level >= self.on_dbfs:
            self._above += 1
            self._below = 0
        elif level < self.off_dbfs:
            self._below += 1
            self._above = 0
        else:
            self._above = 0
            self._below = 0
        if not self._active and self._above >= self.attack_frames:
            self._active = True
        elif self._active and self._below >= self.release_frames:
            self._active = False
        return self._active

    def reset(self) -> None:
        self._active = False
        self._above = self._below = 0
        self.level_dbfs = -120.0


def frame_samples(frame: av.AudioFrame) -> npt.NDArray[np.int16]:
    """Interleaved int16 samples of an s16 AudioFrame (aiortc's decoded Opus format)."""
    if frame.format.name != "s16":
        raise ValueError(f"expected an s16 AudioFrame, got {frame.format.name}")
    return np.asarray(frame.to_ndarray(), dtype=np.int16)
