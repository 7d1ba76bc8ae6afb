"""What the plugin hands the writer thread: one typed item per kind of work."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, Literal

from agent import EncodedFrame

Action = Literal["start", "stop", "pause", "resume"]


@dataclass(frozen=True, slots=True)
class Media:
    """A received encoded frame: main call media, or the presentation call's video."""

    frame: EncodedFrame
    presentation: bool = False


@dataclass(frozen=True, slots=True)
class Event:
    """A timeline record (`records.py`): `type`, `at` on the bot's clock, and its fields."""

    record: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Control:
    """start / stop / pause / resume the recording, as of `at` (bot clock)."""

    action: Action
    at: float


@dataclass(frozen=True, slots=True)
class Sync:
    """Set `done` once everything queued before it has been handled."""

    done: threading.Event


@dataclass(frozen=True, slots=True)
class Close:
    """Finalize the files, the timeline and the summary; the writer thread then ends."""


Item = Media | Event | Control | Sync | Close
