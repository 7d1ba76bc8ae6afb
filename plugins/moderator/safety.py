"""Between a decision and an action: mode, self and host protection, cooldown, rate limit.

Pure like the engine (the caller passes `now`). The engine decides again at every
evaluation while a rule's condition holds; the gate lets the first through and turns the
repeats into at most one audit line per participant and cooldown period, so the audit
file shows each suppression once a cooldown (a minute at least), not four times a second.
"""

from __future__ import annotations

from collections import deque
from typing import Literal

from .engine import Decision

__all__ = ["Gate", "Mode", "Verdict"]

Mode = Literal["on", "off", "dry-run"]
#: What becomes of a decision: act on it, only log it (dry run), or hold it back and why.
Verdict = Literal["act", "dry_run", "spared", "cooldown", "rate_limited", "refused"]


class Gate:
    """Cooldown per participant, a global per-minute limit on voice-chosen actions, and
    the last line of defence: never the bot, never a host, for any punitive action."""

    #: Actions that silence or remove someone: never on the bot or a host.
    PUNITIVE = frozenset({"mute", "disconnect"})

    def __init__(self, *, cooldown: float, per_minute: int, own_uuid: str | None = None) -> None:
        self.cooldown = cooldown
        self.per_minute = per_minute
        self.own_uuid = own_uuid
        self._last_action: dict[tuple[str, str], float] = {}
        self._voice_actions: deque[float] = deque()
        # Suppressed repeats already audited: (target, verdict) -> quiet until.
        self._told: dict[tuple[str, str], float] = {}

    def judge(
        self, decision: Decision, now: float, mode: Mode, *, target_is_host: bool = False
    ) -> Verdict | None:
        """The verdict for `decision`, or None for a repeat that needs no audit line."""
        if mode == "off":
            return None
        target = decision.target or ""
        if decision.action in self.PUNITIVE and (
            (self.own_uuid is not None and target == self.own_uuid) or target_is_host
        ):
            return self._once(target, "refused", now)
        if decision.action == "spare":
            return self._once(target, "spared", now)
        key = (target, decision.action)
        last = self._last_action.get(key)
        if last is not None and now - last < self.cooldown:
            return self._once(target, "cooldown", now)
        if decision.voice:
            while self._voice_actions and self._voice_actions[0] <= now - 60:
                self._voice_actions.popleft()
            if len(self._voice_actions) >= self.per_minute:
                return self._once(target, "rate_limited", now)
            self._voice_actions.append(now)
        self._last_action[key] = now
        self._told.pop((target, "cooldown"), None)
        self._told.pop((target, "rate_limited"), None)
        return "dry_run" if mode == "dry-run" else "act"

    def _once(self, target: str, verdict: Verdict, now: float) -> Verdict | None:
        """`verdict` the first time for this target, then None for a cooldown period (a
        minute at least: the rate limit's window)."""
        until = self._told.get((target, verdict))
        if until is not None and now < until:
            return None
        self._told[(target, verdict)] = now + max(self.cooldown, 60.0)
        return verdict

    def forget(self, target: str) -> None:
        """The participant left: nothing of it is kept."""
        for key in [k for k in self._last_action if k[0] == target]:
            del self._last_action[key]
        for told in [k for k in self._told if k[0] == target]:
            del self._told[told]
