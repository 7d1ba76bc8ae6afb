"""The leave rules (`[leave]` in the config), checked against the bot's state and roster four
times a second: which one fires now, if any."""

from __future__ import annotations

from ..config import LeaveRules
from ..infinity.roster import Roster
from .outcome import Outcome
from .states import BotState

__all__ = ["LeaveCheck"]


class LeaveCheck:
    """Keeps what the rules need over time: when the bot started, since when it is alone or
    waiting, whether a host was ever seen."""

    def __init__(self, rules: LeaveRules) -> None:
        self.rules = rules
        self.started_at = 0.0
        #: A host (chair) was seen, even one who left before the next check.
        self.seen_host = False
        self._alone_since: float | None = None
        self._waiting_since: float | None = None

    def check(
        self, now: float, state: BotState, roster: Roster, others: list[str]
    ) -> Outcome | None:
        """The leave rule that fires at `now`; `others`: the participants not the bot."""
        rules = self.rules
        if rules.duration is not None and now - self.started_at >= rules.duration:
            return Outcome("leave", f"leave.duration: {rules.duration:g} s in the conference")
        if state == BotState.WAITING_ROOM:
            if self._waiting_since is None:
                self._waiting_since = now
            timeout = rules.waiting_room_timeout
            if timeout is not None and now - self._waiting_since >= timeout:
                return Outcome(
                    "waiting_timeout", f"leave.waiting_room_timeout: not admitted in {timeout:g} s"
                )
            return None
        if roster.syncing:
            return None  # a half-replayed roster says nothing about who is there
        hosts_here = any(roster.participants[u].role == "chair" for u in others)
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
