"""The bot's ears: the decoded mix, cut into stretches where one participant talks alone.

When exactly one participant has voice activity, what the bot hears (everyone but
itself) is that participant. Audio is kept per stretch of one sole speaker; once a stretch
holds `seconds` of audio, its latest `seconds` are handed out for classification, then
again every `step` seconds while the same speaker stays alone. A change of speaker, or
several (or nobody) talking, starts over.
"""

from __future__ import annotations

from collections import deque

import numpy as np

from .classifier import RATE, FloatArray

__all__ = ["Ears"]


class Ears:
    def __init__(self, seconds: float, step: float = 1.0) -> None:
        self._need = int(seconds * RATE)
        self._step = int(step * RATE)
        self._speaker: str | None = None
        self._chunks: deque[FloatArray] = deque()
        self._held = 0  # samples in _chunks
        self._fresh = 0  # samples since the last hand-out

    def hear(self, samples: FloatArray, speaker: str | None) -> tuple[str, FloatArray] | None:
        """16 kHz mono `samples` heard while `speaker` talked alone (None: not one
        speaker). Returns (speaker, the last `seconds` of audio) when one is due."""
        if speaker != self._speaker:
            self._speaker = speaker
            self._chunks.clear()
            self._held = self._fresh = 0
        if speaker is None:
            return None
        self._chunks.append(samples)
        self._held += samples.size
        self._fresh += samples.size
        while self._chunks and self._held - self._chunks[0].size >= self._need:
            self._held -= self._chunks.popleft().size
        if self._held < self._need or self._fresh < self._step:
            return None
        self._fresh = 0
        audio = np.concatenate(list(self._chunks))[-self._need :]
        return speaker, audio
