"""Getting the bot in: the first join, a rejoin after the token was lost, and following
the conference when it moves the bot (`refer`: into a breakout room, back, or a transfer).

A mixin of `Bot`: it sets the bot's session, its own UUIDs and where it is (alias, room,
conference name), and moves the state machine to `waiting_room` or `connected`.
"""

from __future__ import annotations

import asyncio
import logging
import random
from typing import Literal

from ..clock import Clock
from ..config import BotConfig
from ..infinity import ApiClient, TransportError
from ..infinity.errors import InfinityError, InfinityHTTPError
from ..infinity.models.events import Refer
from ..infinity.rooms import BreakoutRooms
from ..infinity.session import InfinitySession, JoinOptions
from ..redact import Redactor
from .moves import Moved, move_kind
from .outcome import failure_for_join_error, is_transient_join_error
from .plugins import PluginHost
from .rules import LeaveRuleCheck
from .states import BotState, FailureReason, StateMachine

__all__ = ["JoinResult", "Joining"]

#: What a join came to: in, failed for good (the state machine says why), or refused
#: transiently while rejoining (one more try of the rejoin budget; the reason in `_join_error`).
JoinResult = Literal["joined", "failed", "retry"]

log = logging.getLogger(__name__)


class Joining:
    """The join, rejoin and move steps of `Bot` (which sets these attributes)."""

    config: BotConfig
    api: ApiClient
    clock: Clock
    _rng: random.Random
    state: StateMachine
    plugins: PluginHost
    session: InfinitySession | None
    own_uuids: set[str]
    conference_name: str
    alias: str
    room: str | None
    rooms: BreakoutRooms
    moves: int
    _rules_check: LeaveRuleCheck
    _admitted: asyncio.Event
    _extension_ignored_said: bool
    _join_error: tuple[FailureReason, str]
    secrets: Redactor

    async def _join(self, *, rejoining: bool = False) -> JoinResult:
        """Join (a new session). On a failure the bot is `failed`, unless `rejoining` and the
        node's refusal is transient: then "retry"."""
        cfg = self.config
        try:
            options = JoinOptions(
                display_name=cfg.display_name,
                pin=cfg.resolve_pin(),
                extension=cfg.extension,
                call_tag=cfg.call_tag,
            )
        except ValueError as exc:
            self.state.to(BotState.FAILED, FailureReason.CONFIG, str(exc))
            return "failed"
        if self.alias != cfg.alias:
            # Transferred earlier: a rejoin goes to where the bot is now.
            options = JoinOptions(display_name=cfg.display_name, call_tag=cfg.call_tag)
        session = await self._open(self.alias, options, "", rejoining=rejoining)
        if isinstance(session, str):
            return session
        if cfg.extension is not None and not session.forwarded:
            if not self._extension_ignored_said:
                log.warning(
                    "extension %r ignored: %s is not a Virtual Reception", cfg.extension, cfg.alias
                )
            self._extension_ignored_said = True
        wanted = {"host": "HOST", "guest": "GUEST"}.get(cfg.role or "")
        if wanted is not None and session.role != wanted:
            log.warning(
                "joined %s as %s, not as the configured %s", cfg.alias, session.role, cfg.role
            )
        self._enter(session)
        return "joined"

    async def _open(
        self, alias: str, options: JoinOptions, what: str, *, rejoining: bool = False
    ) -> InfinitySession | Literal["failed", "retry"]:
        """A joined session; else "failed" after the state machine has failed (`what`
        prefixes the detail), or "retry" for a transient refusal while `rejoining`."""
        session = InfinitySession(
            self.api,
            alias,
            options,
            clock=self.clock,
            rng=self._rng,
            on_token=self.secrets.add_token,  # so no output ever shows it
        )
        try:
            await session.open()
        except (InfinityError, TransportError) as exc:
            reason = failure_for_join_error(exc)
            detail = exc.reason if isinstance(exc, InfinityHTTPError) else str(exc)
            self._join_error = (reason, what + detail)
            if rejoining and is_transient_join_error(exc):
                log.warning("rejoin failed: %s", detail)
                return "retry"
            if reason == FailureReason.PIN_REQUIRED and self.state.state == BotState.JOINING:
                self.state.to(BotState.PIN_REQUIRED, detail=str(exc))
            self.state.to(BotState.FAILED, reason, what + detail)
            return "failed"
        self.session = session
        self.own_uuids.add(session.participant_uuid)
        self.conference_name = session.conference_name
        return session

    def _enter(self, session: InfinitySession) -> None:
        if session.in_waiting_room:
            self._admitted.clear()
            self.state.to(BotState.WAITING_ROOM)
        else:
            self._admitted.set()
            self.state.to(BotState.CONNECTED)

    async def _follow(self, refer: Refer) -> bool:
        """Leave with the old token and re-join where `refer` sends the bot, with its one-time
        token; plugins get `Moved` once the bot is in. False (the bot failed) if the node
        does not take the token."""
        at, kind = self.clock.monotonic(), move_kind(refer.target)
        where = refer.breakout_name or refer.alias
        self.state.to(BotState.RECONNECTING, detail=f"following a {kind} move to {where}")
        old, self.session = self.session, None
        if old is not None:
            await old.close("Transferred")
        cfg = self.config
        options = JoinOptions(cfg.display_name, call_tag=cfg.call_tag, token=refer.token)
        session = await self._open(refer.alias, options, f"move to {where}: ")
        if isinstance(session, str):
            return False
        self.alias, self.room = refer.alias, refer.breakout_name if kind == "breakout" else None
        self.rooms = BreakoutRooms()
        self._rules_check.new_place()
        self.moves += 1
        log.info("moved (%s) to %s", kind, self.conference_name)
        moved = Moved(kind, self.alias, self.conference_name, self.room, at, self.clock.monotonic())
        self.plugins.publish(moved)
        self._enter(session)
        return True
