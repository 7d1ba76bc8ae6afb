"""The commands themselves: each takes a parsed request and returns the reply, or raises
`CommandError` with the reply and the outcome (refused, ambiguous, ...)."""

from __future__ import annotations

import difflib
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from agent import Controllable, HostOnlyError, ParticipantInfo, PluginContext

from .names import ambiguity, find_participant
from .table import COMMANDS, CommandSpec, Permission

__all__ = ["CommandError", "Commands", "Outcome", "Request"]

log = logging.getLogger(__name__)

Outcome = Literal[
    "done",
    "refused",
    "disabled",
    "unknown",
    "invalid",
    "ambiguous",
    "not_found",
    "unavailable",
    "failed",
]


class CommandError(Exception):
    """The command did not happen: `reply` says why, `outcome` classifies it."""

    def __init__(self, reply: str, outcome: Outcome) -> None:
        super().__init__(reply)
        self.reply = reply
        self.outcome: Outcome = outcome


@dataclass(frozen=True)
class Request:
    word: str  # the command as typed, lower case
    args: list[str]  # what follows, split on spaces
    rest: str  # what follows, as typed
    sender_uuid: str
    sender_name: str
    sender_is_host: bool


def duration(seconds: float) -> str:
    s = max(int(seconds), 0)
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"


def describe_recording(status: Mapping[str, object]) -> str:
    state = str(status.get("state", "unknown"))
    paused = status.get("paused_seconds")
    if isinstance(paused, int | float) and paused > 0:
        return f"{state} (paused {paused:.1f} s in all)"
    return state


@dataclass
class Commands:
    context: PluginContext
    prefix: str
    permissions: Mapping[str, Permission]
    #: Seconds the plugin has been running (for `status`).
    uptime: Callable[[], float]
    #: Set by `leave`: the plugin makes the bot leave once the reply is out.
    leave_requested: str | None = field(default=None, init=False)

    # -- parsing and rules -------------------------------------------------------------

    def parse(self, text: str, sender_uuid: str, sender_name: str, is_host: bool) -> Request:
        body = text.strip()[len(self.prefix) :].strip()
        word, _, rest = body.partition(" ")
        return Request(word.lower(), rest.split(), rest.strip(), sender_uuid, sender_name, is_host)

    def permission(self, spec: CommandSpec) -> Permission:
        return self.permissions.get(spec.name, spec.default)

    def spec(self, request: Request) -> CommandSpec:
        """The command asked for, if the sender may use it (else `CommandError`)."""
        spec = COMMANDS.get(request.word)
        if spec is None or self.permission(spec) == "nobody":
            raise CommandError(self._unknown(request.word), "unknown")
        if self.permission(spec) == "host" and not request.sender_is_host:
            raise CommandError(
                f"only hosts may use {self.prefix}{spec.name}, and you are a guest here",
                "refused",
            )
        return spec

    def _unknown(self, word: str) -> str:
        usable = [n for n, s in COMMANDS.items() if self.permission(s) != "nobody"]
        near = difflib.get_close_matches(word, usable, n=1, cutoff=0.5)
        shown = f"{self.prefix}{word}" if word else self.prefix
        hint = f"; did you mean {self.prefix}{near[0]}?" if near else ""
        return f"unknown command {shown}{hint} ({self.prefix}help lists the commands)"

    async def run(self, request: Request) -> str:
        spec = self.spec(request)
        handler: Callable[[Request], Awaitable[str]] = getattr(self, f"_{spec.name}")
        return await handler(request)

    # -- the commands ------------------------------------------------------------------

    async def _help(self, request: Request) -> str:
        p = self.prefix
        if request.args:
            name = request.args[0].lower().removeprefix(p)
            spec = COMMANDS.get(name)
            if spec is None or self.permission(spec) == "nobody":
                raise CommandError(self._unknown(name), "unknown")
            who = "anyone" if self.permission(spec) == "anyone" else "hosts only"
            usage = f" {spec.usage}" if spec.usage else ""
            return f"usage: {p}{spec.name}{usage}: {spec.summary} ({who})"

        def shown(spec: CommandSpec) -> str:
            return f"{p}{spec.name}" + (f" {spec.usage}" if spec.usage else "")

        everyone = [shown(s) for s in COMMANDS.values() if self.permission(s) == "anyone"]
        hosts = [shown(s) for s in COMMANDS.values() if self.permission(s) == "host"]
        lines = [f"Commands: {', '.join(everyone) or '(none)'}"]
        if hosts:
            lines.append(f"For hosts: {', '.join(hosts)}")
        lines.append(f"Names match display names, any case. {p}help <command> says more.")
        return "\n".join(lines)

    async def _status(self, request: Request) -> str:
        ctx = self.context
        role = "host" if ctx.is_host else "guest"
        where = ctx.conference_name or ctx.alias
        others = len(ctx.roster)
        people = f"{others} other participant{'s' if others != 1 else ''}"
        lines = [
            f"{ctx.display_name} ({role}) in {where}: {ctx.state}, "
            f"up {duration(self.uptime())}, {people}"
        ]
        recorder = ctx.controllable("recorder")
        lines.append(
            "recording: "
            + (describe_recording(recorder.status()) if recorder else "no recorder in this bot")
        )
        moderator = ctx.controllable("moderator")
        mode = moderator.status().get("mode", "unknown") if moderator else "not loaded"
        lines.append(f"moderator: {mode}")
        return "\n".join(lines)

    async def _drive(self, name: str, request: Request) -> str:
        """`record ...` and `moderator ...`: the other plugin's `control`."""
        plugin: Controllable | None = self.context.controllable(name)
        if plugin is None:
            raise CommandError(f"there is no {name} loaded in this bot", "unavailable")
        if not request.args:
            status = plugin.status()
            if name == "recorder":
                return f"recording: {describe_recording(status)}"
            return f"{name}: {status.get('mode', status)}"
        verb = request.args[0].lower()
        try:
            return await plugin.control(verb, request.args[1:])
        except ValueError as exc:
            raise CommandError(f"{name} {verb}: {exc}", "invalid") from None
        except Exception as exc:  # the other plugin's bug: said, logged, not fatal here
            log.exception("chat: %s control %r failed", name, verb)
            raise CommandError(f"{name} {verb} failed ({type(exc).__name__})", "failed") from None

    async def _record(self, request: Request) -> str:
        return await self._drive("recorder", request)

    async def _moderator(self, request: Request) -> str:
        return await self._drive("moderator", request)

    async def _act(self, what: str, action: Awaitable[None]) -> None:
        try:
            await action
        except HostOnlyError:
            raise CommandError(
                f"I joined as a guest, so I cannot {what}; make me a host first", "failed"
            ) from None
        except Exception as exc:
            raise CommandError(f"{what} failed: {exc}", "failed") from None

    def _who(self, request: Request, pool: list[ParticipantInfo]) -> ParticipantInfo:
        spec = COMMANDS[request.word]
        if not request.rest:
            raise CommandError(f"say who: {self.prefix}{spec.name} {spec.usage}", "invalid")
        match = find_participant(pool, request.rest)
        if match.found is not None:
            return match.found
        if match.ambiguous:
            raise CommandError(ambiguity(request.rest, match.candidates), "ambiguous")
        raise CommandError(f'nobody called "{request.rest}" is here', "not_found")

    async def _mute(self, request: Request) -> str:
        p = self._who(request, list(self.context.main_roster.values()))
        await self._act(f"mute {p.display_name}", self.context.mute(p.uuid))
        return f"muted {p.display_name}"

    async def _unmute(self, request: Request) -> str:
        p = self._who(request, list(self.context.main_roster.values()))
        await self._act(f"unmute {p.display_name}", self.context.unmute(p.uuid))
        return f"unmuted {p.display_name}"

    async def _muteguests(self, request: Request) -> str:
        await self._act("mute the guests", self.context.mute_guests())
        return "guests muted"

    async def _unmuteguests(self, request: Request) -> str:
        await self._act("unmute the guests", self.context.unmute_guests())
        return "guests unmuted"

    async def _lock(self, request: Request) -> str:
        await self._act("lock the conference", self.context.lock())
        return "conference locked: newcomers wait in the waiting room"

    async def _unlock(self, request: Request) -> str:
        await self._act("unlock the conference", self.context.unlock())
        return "conference unlocked"

    async def _admit(self, request: Request) -> str:
        everyone = list(self.context.main_roster.values())
        waiting = [p for p in everyone if p.in_waiting_room]
        if not request.rest:
            if not waiting:
                raise CommandError("nobody is waiting", "invalid")
            names = ", ".join(p.display_name or p.uuid[:8] for p in waiting)
            raise CommandError(f"waiting: {names}; say who: {self.prefix}admit <name>", "invalid")
        if not find_participant(waiting, request.rest).candidates:
            elsewhere = find_participant(everyone, request.rest).found
            if elsewhere is not None:
                raise CommandError(f"{elsewhere.display_name} is not waiting", "invalid")
        p = self._who(request, waiting)
        await self._act(f"admit {p.display_name}", self.context.admit(p.uuid))
        return f"admitted {p.display_name}"

    async def _leave(self, request: Request) -> str:
        self.leave_requested = f"asked to leave by {request.sender_name} in the chat"
        return "leaving the conference"
