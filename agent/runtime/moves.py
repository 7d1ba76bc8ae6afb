"""The bot follows the conference: a `refer` moves it into a breakout room, back to the main
room, or to another conference (a transfer). `Moved` tells plugins it happened.

A move is one session for plugins: the bot leaves with its old token, re-joins with the
one-time token of the `refer`, and carries on. The roster reports the difference (who was
in the old place `Left`, who is in the new one `Joined`), media resumes in a new call in
the new place, leave rules start over there (a room has no host of its own), and the
recorder records on into a new file of the same session. A host bot's call moved into a
room (`host_rooms.py`) gets the same difference from the roster hooks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["MoveKind", "Moved", "move_kind"]

MoveKind = Literal["breakout", "main", "transfer"]


def move_kind(target: str | None) -> MoveKind:
    """What a `refer`'s `target` means for the bot."""
    if target == "breakout":
        return "breakout"
    if target == "main":
        return "main"
    return "transfer"


@dataclass(frozen=True)
class Moved:
    """The bot followed a move: into a breakout room (`room` names it), back to the main
    room, or to another conference (`transfer`), and is in again. On the bot's clock:
    `started` when the `refer` came, `at` when the bot was in again."""

    kind: MoveKind
    #: The alias the bot is joined through now (a room is reached through its conference's).
    alias: str
    #: The conference the bot is in now (a breakout room's name).
    conference: str
    #: The breakout room's name; None in a main room.
    room: str | None
    started: float
    at: float

    hook = "on_moved"
