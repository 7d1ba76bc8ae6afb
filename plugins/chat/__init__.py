"""The chat plugin: in-meeting commands with Pexip roles, and pluggable answers.

People in the meeting type commands (`!help`, `!status`, `!record pause`, `!mute Alice`,
`!admit Bob`, `!moderator dry-run`, ...); the bot checks the sender's role in the roster,
does it through its context (host controls; the recorder and the moderator through
`context.controllable(...)`, never by import) and replies, privately by default. Other
messages go to responders (`faq`, `http`, or any in the `pexbot.responders` entry-point
group). Loaded as `chat` through the `pexbot.plugins` entry point.
"""

from __future__ import annotations

from .config import ChatConfig, LoopGuardConfig, RateLimit, ResponderEntry
from .message import ChatMessage, Responder, ResponderError, ResponderTimeout
from .plugin import ChatPlugin
from .responders import RESPONDER_GROUP, ResponderLoadError, load_responder
from .table import COMMANDS, CommandSpec, Permission

__all__ = [
    "COMMANDS",
    "RESPONDER_GROUP",
    "ChatConfig",
    "ChatMessage",
    "ChatPlugin",
    "CommandSpec",
    "LoopGuardConfig",
    "Permission",
    "RateLimit",
    "Responder",
    "ResponderEntry",
    "ResponderError",
    "ResponderLoadError",
    "ResponderTimeout",
    "load_responder",
]
