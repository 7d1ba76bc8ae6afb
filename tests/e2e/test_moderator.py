"""The moderator plugin end to end on the local node with real media.

Guests are bots sending white noise, a steady tone or the espeak-ng speech fixture
(`file:` sources); the node measures their levels and sends `stage` events; the moderator
bot acts through the client API (as host) or the management API (as guest). What the
node did is read back through the management API (`status/v1/participant`). Windows are
a few seconds so the whole module stays short.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from prometheus_client import generate_latest

from agent import ManagementClient, MessageReceived, Plugin, parse_config
from agent.media.sources import TestPatternSource
from agent.node import LocalNode, NodeConfig, default_config
from agent.node.config import ServiceConfig
from agent.runtime.bot import Bot
from agent.runtime.context import PluginContext
from agent.runtime.metrics import registry_for
from agent.runtime.states import BotState
from plugins.moderator import Moderator, ModeratorConfig
from tests.support.moderator import SPEECH, white, write_wav
from tests.support.pexbot_cmd import pexbot

pytestmark = pytest.mark.e2e

WINDOW = 4.0


class Inbox(Plugin[Any]):
    """A guest's private chat messages."""

    name = "inbox"

    def __init__(self) -> None:
        super().__init__()
        self.direct: list[str] = []

    async def on_message_received(self, event: MessageReceived) -> None:
        if event.direct:
            self.direct.append(event.payload)


@pytest.fixture
async def node() -> AsyncIterator[LocalNode]:
    # `room`: hosts need PIN 1234, guests join without one.
    services = [*default_config().services, ServiceConfig(name="room", host_pin="1234")]
    async with LocalNode(NodeConfig(services=services)) as n:
        yield n


@pytest.fixture
async def admin(node: LocalNode) -> AsyncIterator[ManagementClient]:
    async with ManagementClient(node.base_url, username="admin", password="admin") as api:
        yield api


@pytest.fixture
def noise_wav(tmp_path: Path) -> str:
    return f"file:{write_wav(tmp_path / 'noise.wav', white(5.0, 0.1))}"


def bot_config(
    node: LocalNode, name: str, audio: str, *, pin: str | None = None, hear: bool = False
) -> Any:
    return parse_config(
        {
            "node": node.base_url,
            "alias": "room",
            "display_name": name,
            **({"pin": pin} if pin else {}),
            "media": {
                "audio": audio,
                "video": "none",
                "receive_audio": hear,
                "receive_video": False,
                "ice_host_addresses": ["127.0.0.1"],
            },
        }
    )


class Room:
    """Bots in the `room` conference, started in order and all stopped at the end."""

    def __init__(self, node: LocalNode, tmp_path: Path) -> None:
        self.node = node
        self.audit = tmp_path / "moderator.jsonl"
        self.running: list[tuple[Bot, asyncio.Task[Any]]] = []

    async def join(self, bot: Bot) -> float:
        """Start `bot`; returns when its media is up (monotonic)."""
        task = asyncio.create_task(bot.run())
        self.running.append((bot, task))
        async with asyncio.timeout(20):
            while bot.state.state != BotState.IN_CALL:
                assert not task.done(), bot.state.history
                await asyncio.sleep(0.05)
        return time.monotonic()

    def moderator(self, *, pin: str | None = "1234", **settings: Any) -> tuple[Bot, Moderator]:
        config = ModeratorConfig.model_validate(
            {"audit_file": str(self.audit), "noise": {"window": WINDOW}, **settings}
        )
        plugin = Moderator(config=config)
        hear = config.confirm_with_audio
        return Bot(
            bot_config(self.node, "Moderator", "silence", pin=pin, hear=hear), [plugin]
        ), plugin

    async def guest(self, name: str, audio: str, *, pin: str | None = None) -> tuple[Bot, float]:
        bot = Bot(bot_config(self.node, name, audio, pin=pin), [Inbox()])
        return bot, await self.join(bot)

    async def leave(self, bot: Bot) -> None:
        for b, task in self.running:
            if b is bot:
                bot.request_leave()
                await asyncio.wait_for(task, 15)

    async def close(self) -> None:
        for bot, _ in self.running:
            bot.request_leave()
        await asyncio.gather(
            *(asyncio.wait_for(task, 15) for _, task in self.running), return_exceptions=True
        )

    def lines(self) -> list[dict[str, Any]]:
        if not self.audit.exists():
            return []
        return [
            d
            for d in map(json.loads, self.audit.read_text().splitlines())
            if d["kind"] == "decision"
        ]


@pytest.fixture
async def room(node: LocalNode, tmp_path: Path) -> AsyncIterator[Room]:
    r = Room(node, tmp_path)
    try:
        yield r
    finally:
        await r.close()


def uuid_of(bot: Bot) -> str:
    return next(iter(bot.own_uuids))


async def is_muted(admin: ManagementClient, bot: Bot) -> bool:
    return (await admin.status.participant(uuid_of(bot))).is_muted


async def muted_by(admin: ManagementClient, bot: Bot, deadline: float) -> float | None:
    """When the node shows `bot` muted (monotonic), polling until `deadline`; None if not."""
    while time.monotonic() < deadline:
        if await is_muted(admin, bot):
            return time.monotonic()
        await asyncio.sleep(0.2)
    return None


async def test_noisy_guest_is_muted_within_the_window_and_told_why(
    room: Room, admin: ManagementClient, noise_wav: str
) -> None:
    bot, moderator = room.moderator()
    await room.join(bot)
    quiet, _ = await room.guest("Quiet", "silence")
    noisy, started = await room.guest("Noisy", noise_wav)
    at = await muted_by(admin, noisy, started + WINDOW + 2.0)
    assert at is not None, f"not muted within {WINDOW} + 2 s: {room.lines()}"
    assert not await is_muted(admin, quiet)
    await moderator.flush()
    (line,) = room.lines()
    assert (line["rule"], line["action"], line["outcome"]) == ("noise", "mute", "acted")
    assert line["participant"] == uuid_of(noisy) and line["name"] == "Noisy"
    assert line["evidence"]["talk_ratio"] >= 0.8 and line["backend"] == "client"
    assert line["notified"] is True
    inbox = noisy.plugins.plugins[0]
    assert isinstance(inbox, Inbox)
    async with asyncio.timeout(5):
        while not inbox.direct:  # noqa: ASYNC110
            await asyncio.sleep(0.1)
    assert "You were muted" in inbox.direct[0] and "Unmute when you want" in inbox.direct[0]
    assert moderator.context.metrics["noise.acted"] == 1
    scraped = generate_latest(registry_for(lambda: [bot])).decode()
    assert 'pexbot_plugin_value{bot="Moderator",name="noise.acted",plugin="moderator"} 1.0' in (
        scraped
    )


async def test_speech_is_spared_when_the_bot_listens_and_noise_still_muted(
    room: Room, admin: ManagementClient, noise_wav: str
) -> None:
    bot, moderator = room.moderator(confirm_with_audio=True)
    await room.join(bot)
    speaker, started = await room.guest("Lecturer", f"file:{SPEECH}")
    # Longer than the window, plus the 3 s of listening a verdict needs.
    await asyncio.sleep(max(started + WINDOW + 4.0 - time.monotonic(), 0))
    assert not await is_muted(admin, speaker)
    await moderator.flush()
    (spared,) = room.lines()
    assert (spared["rule"], spared["action"], spared["outcome"]) == ("noise", "spare", "spared")
    assert spared["evidence"]["speech_score"] >= 0.5
    assert spared["evidence"]["talk_ratio"] >= 0.8

    await room.leave(speaker)
    noisy, started = await room.guest("Hum", noise_wav)
    at = await muted_by(admin, noisy, started + WINDOW + 2.0)
    assert at is not None, room.lines()
    await moderator.flush()
    line = room.lines()[-1]
    assert (line["name"], line["outcome"]) == ("Hum", "acted")
    assert line["evidence"]["speech_score"] < 0.5


async def test_speech_is_muted_when_the_bot_does_not_listen(
    room: Room, admin: ManagementClient
) -> None:
    bot, _ = room.moderator(confirm_with_audio=False)
    await room.join(bot)
    speaker, started = await room.guest("Lecturer", f"file:{SPEECH}")
    assert await muted_by(admin, speaker, started + WINDOW + 2.0) is not None


async def test_hosts_are_never_muted_and_dry_run_audits_the_same_lines(
    room: Room, admin: ManagementClient, noise_wav: str
) -> None:
    bot, moderator = room.moderator(dry_run=True, cooldown=2.0)
    await room.join(bot)
    host, _ = await room.guest("Host", noise_wav, pin="1234")
    guest, started = await room.guest("Guest", noise_wav)
    await asyncio.sleep(max(started + WINDOW + 2.0 - time.monotonic(), 0))
    await moderator.flush()
    dry = [d for d in room.lines() if d["outcome"] == "dry_run"]
    assert dry and {d["participant"] for d in dry} == {uuid_of(guest)}
    assert not await is_muted(admin, guest) and not await is_muted(admin, host)

    assert await moderator.control("on", []) == "moderator on: acting through the client API"
    assert await muted_by(admin, guest, time.monotonic() + 4.0) is not None
    await asyncio.sleep(1.0)  # the host has made noise for longer than the window
    assert not await is_muted(admin, host)
    await moderator.flush()
    (acted,) = [d for d in room.lines() if d["outcome"] == "acted"]
    same = ("rule", "action", "participant", "name", "backend")
    assert {k: acted[k] for k in same} == {k: dry[0][k] for k in same}
    assert acted["evidence"].keys() == dry[0]["evidence"].keys()
    assert all(d["participant"] != uuid_of(host) for d in room.lines())


async def test_cooldown_and_rate_limit_hold_with_five_noisy_guests(
    room: Room, admin: ManagementClient, noise_wav: str
) -> None:
    bot, moderator = room.moderator(max_actions_per_minute=2, cooldown=60)
    await room.join(bot)
    guests = [(await room.guest(f"Noisy {i}", noise_wav))[0] for i in range(5)]
    await asyncio.sleep(WINDOW + 2.5)
    states = [await is_muted(admin, g) for g in guests]
    assert sum(states) == 2, states
    await moderator.flush()
    lines = room.lines()
    # On a loaded machine a stage event from before a mute can arrive after it: the rule
    # fires again for that guest and the cooldown holds it (audited as `cooldown`).
    acted = {d["participant"] for d in lines if d["outcome"] == "acted"}
    cooled = [d for d in lines if d["outcome"] == "cooldown"]
    assert all(d["participant"] in acted for d in cooled), cooled
    lines = [d for d in lines if d["outcome"] != "cooldown"]
    assert sorted(d["outcome"] for d in lines) == ["acted"] * 2 + ["rate_limited"] * 3
    limited = {d["participant"] for d in lines if d["outcome"] == "rate_limited"}
    assert limited == {uuid_of(g) for g, m in zip(guests, states, strict=True) if not m}

    # A muted guest unmutes itself and goes on: within the cooldown it is left alone (the
    # node's VAD was off while it was muted: the window fills again first).
    first = next(g for g, m in zip(guests, states, strict=True) if m)
    await first.conference.participant(uuid_of(first)).unmute()
    await asyncio.sleep(WINDOW + 1.5)
    assert not await is_muted(admin, first)
    await moderator.flush()
    again = [d for d in room.lines() if d["participant"] == uuid_of(first)]
    outcomes = [d["outcome"] for d in again]
    assert outcomes[0] == "acted" and len(outcomes) >= 2, outcomes
    assert set(outcomes[1:]) == {"cooldown"}, outcomes


async def test_management_backend_mutes_with_the_bot_joined_as_guest(
    room: Room,
    admin: ManagementClient,
    noise_wav: str,
    tmp_path: Path,
) -> None:
    (tmp_path / "admin-password").write_text("admin\n")
    management = {"password_file": str(tmp_path / "admin-password")}
    bot, moderator = room.moderator(pin=None, backend="management", management=management)
    await room.join(bot)
    assert not bot.is_host
    noisy, started = await room.guest("Noisy", noise_wav)
    assert await muted_by(admin, noisy, started + WINDOW + 2.0) is not None
    await moderator.flush()
    (line,) = room.lines()
    assert (line["outcome"], line["backend"]) == ("acted", "management")


async def test_presenting_mutes_a_guest_talking_through_a_presentation(
    room: Room, admin: ManagementClient
) -> None:
    settings: dict[str, Any] = {
        "noise": {"enabled": False},
        "presenting": {"enabled": True, "grace": 2},
    }
    bot, moderator = room.moderator(**settings)
    await room.join(bot)
    presenter, _ = await room.guest("Presenter", "silence", pin="1234")
    slides = TestPatternSource(fps=5)
    await PluginContext(presenter, "test").present(slides)
    try:
        async with asyncio.timeout(5):
            while not moderator.engine.presenting:  # noqa: ASYNC110
                await asyncio.sleep(0.1)
        talker, started = await room.guest("Talker", "tone:500")
        assert await muted_by(admin, talker, started + 2.0 + 2.0) is not None
        await moderator.flush()
        (line,) = room.lines()
        assert (line["rule"], line["evidence"]["why"]) == ("presenting", "presentation")
    finally:
        slides.stop()


async def test_double_talk_mutes_a_guest_talking_over_the_host(
    room: Room, admin: ManagementClient
) -> None:
    settings: dict[str, Any] = {
        "noise": {"enabled": False},
        "double_talk": {"enabled": True, "seconds": 2},
    }
    bot, moderator = room.moderator(**settings)
    await room.join(bot)
    host, _ = await room.guest("Host", "tone:440", pin="1234")
    guest, started = await room.guest("Guest", "tone:880")
    assert await muted_by(admin, guest, started + 2.0 + 2.0) is not None
    assert not await is_muted(admin, host)
    await moderator.flush()
    (line,) = room.lines()
    assert line["rule"] == "double_talk" and line["evidence"]["overlap"] >= 2


@pytest.mark.parametrize("backend", ["client", "management"])
async def test_lock_at_locks_at_n_and_admit_lets_only_the_listed_name_in(
    room: Room, admin: ManagementClient, node: LocalNode, tmp_path: Path, backend: str
) -> None:
    settings: dict[str, Any] = {
        "lock_at": {"enabled": True, "participants": 2},
        "admit": {"enabled": True, "names": ["alice*"]},
        "backend": backend,
    }
    if backend == "management":  # the bot joins as a guest
        (tmp_path / "admin-password").write_text("admin\n")
        settings["management"] = {"password_file": str(tmp_path / "admin-password")}
    bot, moderator = room.moderator(pin="1234" if backend == "client" else None, **settings)
    await room.join(bot)
    assert bot.is_host == (backend == "client")
    async with aiohttp.ClientSession() as http:

        async def join(name: str) -> dict[str, Any]:
            url = f"{node.api_url('room')}/request_token"
            async with http.post(url, json={"display_name": name}, headers={"pin": "none"}) as r:
                assert r.status == 200, await r.text()
                result: dict[str, Any] = (await r.json())["result"]
                return result

        await join("First")
        await join("Second")
        async with asyncio.timeout(5):
            while not (await admin.status.conferences(name="room").all())[0].is_locked:  # noqa: ASYNC110
                await asyncio.sleep(0.2)
        alice = await join("Alice Smith")
        mallory = await join("Mallory")
        assert alice["current_service_type"] == mallory["current_service_type"] == "waiting_room"

        async def service(uuid: str) -> str:
            return (await admin.status.participant(uuid)).service_type

        async with asyncio.timeout(5):
            while await service(alice["participant_uuid"]) == "waiting_room":  # noqa: ASYNC110
                await asyncio.sleep(0.2)
        await asyncio.sleep(1.0)
        assert await service(mallory["participant_uuid"]) == "waiting_room"
    await moderator.flush()
    outcomes = [(d["rule"], d["action"], d["name"], d["outcome"]) for d in room.lines()]
    assert outcomes == [
        ("lock_at", "lock", "", "acted"),
        ("admit", "admit", "Alice Smith", "acted"),
    ]


# -- through the `pexbot` command --------------------------------------------------------


async def test_empty_config_runs_from_the_entry_point(node: LocalNode, tmp_path: Path) -> None:
    ran = await pexbot(
        "run", "--node", node.base_url, "--alias", "room", "--pin-env", "BOT_PIN",
        "--plugin", "moderator", "--duration", "2", env={"BOT_PIN": "1234"}, cwd=tmp_path,
    )  # fmt: skip
    assert ran.code == 0, ran.err
    assert "Traceback" not in ran.err
    assert (tmp_path / "moderator.jsonl").exists()  # the default audit file, in the cwd


@pytest.mark.parametrize(
    ("setting", "env", "code", "line"),
    [
        (
            "moderator.noise.ratio=2",
            {},
            2,
            "pexbot: invalid configuration: command line: plugin moderator: invalid config: "
            "noise.ratio: Input should be less than or equal to 1",
        ),
        (
            "moderator.backend=management",
            {"PEXBOT_ADMIN_PASSWORD": ""},
            2,
            "pexbot: failed (config): moderator: management.password_env: "
            "environment variable PEXBOT_ADMIN_PASSWORD is not set",
        ),
        (
            "moderator.audit_file=/nonexistent/m.jsonl",
            {},
            22,
            "pexbot: failed (storage): moderator: audit file /nonexistent/m.jsonl: "
            "folder /nonexistent does not exist",
        ),
    ],
)
async def test_bad_settings_exit_with_one_clear_line(
    node: LocalNode, tmp_path: Path, setting: str, env: dict[str, str], code: int, line: str
) -> None:
    ran = await pexbot(
        "run", "--node", node.base_url, "--alias", "room", "--pin-env", "BOT_PIN",
        "--plugin", "moderator", "--plugin-config", setting, env={"BOT_PIN": "1234", **env},
        cwd=tmp_path,
    )  # fmt: skip
    assert ran.code == code, ran.err
    assert ran.last_line == line
    assert "Moderator" not in [p.display_name for p in await _everyone(node)]


async def _everyone(node: LocalNode) -> list[Any]:
    return [p for c in node.ctx.state.conferences.values() for p in c.participants.values()]
