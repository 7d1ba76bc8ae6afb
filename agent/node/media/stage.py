"""The stage: participants ordered by speech, from the audio tick's VAD.

Speaking participants come first, by most recent onset; then those who spoke before, by
when they last stopped; then those who never spoke, in join order. `vad` is 100 while
speaking. A changed stage is published at most every `interval` seconds (a change inside
the interval goes out with a later tick).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

SPEAKING = 100


@dataclass
class _Speech:
    order: int
    speaking: bool = False
    onset: float = 0.0
    last_spoken: float = 0.0  # 0: never spoke


class Stage:
    def __init__(self, interval: float) -> None:
        self._interval = interval
        self._speech: dict[str, _Speech] = {}  # by participant uuid
        self._order: list[str] = []  # participant uuids, stage order
        self._published: tuple[tuple[str, int], ...] | None = None
        self._published_at = float("-inf")

    def join(self, participant_uuid: str, order: int) -> None:
        self._speech.setdefault(participant_uuid, _Speech(order=order))

    def leave(self, participant_uuid: str) -> None:
        self._speech.pop(participant_uuid, None)

    def update(self, speaking: Mapping[str, bool], now: float) -> list[dict[str, Any]] | None:
        """Take one tick's VAD results; the `stage` event's data when it is due, else None."""
        for uuid, active in speaking.items():
            speech = self._speech.get(uuid)
            if speech is None:
                continue
            if active and not speech.speaking:
                speech.onset = now
            if active or speech.speaking:
                speech.last_spoken = now
            speech.speaking = active

        def rank(uuid: str) -> tuple[int, float]:
            s = self._speech[uuid]
            if s.speaking:
                return (2, s.onset)
            if s.last_spoken:
                return (1, s.last_spoken)
            return (0, -s.order)

        self._order = sorted(self._speech, key=rank, reverse=True)
        stage = tuple((u, SPEAKING if self._speech[u].speaking else 0) for u in self._order)
        if stage == self._published or now - self._published_at < self._interval:
            return None
        self._published = stage
        self._published_at = now
        return [
            {"participant_uuid": uuid, "stage_index": index, "vad": vad}
            for index, (uuid, vad) in enumerate(stage)
        ]

    def speakers(self) -> list[str]:
        """Participants who have spoken, in stage order (the most recent speaker first)."""
        # `_order` is recomputed on the next tick: a participant that just left may linger.
        return [u for u in self._order if (s := self._speech.get(u)) is not None and s.last_spoken]

    def current(self) -> list[tuple[str, bool]]:
        """The current stage order as (participant uuid, speaking)."""
        return [(u, self._speech[u].speaking) for u in self._order if u in self._speech]
