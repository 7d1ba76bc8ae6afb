"""The moderator: auto-mute on stage voice activity, room policies and an audit trail.

A first-party plugin (`moderator`, through the `pexbot.plugins` entry point) written as a
third party would: it imports nothing of pexbot but `agent`. The rule engine (`engine.py`)
and the safety gate (`safety.py`) are pure and clock-driven; the speech/noise classifier
(`classifier.py`) is numpy; actions go through the client API or the management API
(`actions.py`); every decision is a line in `moderator.jsonl` (`audit.py`).
"""

from __future__ import annotations

from .actions import Actions, ClientActions, ManagementActions, UnsupportedActionError
from .classifier import SpeechVerdict, classify
from .config import ModeratorConfig
from .engine import Decision, Engine, Person
from .plugin import Moderator
from .safety import Gate

__all__ = [
    "Actions",
    "ClientActions",
    "Decision",
    "Engine",
    "Gate",
    "ManagementActions",
    "Moderator",
    "ModeratorConfig",
    "Person",
    "SpeechVerdict",
    "UnsupportedActionError",
    "classify",
]
