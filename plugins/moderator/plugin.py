"""The moderator plugin: the engine fed from the bot's events, the gate, the actions, the
audit trail and the control surface a chat-command plugin drives.

Flow: roster changes, stage events, presentations and a ticker (`tick` seconds) go to the
pure `Engine`, which returns decisions; the `Gate` gives each a verdict (act, dry run,
held back by cooldown or rate limit, refused, spared); every verdict is one audit line and
one count in `context.metrics` (`<rule>.<outcome>`, exported as `pexbot_plugin_value`);
actions run one at a time on their own task, so a slow API never holds up the engine.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

from agent import (
    BotState,
    Changed,
    Clock,
    ConferenceUpdate,
    DecodedFrame,
    FailureReason,
    Joined,
    Left,
    ManagementClient,
    ParticipantInfo,
    Plugin,
    PluginContext,
    PresentationEnded,
    PresentationStart,
    PresentationStop,
    Stage,
    StateChanged,
    SystemClock,
    frame_to_mono,
)

from .actions import Actions, ClientActions, ManagementActions
from .audit import AuditError, AuditLog, check_writable
from .classifier import classify, downsample
from .config import ModeratorConfig, WallTime
from .ears import Ears
from .engine import Decision, Engine, Person
from .safety import Gate, Mode, Verdict

__all__ = ["Moderator"]

log = logging.getLogger(__name__)

_IN_CONFERENCE = frozenset({BotState.CONNECTED, BotState.IN_CALL})
_MODES: dict[str, Mode] = {"on": "on", "off": "off", "dry-run": "dry-run"}
_MODE_TEXT: dict[Mode, str] = {
    "on": "on: acting through the {backend} API",
    "off": "off: deciding nothing",
    "dry-run": "dry-run: deciding and auditing, acting on nothing",
}


def person_of(info: ParticipantInfo) -> Person:
    return Person(
        uuid=info.uuid,
        name=info.display_name,
        host=info.is_host,
        call_tag=info.call_tag or "",
        muted=info.muted,
        waiting=info.in_waiting_room,
        lecture=info.service_type == "lecture",
        spotlight=info.spotlight > 0,
    )


def next_moment(at: WallTime, now: datetime) -> datetime:
    """The moment `at` names: a date-time (naive = local time) or a time of day's next
    occurrence (local time unless it has an offset)."""
    if isinstance(at, datetime):
        return at if at.tzinfo is not None else at.astimezone()
    local_now = now.astimezone()
    moment = datetime.combine(local_now.date(), at)
    moment = moment.replace(tzinfo=at.tzinfo) if at.tzinfo else moment.astimezone()
    if moment <= now:
        moment += timedelta(days=1)
    return moment


def read_password(config: ModeratorConfig) -> str:
    """The management API password, from `password_file` or `password_env`; ValueError
    with a one-line reason (never the value) when there is none."""
    settings = config.management
    if settings.password_file is not None:
        try:
            return Path(settings.password_file).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ValueError(
                f"management.password_file {settings.password_file}: {exc.strerror or exc}"
            ) from None
    password = os.environ.get(settings.password_env)
    if not password:
        raise ValueError(
            f"management.password_env: environment variable {settings.password_env} is not set"
        )
    return password


class Moderator(Plugin[ModeratorConfig]):
    """Auto-mute on voice activity, room policies, an audit trail (see the README)."""

    name = "moderator"
    Config = ModeratorConfig
    # Decoded audio only when confirming with the bot's own ears (set per instance below).
    wants_audio_frames: ClassVar[bool] = True

    def __init__(
        self,
        context: PluginContext | None = None,
        config: ModeratorConfig | None = None,
        *,
        clock: Clock | None = None,
        wall: Callable[[], datetime] | None = None,
        actions: Actions | None = None,
    ) -> None:
        super().__init__(context, config)
        # The host reads the flag from the plugin object: without confirm_with_audio the
        # bot decodes nothing for this plugin.
        vars(self)["wants_audio_frames"] = self.config.confirm_with_audio
        self._clock = clock or SystemClock()
        self._wall = wall or (lambda: datetime.now(UTC))
        self._actions = actions
        self.mode: Mode = "dry-run" if self.config.dry_run else "on"
        self.engine = Engine(self.config)
        self.gate = Gate(
            cooldown=self.config.cooldown, per_minute=self.config.max_actions_per_minute
        )
        self.ears = Ears(self.config.classify_seconds)
        self.counts: dict[str, int] = {}
        self._password: str | None = None
        self._audit: AuditLog | None = None
        self._queue: asyncio.Queue[Decision | None] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []
        self._classifying: asyncio.Task[None] | None = None
        self._began = False
        self._origin = self._clock.monotonic()

    # -- the control surface (driven by a chat-command plugin) ------------------------------

    async def control(self, command: str, args: list[str]) -> str:
        """Set the mode: `on`, `off` or `dry-run`; returns a one-line confirmation."""
        mode = _MODES.get(command.strip().lower())
        if mode is None:
            raise ValueError(f"moderator: unknown command {command!r} (on, off, dry-run)")
        if args:
            raise ValueError(f"moderator {command} takes no arguments")
        self.mode = mode
        if self._audit is not None:
            self._audit.record({**self._stamp(), "kind": "mode", "mode": mode})
        return "moderator " + _MODE_TEXT[mode].format(backend=self._backend_name)

    def status(self) -> dict[str, object]:
        c = self.counts
        return {
            "mode": self.mode,
            "actions": sum(v for k, v in c.items() if k.endswith(".acted")),
            "dry_run": sum(v for k, v in c.items() if k.endswith(".dry_run")),
            "failed": sum(v for k, v in c.items() if k.endswith(".failed")),
            "backend": self._backend_name,
            "rules": self.config.enabled_rules(),
            "participants": len(self.engine.people),
            "speaking": len(self.engine.speaking),
        }

    @property
    def _backend_name(self) -> str:
        return self._actions.backend if self._actions is not None else self.config.backend

    # -- lifecycle -----------------------------------------------------------------------

    async def prepare(self) -> None:
        """Before joining: the audit file must be writable, audio received if the bot is to
        listen, the management password set."""
        cfg = self.config
        try:
            await asyncio.to_thread(check_writable, Path(cfg.audit_file))
        except AuditError as exc:
            self.context.fail(FailureReason.STORAGE, f"moderator: {exc}")
            return
        if cfg.confirm_with_audio and not self.context.bot_config.media.receive_audio:
            self.context.fail(
                FailureReason.CONFIG,
                "moderator: confirm_with_audio needs the bot to receive audio "
                "(media.receive_audio = true)",
            )
            return
        if cfg.backend == "management" and self._actions is None:
            try:
                self._password = await asyncio.to_thread(read_password, cfg)
            except ValueError as exc:
                self.context.fail(FailureReason.CONFIG, f"moderator: {exc}")

    async def start(self) -> None:
        self._origin = self._clock.monotonic()
        self._audit = AuditLog(Path(self.config.audit_file))
        await self._audit.open()
        if self._actions is None:
            self._actions = self._make_actions()
        self._tasks = [
            asyncio.create_task(self._ticker(), name="moderator-tick"),
            asyncio.create_task(self._worker(), name="moderator-act"),
        ]

    def _make_actions(self) -> Actions:
        if self.config.backend == "client":
            return ClientActions(self.context)
        settings = self.config.management
        password = self._password if self._password is not None else read_password(self.config)
        client = ManagementClient(
            settings.url or self.context.bot_config.node,
            username=settings.username,
            password=password,
            verify_tls=settings.verify_tls,
            timeout=settings.timeout,
        )
        return ManagementActions(self.context, client)

    async def stop(self) -> None:
        ticker, worker = self._tasks or (None, None)
        if ticker is not None:
            ticker.cancel()
            await asyncio.gather(ticker, return_exceptions=True)
        if self._classifying is not None:
            await asyncio.gather(self._classifying, return_exceptions=True)
        if worker is not None:
            self._queue.put_nowait(None)  # actions already decided still run
            try:
                await asyncio.wait_for(worker, 10)
            except TimeoutError:
                log.warning("moderator: actions still running at stop were abandoned")
        if self._actions is not None:
            await self._actions.aclose()
        if self._audit is not None:
            await self._audit.aclose()

    async def _ticker(self) -> None:
        while True:
            await self._clock.sleep(self.config.tick)
            if self.mode != "off":
                self._dispatch(self.engine.tick(self._clock.monotonic()))

    # -- what the bot hands over ---------------------------------------------------------

    async def on_state_changed(self, change: StateChanged) -> None:
        if change.new not in _IN_CONFERENCE or self._began:
            return
        self._began = True
        self._own()
        now = self._clock.monotonic()
        self._schedule(now)
        if self.config.backend == "client" and not self.context.is_host:
            log.warning(
                "moderator: the bot joined %s as a guest; client API actions will fail "
                '(join with the host PIN, or use backend = "management")',
                self.context.alias,
            )
        self._dispatch(self.engine.begin(now))

    def _own(self) -> None:
        own = self.context.own_uuid
        if own != self.engine.own_uuid:
            self.engine.own_uuid = self.gate.own_uuid = own

    def _schedule(self, now: float) -> None:
        """Clock rules' wall times onto the monotonic time line."""
        wall = self._wall()
        moments: dict[str, float] = {}
        for rule, at in (("lock_at", self.config.lock_at.at), ("end_at", self.config.end_at.at)):
            if at is None or not getattr(self.config, rule).enabled:
                continue
            moment = next_moment(at, wall)
            ahead = (moment - wall).total_seconds()
            if ahead < 0:
                log.warning("moderator: %s %s has passed; ignored", rule, moment.isoformat())
                continue
            moments[rule] = now + ahead
        self.engine.schedule(lock_at=moments.get("lock_at"), end_at=moments.get("end_at"))

    async def on_joined(self, change: Joined) -> None:
        now = self._clock.monotonic()
        self._dispatch(self.engine.join(person_of(change.participant), now, initial=change.initial))

    async def on_changed(self, change: Changed) -> None:
        self._dispatch(self.engine.update(person_of(change.after), self._clock.monotonic()))

    async def on_left(self, change: Left) -> None:
        uuid = change.participant.uuid
        self.gate.forget(uuid)
        self._dispatch(self.engine.leave(uuid, self._clock.monotonic()))

    async def on_stage(self, event: Stage) -> None:
        self._own()
        speaking = [s.participant_uuid for s in event.speakers if s.vad > 0]
        self._dispatch(self.engine.stage(speaking, self._clock.monotonic()))

    async def on_presentation_start(self, event: PresentationStart) -> None:
        presenter = None if event.revoked else event.presenter_uuid
        self.engine.presentation(presenter, self._clock.monotonic())

    async def on_presentation_stop(self, event: PresentationStop) -> None:
        self.engine.presentation(None, self._clock.monotonic())

    async def on_presentation_ended(self, event: PresentationEnded) -> None:
        self.engine.presentation(None, self._clock.monotonic())

    async def on_conference_update(self, event: ConferenceUpdate) -> None:
        self.engine.conference(locked=event.locked)

    async def on_audio_frame(self, frame: DecodedFrame) -> None:
        if not self.config.confirm_with_audio:
            return
        audio = frame.frame
        samples = downsample(frame_to_mono(audio), int(audio.sample_rate))
        heard = self.ears.hear(samples, self.engine.sole_speaker())
        if heard is None or (self._classifying is not None and not self._classifying.done()):
            return  # one classification at a time; the next stretch comes within a second
        uuid, clip = heard
        self._classifying = asyncio.create_task(self._classify(uuid, clip))

    async def _classify(self, uuid: str, clip: Any) -> None:
        try:
            verdict = await asyncio.to_thread(classify, clip)
        except ValueError as exc:  # a clip it cannot judge: no verdict, the rule waits
            log.info("moderator: no speech verdict for %s: %s", uuid, exc)
            return
        self.engine.note_speech(uuid, verdict.score, self._clock.monotonic())

    # -- decisions -> verdicts -> actions --------------------------------------------------

    def _dispatch(self, decisions: list[Decision]) -> None:
        if not decisions or self.mode == "off":
            return
        now = self._clock.monotonic()
        for decision in decisions:
            target = self.engine.people.get(decision.target or "")
            host = target is not None and target.host
            verdict = self.gate.judge(decision, now, self.mode, target_is_host=host)
            if verdict is None:
                continue
            if verdict == "act":
                self._queue.put_nowait(decision)
            else:
                self._audit_line(decision, _OUTCOMES[verdict])

    async def _worker(self) -> None:
        while (decision := await self._queue.get()) is not None:
            try:
                await self._act(decision)
            finally:
                self._queue.task_done()

    async def _act(self, decision: Decision) -> None:
        actions = self._actions
        assert actions is not None
        error: str | None = None
        notified: bool | None = None
        try:
            await self._perform(actions, decision)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            error = " ".join(f"{type(exc).__name__}: {exc}".split())
            log.warning("moderator: %s %s failed: %s", decision.rule, decision.action, error)
        if error is None and decision.action == "mute" and self.config.notify:
            notified = await self._notify(actions, decision)
        self._audit_line(decision, "failed" if error else "acted", error=error, notified=notified)

    @staticmethod
    async def _perform(actions: Actions, decision: Decision) -> None:
        target = decision.target or ""
        match decision.action:
            case "mute":
                await actions.mute(target)
            case "disconnect":
                await actions.disconnect(target)
            case "admit":
                await actions.admit(target)
            case "lock":
                await actions.lock()
            case "spotlight" | "unspotlight":
                await actions.spotlight(target, decision.action == "spotlight")
            case "set_guests_can_unmute":
                await actions.set_guests_can_unmute(False)
            case "announce":
                await actions.announce(decision.message or "")
            case "spare":
                pass

    async def _notify(self, actions: Actions, decision: Decision) -> bool:
        if not decision.message or not decision.target:
            return False
        try:
            await actions.tell(decision.target, decision.message)
        except Exception as exc:
            log.info("moderator: could not tell %s why: %s", decision.name, exc)
            return False
        return True

    def _stamp(self) -> dict[str, Any]:
        return {
            "utc": self._wall().isoformat(timespec="milliseconds"),
            "t": round(self._clock.monotonic() - self._origin, 3),
        }

    def _audit_line(
        self,
        decision: Decision,
        outcome: str,
        *,
        error: str | None = None,
        notified: bool | None = None,
    ) -> None:
        key = f"{decision.rule}.{outcome}"
        self.counts[key] = self.counts.get(key, 0) + 1
        self.context.metrics[key] += 1
        entry: dict[str, Any] = {
            **self._stamp(),
            "kind": "decision",
            "rule": decision.rule,
            "action": decision.action,
            "participant": decision.target,
            "name": decision.name,
            "evidence": dict(decision.evidence),
            "backend": self._backend_name,
            "mode": self.mode,
            "outcome": outcome,
        }
        if error is not None:
            entry["error"] = error
        if notified is not None:
            entry["notified"] = notified
        if self._audit is not None:
            self._audit.record(entry)

    async def flush(self) -> None:
        """Wait until queued actions are done and every audit line is written."""
        await self._queue.join()
        if self._audit is not None:
            await self._audit.flush()


_OUTCOMES: dict[Verdict, str] = {
    "act": "acted",
    "dry_run": "dry_run",
    "spared": "spared",
    "cooldown": "cooldown",
    "rate_limited": "rate_limited",
    "refused": "refused",
}
