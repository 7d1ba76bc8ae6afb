"""Who a command means: a display name (any case), the start of one, or a UUID prefix.

An exact name (case-insensitive) wins; otherwise names where a word starts with what was
typed, then names that contain it. More than one candidate is ambiguous: the reply lists
them with the start of each UUID, which the sender can type instead.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from agent import ParticipantInfo

__all__ = ["Match", "ambiguity", "find_participant", "label"]

#: UUID characters shown to tell people with the same name apart.
SHORT_UUID = 8
#: Candidates listed in an ambiguity reply.
LISTED = 5


@dataclass(frozen=True)
class Match:
    found: ParticipantInfo | None
    candidates: tuple[ParticipantInfo, ...] = ()

    @property
    def ambiguous(self) -> bool:
        return self.found is None and len(self.candidates) > 1


def _fold(text: str) -> str:
    return " ".join(text.casefold().split())


def label(p: ParticipantInfo) -> str:
    return f"{p.display_name or '(no name)'} ({p.uuid[:SHORT_UUID]})"


def find_participant(people: Iterable[ParticipantInfo], query: str) -> Match:
    """The one participant `query` means, or the candidates (none, or several)."""
    q = _fold(query.strip().strip("\"'").removeprefix("@"))
    pool = list(people)
    if not q:
        return Match(None)
    for tier in (
        [p for p in pool if _fold(p.display_name) == q],
        [p for p in pool if len(q) >= 4 and p.uuid.casefold().startswith(q)],
        [
            p
            for p in pool
            if _fold(p.display_name).startswith(q)
            or any(w.startswith(q) for w in _fold(p.display_name).split())
        ],
        [p for p in pool if q in _fold(p.display_name)],
    ):
        if len(tier) == 1:
            return Match(tier[0], tuple(tier))
        if tier:
            return Match(None, tuple(tier))
    return Match(None)


def ambiguity(query: str, candidates: tuple[ParticipantInfo, ...]) -> str:
    """`"al" matches 3 participants: Alice (3f2a1b0c), ...; say which`."""
    shown = ", ".join(label(p) for p in candidates[:LISTED])
    more = f" and {len(candidates) - LISTED} more" if len(candidates) > LISTED else ""
    return (
        f'"{query}" matches {len(candidates)} participants: {shown}{more}; '
        "use the full name or the start of the id in brackets"
    )
