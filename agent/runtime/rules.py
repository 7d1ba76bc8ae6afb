"""The leave rules (`[leave]`): when a bot leaves on its own, checked four times a second.

The clocks of "alone" and "every host has left" start over in each place the bot is moved
to (`new_place()`): a breakout room has no host of its own, and that is no reason to leave.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..config import LeaveRules
from ..infinity.models import ParticipantInfo
from .outcome import Outcome

__all__ = ["LeaveRuleCheck"]


class LeaveRuleCheck:
    def __init__(self, rules: LeaveRules) -> None:
        self.rules = rules
        self.started_at = 0.0
        self.seen_host = False
        self._alone_since: float | None = None
        self._waiting_since: float | None = None

    def new_place(self) -> None:
        """The bot was moved: the place-bound rules start over there."""
        self.seen_host = False
        self._alone_since = None
        self._waiting_since = None

    def check(
        self, now: float, *, waiting: bool, syncing: bool, others: Sequence[ParticipantInfo]
    ) -> Outcome | None:
        """The rule that fires now, if any. `waiting`: in the waiting room; `syncing`: the
        roster is half replayed (it says nothing about who is there); `others`: everyone
        else in the place the bot's call is in."""
        rules = self.rules
        if rules.duration is not None and now - self.started_at >= rules.duration:
            return Outcome("leave", f"leave.duration: {rules.duration:g} s in the conference")
        if waiting:
            if self._waiting_since is None:
                self._waiting_since = now
            timeout = rules.waiting_room_timeout
            if timeout is not None and now - self._waiting_since >= timeout:
                return Outcome(
                    "waiting_timeout", f"leave.waiting_room_timeout: not admitted in {timeout:g} s"
                )
            return None
        if syncing:
            return None
        hosts_here = any(p.role == "chair" for p in others)
        # A host already there when the bot came (a host's call joining a room sees no
        # roster replay, so no `Joined` for them).
        self.seen_host = self.seen_host or hosts_here
        if rules.when_hosts_leave and self.seen_host and not hosts_here:
            return Outcome("leave", "leave.when_hosts_leave: every host has left")
        if rules.alone_seconds is not None:
            if others:
                self._alone_since = None
            elif self._alone_since is None:
                self._alone_since = now
            elif now - self._alone_since >= rules.alone_seconds:
                alone = rules.alone_seconds
                return Outcome("leave", f"leave.alone_seconds: alone for {alone:g} s")
        return None
