"""The commands the chat plugin knows: name, usage, what it does and who may by default.

Who may is the sender's Pexip role from the roster: `anyone`, `host` (the chair role) or
`nobody` (the command is off); `permissions` in the config overrides it per command.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["COMMANDS", "CommandSpec", "Permission"]

Permission = Literal["anyone", "host", "nobody"]


@dataclass(frozen=True)
class CommandSpec:
    name: str
    usage: str  # what follows the name
    summary: str
    default: Permission = "host"


COMMANDS: dict[str, CommandSpec] = {
    spec.name: spec
    for spec in (
        CommandSpec("help", "[command]", "what each command does", "anyone"),
        CommandSpec(
            "status",
            "",
            "the bot's state, uptime, participants, recording and moderator",
            "anyone",
        ),
        CommandSpec("record", "start|stop|pause|resume", "drive the recorder"),
        CommandSpec("mute", "<name>", "mute a participant's audio"),
        CommandSpec("unmute", "<name>", "unmute a participant's audio"),
        CommandSpec("muteguests", "", "mute every guest"),
        CommandSpec("unmuteguests", "", "unmute the guests"),
        CommandSpec("lock", "", "new participants wait in the waiting room"),
        CommandSpec("unlock", "", "let new participants straight in"),
        CommandSpec("admit", "<name>", "let someone in from the waiting room"),
        CommandSpec("moderator", "on|off|dry-run", "switch the moderator"),
        CommandSpec("leave", "", "the bot leaves the conference"),
    )
}
