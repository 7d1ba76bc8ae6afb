"""The moderator plugin around its engine: classifier, ears, audit file, the verdict ->
action -> audit flow on a virtual clock with recording actions, and the control surface."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from datetime import UTC, datetime, time, timedelta, timezone
from pathlib import Path
from typing import Any, cast

import numpy as np
import pytest

from agent import (
    BotState,
    HostOnlyError,
    Joined,
    ParticipantInfo,
    PluginContext,
    Stage,
    StageEntry,
    StateChanged,
    parse_config,
)
from plugins.moderator import Moderator, ModeratorConfig, classify
from plugins.moderator.audit import AuditError, AuditLog, check_writable
from plugins.moderator.classifier import downsample
from plugins.moderator.ears import Ears
from plugins.moderator.plugin import next_moment, read_password
from tests.support import moderator as fx
from tests.support.virtual_clock import VirtualClock

# -- the classifier --------------------------------------------------------------------------


@pytest.mark.parametrize("offset", [0.0, 3.0, 6.0, 9.0, 12.0, 15.0])
def test_espeak_speech_scores_as_speech(offset: float) -> None:
    verdict = classify(downsample(fx.speech(3.0, offset), fx.RATE))
    assert verdict.score >= 0.9, verdict


@pytest.mark.parametrize("noise", [fx.white, fx.pink, fx.tone, fx.hum, fx.typing, fx.chords])
def test_noises_score_as_not_speech(noise: Any) -> None:
    verdict = classify(downsample(noise(3.0), fx.RATE))
    assert verdict.score < 0.2, (noise.__name__, verdict)


def test_classifier_edges() -> None:
    assert classify(np.zeros(16000)).score == 0.0  # silence is not speech
    with pytest.raises(ValueError, match="at least one second"):
        classify(np.zeros(8000))
    with pytest.raises(ValueError, match="not a multiple"):
        downsample(np.zeros(100), 44100)
    # Speech under a quieter noise bed is still speech (a real microphone).
    mixed = fx.speech(3.0, 3.0) + fx.white(3.0, 0.003)
    assert classify(downsample(mixed, fx.RATE)).score >= 0.5


def test_ears_hand_out_a_sole_speakers_audio_every_step() -> None:
    ears = Ears(seconds=2.0, step=1.0)
    chunk = np.ones(320)  # 20 ms at 16 kHz
    out = [ears.hear(chunk * i, "a") for i in range(150)]  # 3 s of a alone
    handed = [(i, h) for i, h in enumerate(out) if h is not None]
    assert [i for i, _ in handed] == [99, 149]
    speaker, audio = handed[0][1]
    assert speaker == "a" and audio.size == 32000 and audio[-1] == 99 and audio[0] == 0
    assert ears.hear(chunk, None) is None
    assert all(ears.hear(chunk, "b") is None for _ in range(50))  # starts over for b


# -- audit file ------------------------------------------------------------------------------


async def test_audit_lines_are_json_written_off_the_loop(tmp_path: Path) -> None:
    audit = AuditLog(tmp_path / "moderator.jsonl")
    await audit.open()
    for i in range(3):
        audit.record({"n": i, "when": datetime(2025, 1, 1, tzinfo=UTC)})
    await audit.flush()
    lines = (tmp_path / "moderator.jsonl").read_text().splitlines()
    assert [json.loads(line)["n"] for line in lines] == [0, 1, 2]
    audit.record({"n": 3})
    await audit.aclose()
    assert len((tmp_path / "moderator.jsonl").read_text().splitlines()) == 4
    assert audit.lines == 4 and audit.errors == 0


def test_audit_folder_is_checked(tmp_path: Path) -> None:
    check_writable(tmp_path / "moderator.jsonl")
    with pytest.raises(AuditError, match=r"folder .* does not exist"):
        check_writable(tmp_path / "missing" / "moderator.jsonl")


# -- wall times and the management password -------------------------------------------------


def test_next_moment_of_a_time_of_day_and_of_a_date_time() -> None:
    now = datetime(2025, 5, 1, 12, 0, tzinfo=UTC)
    utc_time = time(13, 30, tzinfo=UTC)
    assert next_moment(utc_time, now) == datetime(2025, 5, 1, 13, 30, tzinfo=UTC)
    assert next_moment(time(11, 0, tzinfo=UTC), now) == datetime(2025, 5, 2, 11, 0, tzinfo=UTC)
    plus2 = timezone(timedelta(hours=2))
    fixed = datetime(2025, 5, 1, 17, 0, tzinfo=plus2)
    assert next_moment(fixed, now) == fixed


def test_management_password_from_env_or_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MOD_PW", raising=False)
    cfg = ModeratorConfig.model_validate({"management": {"password_env": "MOD_PW"}})
    with pytest.raises(ValueError, match="environment variable MOD_PW is not set"):
        read_password(cfg)
    monkeypatch.setenv("MOD_PW", "s3cret")
    assert read_password(cfg) == "s3cret"
    (tmp_path / "pw").write_text("filed\n")
    cfg = ModeratorConfig.model_validate({"management": {"password_file": str(tmp_path / "pw")}})
    assert read_password(cfg) == "filed"


# -- the plugin on a virtual clock --------------------------------------------------------


class FakeContext:
    """What the moderator reads of its context."""

    def __init__(self, *, host: bool = True) -> None:
        self.metrics: Counter[str] = Counter()
        self.own_uuid = "bot"
        self.is_host = host
        self.alias = "room"
        self.conference_name = "room"
        self.failed: list[tuple[Any, str]] = []
        self.bot_config: Any = None

    def fail(self, reason: Any, detail: str) -> None:
        self.failed.append((reason, detail))


class RecordingActions:
    backend = "client"

    def __init__(self, error: Exception | None = None) -> None:
        self.done: list[tuple[str, str]] = []
        self.error = error

    async def _do(self, what: str, target: str = "") -> None:
        if self.error is not None and what == "mute":
            raise self.error
        self.done.append((what, target))

    async def mute(self, uuid: str) -> None:
        await self._do("mute", uuid)

    async def disconnect(self, uuid: str) -> None:
        await self._do("disconnect", uuid)

    async def admit(self, uuid: str) -> None:
        await self._do("admit", uuid)

    async def lock(self) -> None:
        await self._do("lock")

    async def spotlight(self, uuid: str, on: bool) -> None:
        await self._do("spotlight" if on else "unspotlight", uuid)

    async def set_guests_can_unmute(self, allowed: bool) -> None:
        await self._do("guests_can_unmute", str(allowed))

    async def tell(self, uuid: str, text: str) -> None:
        await self._do("tell", f"{uuid}: {text}")

    async def announce(self, text: str) -> None:
        await self._do("announce", text)

    async def aclose(self) -> None:
        pass


def stage(*speaking: str) -> Stage:
    return Stage(
        speakers=tuple(
            StageEntry(participant_uuid=u, stage_index=i, vad=100) for i, u in enumerate(speaking)
        )
    )


async def run_noise(
    tmp_path: Path, actions: RecordingActions, **settings: Any
) -> tuple[Moderator, FakeContext, list[dict[str, Any]]]:
    """A guest and a host both make 8 s of noise (5 s window) on a virtual clock."""
    clock = VirtualClock()
    ctx = FakeContext()
    cfg = ModeratorConfig.model_validate(
        {"audit_file": str(tmp_path / "moderator.jsonl"), "noise": {"window": 5}, **settings}
    )
    wall = datetime(2025, 5, 1, 12, 0, tzinfo=UTC)
    plugin = Moderator(
        cast(PluginContext, ctx), cfg, clock=clock, wall=lambda: wall, actions=actions
    )
    await plugin.prepare()
    await plugin.start()
    await plugin.on_state_changed(StateChanged(BotState.CONNECTED, BotState.IN_CALL, 0.0))
    guest = ParticipantInfo(uuid="g", display_name="Guest")
    host = ParticipantInfo(uuid="h", display_name="Host", role="chair")
    for p in (guest, host):
        await plugin.on_joined(Joined(p, initial=True))
    await plugin.on_stage(stage("g", "h", "bot"))
    await clock.advance(8.0)
    await plugin.flush()
    await plugin.stop()
    lines = (tmp_path / "moderator.jsonl").read_text().splitlines()
    return plugin, ctx, [json.loads(line) for line in lines]


async def test_noisy_guest_is_muted_told_why_and_audited(tmp_path: Path) -> None:
    actions = RecordingActions()
    plugin, ctx, lines = await run_noise(tmp_path, actions)
    assert actions.done[0] == ("mute", "g")
    assert (
        actions.done[1][0] == "tell"
        and "continuous sound (80% of the last 5 s)" in (actions.done[1][1])
    )
    assert len(actions.done) == 2  # the host and the bot are never acted on
    # Still unmuted here (nobody updates this roster): the repeat is held back, once.
    line, repeat = lines
    assert (repeat["rule"], repeat["outcome"], repeat["participant"]) == ("noise", "cooldown", "g")
    assert line["rule"] == "noise" and line["outcome"] == "acted" and line["notified"] is True
    assert line["participant"] == "g" and line["name"] == "Guest" and line["backend"] == "client"
    assert line["evidence"] == {"talk_ratio": 0.8, "window": 5.0}
    assert line["utc"].startswith("2025-05-01T12:00:00") and 4.0 <= line["t"] <= 4.3
    assert ctx.metrics == Counter({"noise.acted": 1, "noise.cooldown": 1})
    assert plugin.status()["actions"] == 1


async def test_dry_run_writes_the_same_lines_and_acts_on_nothing(tmp_path: Path) -> None:
    actions = RecordingActions()
    plugin, ctx, lines = await run_noise(tmp_path, actions, dry_run=True)
    assert actions.done == []
    line, repeat = lines
    assert repeat["outcome"] == "cooldown"
    assert line["outcome"] == "dry_run" and line["mode"] == "dry-run" and "notified" not in line
    (tmp_path / "acted").mkdir()
    _, _, acted = await run_noise(tmp_path / "acted", RecordingActions())
    same = ("rule", "action", "participant", "name", "evidence", "backend")
    assert {k: line[k] for k in same} == {k: acted[-2][k] for k in same}
    assert ctx.metrics == Counter({"noise.dry_run": 1, "noise.cooldown": 1})
    assert plugin.status()["dry_run"] == 1 and plugin.status()["actions"] == 0


async def test_a_failed_action_is_audited_with_its_error(tmp_path: Path) -> None:
    actions = RecordingActions(HostOnlyError("mute needs the host role; the bot joined room"))
    plugin, _, lines = await run_noise(tmp_path, actions)
    line, repeat = lines  # a failed attempt also starts the cooldown: no hammering
    assert repeat["outcome"] == "cooldown"
    assert line["outcome"] == "failed"
    assert line["error"] == "HostOnlyError: mute needs the host role; the bot joined room"
    assert "notified" not in line and actions.done == []
    assert plugin.status()["failed"] == 1


async def test_an_unwritable_audit_file_fails_the_bot_before_joining(tmp_path: Path) -> None:
    ctx = FakeContext()
    cfg = ModeratorConfig(audit_file=str(tmp_path / "nope" / "moderator.jsonl"))
    plugin = Moderator(cast(PluginContext, ctx), cfg)
    await plugin.prepare()
    ((reason, detail),) = ctx.failed
    assert str(reason) == "storage" and detail.startswith("moderator: audit file ")


async def test_listening_needs_received_audio(tmp_path: Path) -> None:
    ctx = FakeContext()
    ctx.bot_config = parse_config(
        {"node": "http://127.0.0.1:1", "alias": "room", "media": {"receive_audio": False}}
    )
    cfg = ModeratorConfig(audit_file=str(tmp_path / "m.jsonl"), confirm_with_audio=True)
    await Moderator(cast(PluginContext, ctx), cfg).prepare()
    ((reason, detail),) = ctx.failed
    assert str(reason) == "config" and detail == (
        "moderator: confirm_with_audio needs the bot to receive audio (media.receive_audio = true)"
    )


async def test_control_sets_the_mode_and_status_reports_it(tmp_path: Path) -> None:
    cfg = ModeratorConfig(audit_file=str(tmp_path / "m.jsonl"))
    plugin = Moderator(cast(PluginContext, FakeContext()), cfg, actions=RecordingActions())
    await plugin.start()
    assert plugin.status()["mode"] == "on"
    assert await plugin.control("dry-run", []) == (
        "moderator dry-run: deciding and auditing, acting on nothing"
    )
    assert plugin.status()["mode"] == "dry-run"
    assert await plugin.control("off", []) == "moderator off: deciding nothing"
    assert await plugin.control("ON", []) == "moderator on: acting through the client API"
    with pytest.raises(
        ValueError, match=r"^moderator: unknown command 'mute' \(on, off, dry-run\)$"
    ):
        await plugin.control("mute", [])
    with pytest.raises(ValueError, match=r"^moderator on takes no arguments$"):
        await plugin.control("on", ["now"])
    status = plugin.status()
    assert status["rules"] == ["noise"] and status["actions"] == 0 and status["backend"] == "client"
    await plugin.flush()
    await plugin.stop()
    modes = [json.loads(x)["mode"] for x in (tmp_path / "m.jsonl").read_text().splitlines()]
    assert modes == ["dry-run", "off", "on"]


async def test_off_mode_decides_nothing(tmp_path: Path) -> None:
    actions = RecordingActions()
    clock = VirtualClock()
    cfg = ModeratorConfig.model_validate(
        {"audit_file": str(tmp_path / "m.jsonl"), "noise": {"window": 2}}
    )
    plugin = Moderator(cast(PluginContext, FakeContext()), cfg, clock=clock, actions=actions)
    await plugin.start()
    await plugin.control("off", [])
    await plugin.on_joined(Joined(ParticipantInfo(uuid="g"), initial=True))
    await plugin.on_stage(stage("g"))
    await clock.advance(5)
    await plugin.flush()
    assert actions.done == []
    await plugin.control("on", [])
    await clock.advance(0.5)
    await plugin.flush()
    assert actions.done[0] == ("mute", "g")
    await plugin.stop()


def test_audio_frames_only_when_confirming() -> None:
    assert Moderator().wants_audio_frames is False
    assert Moderator(config=ModeratorConfig(confirm_with_audio=True)).wants_audio_frames is True


async def test_stop_without_start_is_harmless() -> None:
    await Moderator().stop()
    await asyncio.sleep(0)
