"""One bot: join, stay in (rejoin, resync, re-call, follow moves), leave by the rules,
report how it ended.

The bot drives the state machine in `states.py`; plugins see one continuous session: the
roster survives rejoins and event-stream reconnects (only real changes reach them, and the
bot's own participant never shows), and every stretch without events is reported as a
`Gap`. Leaving is always clean and bounded: call hung up, token released, plugins drained
and stopped.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import random
from collections.abc import Callable
from typing import Any

from aiortc import MediaStreamTrack

from ..backoff import Backoff, Budget
from ..clock import Clock, SystemClock, sleep_or_event
from ..config import BotConfig
from ..infinity import ApiClient, RetryPolicy, Transport
from ..infinity.client import ConferenceClient
from ..infinity.errors import InfinityError
from ..infinity.events import StreamInterrupted, StreamOpened
from ..infinity.models.events import (
    CallDisconnected,
    Disconnect,
    NewOffer,
    ParticipantCreate,
    ParticipantDelete,
    ParticipantSyncBegin,
    ParticipantSyncEnd,
    ParticipantUpdate,
    PresentationStart,
    PresentationStop,
    Refer,
    RefreshToken,
    UpdateSdp,
)
from ..infinity.rooms import BreakoutRooms
from ..infinity.roster import Changed, Joined, Left, Roster, RosterChange
from ..infinity.session import InfinitySession, TokenLost
from ..media.fileinfo import MediaSourceError
from ..redact import Redactor
from .call import BotCall, check_sources
from .context import PluginContext
from .host_rooms import HostRooms
from .joining import Joining, JoinResult
from .leg import MediaSetupError
from .logs import current_bot, log_state
from .outcome import BotResult, Outcome, conference_ended
from .plugins import Plugin, PluginHost
from .presentation import PresentationCall, Presentations
from .rules import LeaveRuleCheck
from .states import BotState, FailureReason, Gap, GapCause, StateMachine

__all__ = ["Bot", "BotResult"]

log = logging.getLogger(__name__)


_PARTICIPANT_EVENTS = (
    ParticipantCreate,
    ParticipantUpdate,
    ParticipantDelete,
    ParticipantSyncBegin,
    ParticipantSyncEnd,
)


class Bot(Joining, HostRooms):
    def __init__(
        self,
        config: BotConfig,
        plugins: list[Plugin[Any]] | None = None,
        *,
        transport: Transport | None = None,
        clock: Clock | None = None,
        rng: random.Random | None = None,
        bot_id: str | None = None,
        secrets: Redactor | None = None,
    ) -> None:
        self.config = config
        self.secrets = secrets or Redactor()  # told the session tokens (to scrub output)
        #: Names the bot in logs and metrics; unique in a fleet (display names need not be).
        self.id = bot_id or config.display_name
        self.clock = clock or SystemClock()
        self._rng = rng or random.Random()
        self.api = ApiClient(
            config.node,
            transport=transport,
            retry=RetryPolicy(attempts=config.retry.attempts, total=config.retry.total),
            clock=self.clock,
            rng=self._rng,
        )
        for plugin in plugins or []:
            if not plugin.has_context:
                plugin.bind_context(PluginContext(self, plugin.label))
        self.plugins = PluginHost(plugins or [])
        self.state = StateMachine(
            clock=self.clock.monotonic,
            listeners=[functools.partial(log_state, config.display_name), self.plugins.publish],
        )
        self.roster = Roster()
        #: The breakout rooms a host bot sees, each with its roster.
        self.rooms = BreakoutRooms()
        self.session: InfinitySession | None = None
        #: Where the bot is now: the alias it is joined through (a transfer changes it) and
        #: the breakout room it is in (None in a main room).
        self.alias = config.alias
        self.room: str | None = None
        #: Moves followed (breakout rooms in and out, transfers).
        self.moves = 0
        self._refer: Refer | None = None
        #: The breakout room a host bot has joined (its UUID, and the bot's UUID in it):
        #: its call is there, its token and event stream stay the main room's.
        self._host_room: tuple[str, str] | None = None
        self.own_uuids: set[str] = set()
        self.rejoins = 0
        self.recalls = 0
        #: Counters for metrics and reports (read at scrape time; never reset).
        self.events_seen = 0
        self.stream_reconnects = 0
        self.call: BotCall | None = None
        self._presentations = Presentations(
            config.media,
            self.plugins,
            receive=config.media.receive_presentation or self.plugins.wants_presentation,
            clock=self.clock.monotonic,
        )
        self._leave = asyncio.Event()
        self._leave_reason = "User initiated disconnect"
        self._failure: FailureReason | None = None
        self._admitted = asyncio.Event()
        self._rules_check = LeaveRuleCheck(config.leave)
        # Set while rejoining: the next event stream's first open closes this events gap.
        self._rejoin_gap_start: float | None = None
        # When the last call ended (media stopped): a rejoin's media gap starts there.
        self._media_stopped_at: float | None = None
        #: The conference joined (a Virtual Reception's target, not the reception).
        self.conference_name = ""
        self._extension_ignored_said = False
        #: Why the last join failed (the failure a spent rejoin budget ends the bot with).
        self._join_error: tuple[FailureReason, str] = (FailureReason.INTERNAL, "")

    # -- what plugins and users call --------------------------------------------------

    @property
    def conference(self) -> ConferenceClient:
        return self._require_session().conference

    @property
    def is_host(self) -> bool:
        return self.session is not None and self.session.role == "HOST"

    def others(self) -> list[str]:
        return [u for u in self.roster.participants if u not in self.own_uuids]

    def request_leave(
        self, reason: str = "User initiated disconnect", failure: FailureReason | None = None
    ) -> None:
        """Leave cleanly as soon as possible (signal handlers call this). With `failure`,
        the bot ends `failed` with that reason (e.g. a recorder whose disk is full)."""
        self._leave_reason = reason
        if failure is not None and self._failure is None:
            self._failure = failure
        self._leave.set()

    def _require_session(self) -> InfinitySession:
        if self.session is None:
            raise RuntimeError("the bot is not in a conference")
        return self.session

    @property
    def presentation(self) -> PresentationCall | None:
        """The presentation call up now (receiving someone's, or the bot's own)."""
        return self._presentations.current

    async def present(self, source: MediaStreamTrack) -> None:
        """Take the floor and send `source` as the presentation until `stop_presentation()`."""
        await self._presentations.send(self._require_session(), source)

    async def stop_presentation(self) -> None:
        await self._presentations.stop()

    # -- lifecycle ---------------------------------------------------------------------

    async def run(self) -> BotResult:
        # Every task started from here on (plugins, events, media) logs as this bot.
        label = current_bot.set(self.id)
        try:
            return await self._run_labelled()
        finally:
            current_bot.reset(label)

    async def _run_labelled(self) -> BotResult:
        self._rules_check.started_at = self.clock.monotonic()
        log.info("bot %s: joining %s", self.id, self.config.alias)
        try:
            if await self._prepare():
                self.plugins.start()
                await self._run()
            else:
                await self.plugins.stop(self.config.leave.shutdown_timeout)
        except asyncio.CancelledError:
            await self._leave_now(FailureReason.INTERNAL, "cancelled", failed=False)
            raise
        except Exception as exc:
            log.exception("bot %s crashed", self.config.display_name)
            await self._leave_now(FailureReason.INTERNAL, type(exc).__name__, failed=True)
        finally:
            await self.api.aclose()
        sm = self.state
        return BotResult(
            sm.state,
            sm.reason,
            sm.detail,
            sm.exit_code(),
            self.rejoins,
            self.recalls,
            self.conference_name,
        )

    async def _prepare(self) -> bool:
        """Checks before joining; on a problem the bot fails without having joined."""
        try:
            await asyncio.to_thread(check_sources, self.config.media)
        except MediaSourceError as exc:
            self.state.to(BotState.FAILED, FailureReason.MEDIA, str(exc))
            return False
        raised = await self.plugins.prepare(lambda: self._failure is not None)
        if raised is not None and self._failure is None:  # else `context.fail()` said why
            label, error = raised
            self.request_leave(f"plugin {label}: {error}", failure=FailureReason.CONFIG)
        if self._failure is not None:
            self.state.to(BotState.FAILED, self._failure, self._leave_reason)
            return False
        return True

    async def _run(self) -> None:
        if await self._join() != "joined":
            await self.plugins.stop(self.config.leave.shutdown_timeout)
            return
        rejoin = Budget(
            self.config.leave.max_rejoins,
            reset_after=self.config.leave.rejoin_budget_reset,
            backoff=Backoff(base=1.0, max_delay=30.0, rng=self._rng),
            now=self.clock.monotonic,
        )
        while True:
            outcome = await self._stay()
            if outcome.kind == "moved" and self._refer is not None:
                refer, self._refer = self._refer, None
                if await self._follow(refer):
                    continue
                await self.plugins.stop(self.config.leave.shutdown_timeout)
                return
            if outcome.kind == "token_lost" and await self._rejoin(rejoin, outcome.detail):
                continue
            failure = outcome.failure(self._failure)
            # (Nothing to do when the bot has ended already, e.g. left while rejoining.)
            await self._leave_now(failure, outcome.detail, failed=failure is not None)
            return

    async def _rejoin(self, budget: Budget, why: str) -> bool:
        """Rejoin after a lost token, each try within the per-incident `budget`: a join the
        node refuses transiently (5xx, 429, unreachable, after the client's own retries) is
        one more try, not the end of the bot. False: the budget is spent or the bot ended."""
        joined: JoinResult = "retry"
        while joined == "retry":
            delay = budget.take()
            if delay is None:
                if self.state.state == BotState.JOINING:  # the last rejoin was refused
                    self.state.to(BotState.FAILED, *self._join_error)
                    await self.plugins.stop(self.config.leave.shutdown_timeout)
                return False
            self.state.to(BotState.RECONNECTING, detail=why)
            if self.session is not None:  # the incident's first try
                self._rejoin_gap_start = self.clock.monotonic()
                await self._drop_session()
            self.rejoins += 1
            await sleep_or_event(self.clock, delay, self._leave)
            if self._leave.is_set():
                await self._leave_now(None, self._leave_reason, failed=False)
                return False
            self.state.to(BotState.JOINING)
            joined = await self._join(rejoining=True)
            why = f"rejoin failed: {self._join_error[1]}"
        if joined == "failed":
            await self.plugins.stop(self.config.leave.shutdown_timeout)
        return joined == "joined"

    async def _drop_session(self) -> None:
        self._leave_room()
        session, self.session = self.session, None
        if session is not None:
            await session.close("Token lost; rejoining")

    async def _stay(self) -> Outcome:
        session = self._require_session()
        outcome: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()

        def finish(result: Outcome) -> None:
            if not outcome.done():
                outcome.set_result(result)

        async def lost() -> None:
            result: TokenLost = await session.wait_lost()
            finish(Outcome("token_lost", result.reason))

        async def leave() -> None:
            await self._leave.wait()
            finish(Outcome("leave", self._leave_reason))

        tasks = [
            asyncio.create_task(self._events(session, finish), name="bot:events"),
            asyncio.create_task(lost(), name="bot:token"),
            asyncio.create_task(leave(), name="bot:leave"),
            asyncio.create_task(self._rules(finish), name="bot:rules"),
        ]
        if self.media_enabled:
            tasks.append(asyncio.create_task(self._media(session, finish), name="bot:media"))
        try:
            return await outcome
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self.stop_presentation()

    async def _events(self, session: InfinitySession, finish: Callable[[Outcome], None]) -> None:
        gap_start, self._rejoin_gap_start = self._rejoin_gap_start, None
        cause: GapCause = "rejoin" if gap_start is not None else "stream"
        try:
            caps = self.config.events
            async for item in session.events(
                max_attempts=8, max_line=caps.max_line, max_event=caps.max_event
            ):
                self.events_seen += 1
                if isinstance(item, StreamInterrupted):
                    if gap_start is None:
                        gap_start, cause = self.clock.monotonic(), "stream"
                    self.roster.apply(item)
                    continue
                if isinstance(item, StreamOpened):
                    if gap_start is not None:
                        self.stream_reconnects += 1
                        now = self.clock.monotonic()
                        self.plugins.publish(Gap("events", gap_start, now, cause))
                        gap_start = None
                    continue
                for change in self.roster.apply(item):
                    self._roster_change(change)
                if isinstance(item, ParticipantSyncEnd):
                    self._main_synced()
                if isinstance(item, _PARTICIPANT_EVENTS):
                    self._check_admission(session)
                    continue  # plugins get the roster changes instead
                if isinstance(item, RefreshToken):
                    continue  # the session refreshed already
                for room_change in self.rooms.apply(item):
                    self._room_roster_change(room_change)
                if isinstance(item, Refer):
                    # The conference moves the bot: follow it (see `_follow`).
                    self.plugins.publish(item)
                    self._refer = item
                    finish(Outcome("moved", f"refer to {item.breakout_name or item.alias}"))
                    return
                if isinstance(item, PresentationStart | PresentationStop):
                    await self._presentations.follow(session, item, self.own_uuids)
                if self.call is not None:
                    if isinstance(item, NewOffer | UpdateSdp):
                        await self.call.answer_server_offer(item.sdp)
                    elif isinstance(item, CallDisconnected):
                        self.call.server_disconnected_call(item.call_uuid)
                self.plugins.publish(item)
                self._room_event(item)
                if isinstance(item, Disconnect):
                    ended = conference_ended(item.code)
                    finish(Outcome("ended" if ended else "disconnected", item.reason))
                    return
        except InfinityError as exc:
            finish(Outcome("stream_lost", str(exc)))

    def _roster_change(self, change: RosterChange) -> None:
        uuid = (change.after if isinstance(change, Changed) else change.participant).uuid
        if uuid in self.own_uuids:
            return
        chair = not isinstance(change, Left) and self.roster.participants[uuid].role == "chair"
        if chair and self._host_room is None:  # in a room, that room's hosts count
            self._rules_check.seen_host = True  # even a host who leaves before the next check
        if self._host_room is None:  # in a room, plugins get the room's changes instead
            self.plugins.publish(change)
        if isinstance(change, Joined | Left):
            log.info(
                "%s %s",
                "joined:" if isinstance(change, Joined) else "left:",
                change.participant.display_name,
            )

    def _check_admission(self, session: InfinitySession) -> None:
        me = self.roster.get(session.participant_uuid)
        if me is None or me.service_type is None:
            return
        session.set_service_type(me.service_type)
        if self.state.state == BotState.WAITING_ROOM and me.service_type != "waiting_room":
            self._admitted.set()
            self.state.to(BotState.CONNECTED)

    async def _rules(self, finish: Callable[[Outcome], None]) -> None:
        while True:
            now = self.clock.monotonic()
            self._check_reenter(now)
            outcome = self._check_rules(now)
            if outcome is not None:
                log.info("leave rule %s", outcome.detail)
                finish(outcome)
                return
            await self.clock.sleep(0.25)

    @property
    def media_enabled(self) -> bool:
        m = self.config.media
        return m.audio != "none" or m.video != "none" or m.receive_audio or m.receive_video

    def _check_rules(self, now: float) -> Outcome | None:
        """The leave rule that fires now, if any (checked four times a second), judged
        where the bot's call is: the main room, or the breakout room a host joined."""
        roster = self.roster.participants
        here = self._in_room()
        others, syncing = here or ([roster[u] for u in self.others()], self.roster.syncing)
        return self._rules_check.check(
            now, waiting=self.state.state == BotState.WAITING_ROOM, syncing=syncing, others=others
        )

    async def _media(self, session: InfinitySession, finish: Callable[[Outcome], None]) -> None:
        await self._admitted.wait()
        call = BotCall(
            session,
            self.config.media,
            self.plugins,
            clock=self.clock.monotonic,
            seat=self._seat,
            in_room=lambda: self._host_room is not None,
            placed=self._host_call_placed,
            move_failed=self._host_move_failed,
        )
        self.call = call
        started = False
        try:
            try:
                await call.start()
            except MediaSetupError as exc:
                finish(Outcome("media_failed", str(exc)))
                return
            except Exception as exc:
                # Unexpected (a bug, a moved aiortc seam): fail the bot and say so, rather
                # than sit connected with no media and no word.
                log.error("media could not start: %s: %s", type(exc).__name__, exc)
                log.debug("media start failure", exc_info=True)
                finish(Outcome("media_failed", f"media could not start: {type(exc).__name__}"))
                return
            started = True
            if self.state.state == BotState.CONNECTED:
                self.state.to(BotState.IN_CALL)
            stopped, self._media_stopped_at = self._media_stopped_at, None
            if stopped is not None:  # media is back after a rejoin
                self.plugins.publish(Gap("media", stopped, self.clock.monotonic(), "rejoin"))
            # The call re-calls on media loss by itself; this returns when it gave up.
            reason = await call.wait_failed()
            finish(Outcome("media_failed", reason))
        finally:
            self.call = None
            self.recalls += call.recalls
            if started:  # media stops here: a rejoin's media gap starts now
                self._media_stopped_at = self.clock.monotonic()
            await call.aclose()

    async def _leave_now(self, reason: FailureReason | None, detail: str, *, failed: bool) -> None:
        if self.state.finished:
            return
        if self.state.state != BotState.LEAVING:
            self.state.to(BotState.LEAVING, detail=detail)
        timeout = self.config.leave.shutdown_timeout
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                session, self.session = self.session, None
                if session is not None:
                    await session.close(self._leave_reason if not failed else detail or "Failed")
        await self.plugins.stop(timeout)
        if failed and reason is not None:
            self.state.to(BotState.FAILED, reason, detail)
        else:
            self.state.to(BotState.LEFT, detail=detail)
