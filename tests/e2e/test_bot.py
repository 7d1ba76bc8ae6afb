"""The bot runtime end to end on the local node: join flows, staying in, leaving, plugins."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from agent.config import BotConfig, parse_config
from agent.infinity import Changed, InfinitySession, Joined, JoinOptions, Left
from agent.infinity.models.events import MessageReceived
from agent.node import LocalNode
from agent.runtime.bot import Bot
from agent.runtime.plugins import Plugin
from agent.runtime.states import EXIT_CODES, BotState, FailureReason, Gap, StateChanged
from tests.support.inspect_node import names_in, node_state, set_faults, with_control


@pytest.fixture
async def node() -> AsyncIterator[LocalNode]:
    async with LocalNode(with_control()) as n:
        yield n


def config(node: LocalNode, alias: str = "meet", **extra: Any) -> BotConfig:
    data: dict[str, Any] = {
        "node": node.base_url,
        "alias": alias,
        "display_name": "TestBot",
        "media": {"audio": "none", "video": "none", "receive_audio": False, "receive_video": False},
        "leave": {"alone_seconds": None},
    }
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key] = {**data[key], **value}
        else:
            data[key] = value
    return parse_config(data)


class Recorder(Plugin[Any]):
    """Keeps everything it is given, in order."""

    name = "recorder-test"

    def __init__(self) -> None:
        super().__init__()
        self.items: list[object] = []

    async def handle(self, item: object) -> None:
        self.items.append(item)

    def of(self, kind: type) -> list[Any]:
        return [i for i in self.items if isinstance(i, kind)]

    def states(self) -> list[BotState]:
        return [c.new for c in self.of(StateChanged)]


async def run_until(bot: Bot, predicate: Any, timeout: float = 10.0) -> asyncio.Task[Any]:
    task = asyncio.create_task(bot.run())
    async with asyncio.timeout(timeout):
        while not predicate():
            if task.done():
                break
            await asyncio.sleep(0.02)
    return task


async def test_joins_stays_for_the_duration_and_releases(node: LocalNode) -> None:
    rec = Recorder()
    bot = Bot(config(node, leave={"duration": 1.0}), [rec])
    result = await asyncio.wait_for(bot.run(), 10)
    assert result.state == BotState.LEFT and result.exit_code == 0
    # Plugins see everything up to `leaving`, then their `stop()`.
    assert rec.states() == [BotState.CONNECTED, BotState.LEAVING]
    assert "TestBot" not in await names_in(node, "meet")


@pytest.mark.parametrize(
    ("alias", "pin", "reason"),
    [
        ("secure", "0000", FailureReason.INVALID_PIN),
        ("secure", None, FailureReason.PIN_REQUIRED),
        ("lobby", None, FailureReason.EXTENSION_REQUIRED),
        ("nowhere", None, FailureReason.CONFERENCE_NOT_FOUND),
    ],
)
async def test_join_failures_have_reasons_and_exit_codes(
    node: LocalNode, alias: str, pin: str | None, reason: FailureReason
) -> None:
    extra = {"pin": pin} if pin else {}
    rec = Recorder()
    result = await asyncio.wait_for(Bot(config(node, alias, **extra), [rec]).run(), 10)
    assert result.state == BotState.FAILED and result.reason == reason
    assert result.exit_code == EXIT_CODES[reason]
    if reason == FailureReason.PIN_REQUIRED:
        assert rec.states() == [BotState.PIN_REQUIRED, BotState.FAILED]


async def test_unreachable_node_is_a_typed_failure() -> None:
    cfg = parse_config({"node": "http://127.0.0.1:9", "alias": "meet"})
    result = await asyncio.wait_for(Bot(cfg).run(), 20)
    assert result.reason == FailureReason.NODE_UNREACHABLE


async def test_virtual_reception_and_pin(node: LocalNode) -> None:
    bot = Bot(config(node, "lobby", extension="secure", pin="1234", leave={"duration": 0.5}))
    result = await asyncio.wait_for(bot.run(), 10)
    assert result.state == BotState.LEFT
    assert bot.state.history[0].new == BotState.CONNECTED


async def test_waiting_room_then_admitted_by_a_host(node: LocalNode) -> None:
    rec = Recorder()
    bot = Bot(config(node, "locked", leave={"duration": 5.0}), [rec])
    task = await run_until(bot, lambda: bot.state.state == BotState.WAITING_ROOM)
    async with InfinitySession.connect(
        node.base_url, "locked", JoinOptions(display_name="Host", pin="1234")
    ) as host:
        waiting = next(iter(bot.own_uuids))
        await host.conference.participant(waiting).unlock()
        async with asyncio.timeout(5):
            while bot.state.state != BotState.CONNECTED:  # noqa: ASYNC110
                await asyncio.sleep(0.02)
        bot.request_leave()
        result = await asyncio.wait_for(task, 10)
    assert result.state == BotState.LEFT
    assert rec.states()[:2] == [BotState.WAITING_ROOM, BotState.CONNECTED]


async def test_refused_refresh_rejoins_as_one_session_for_plugins(node: LocalNode) -> None:
    rec = Recorder()
    async with InfinitySession.connect(node.base_url, "meet", JoinOptions(display_name="Human")):
        await set_faults(node, token_lifetime=3, refuse_refresh=True)
        bot = Bot(config(node, leave={"max_rejoins": 3}), [rec])
        task = await run_until(
            bot, lambda: bot.rejoins >= 1 and bot.state.state == BotState.CONNECTED
        )
        await set_faults(node, reset=True)
        await asyncio.sleep(0.5)
        bot.request_leave()
        result = await asyncio.wait_for(task, 10)
    assert result.state == BotState.LEFT and result.rejoins >= 1
    assert BotState.RECONNECTING in rec.states()
    # The rejoin's stretch without events is reported as a gap, not hidden.
    assert [g.kind for g in rec.of(Gap)][:1] == ["events"]
    # The human joined once and never left, from the plugin's view; the bot never shows.
    joins = [c.participant.display_name for c in rec.of(Joined)]
    assert joins == ["Human"]
    assert rec.of(Left) == []
    assert not [c for c in rec.of(Changed) if c.after.display_name == "TestBot"]


async def test_event_stream_drops_give_gaps_not_spurious_roster_changes(node: LocalNode) -> None:
    rec = Recorder()
    async with InfinitySession.connect(node.base_url, "meet", JoinOptions(display_name="Human")):
        await set_faults(node, drop_events_after_seconds=0.3)
        bot = Bot(config(node), [rec])
        task = await run_until(bot, lambda: len(rec.of(Gap)) >= 3)
        await set_faults(node, reset=True)
        bot.request_leave()
        await asyncio.wait_for(task, 10)
    assert [c.participant.display_name for c in rec.of(Joined)] == ["Human"]
    assert rec.of(Left) == [] and rec.of(Changed) == []
    assert all(g.kind == "events" and g.end >= g.start for g in rec.of(Gap))


class Raiser(Plugin[Any]):
    name = "raiser"

    async def handle(self, item: object) -> None:
        raise RuntimeError("broken plugin")


class Blocker(Plugin[Any]):
    name = "blocker"

    async def handle(self, item: object) -> None:
        await asyncio.Event().wait()


async def test_failing_and_blocking_plugins_do_not_affect_another(node: LocalNode) -> None:
    rec = Recorder()
    bot = Bot(config(node, leave={"shutdown_timeout": 1.0}), [Raiser(), Blocker(), rec])
    task = await run_until(bot, lambda: bot.state.state == BotState.CONNECTED)
    async with InfinitySession.connect(
        node.base_url, "meet", JoinOptions(display_name="Chatter")
    ) as human:
        await asyncio.sleep(0.3)
        await human.conference.send_message("still there?")
        async with asyncio.timeout(5):
            while not rec.of(MessageReceived):  # noqa: ASYNC110
                await asyncio.sleep(0.02)
    bot.request_leave()
    result = await asyncio.wait_for(task, 10)
    assert result.state == BotState.LEFT
    assert rec.of(MessageReceived)[0].payload == "still there?"
    assert bot.plugins.stats()["raiser"].errors > 0


async def test_leaves_when_alone(node: LocalNode) -> None:
    bot = Bot(config(node, leave={"alone_seconds": 0.5}))
    result = await asyncio.wait_for(bot.run(), 10)
    assert result.state == BotState.LEFT
    assert result.detail == "leave.alone_seconds: alone for 0.5 s"


async def test_plugin_context_host_controls_and_guest_refusal(node: LocalNode) -> None:
    from agent.runtime.context import HostOnlyError, PluginContext

    host_bot = Bot(config(node, "meet"))
    task = await run_until(host_bot, lambda: host_bot.state.state == BotState.CONNECTED)
    ctx = PluginContext(host_bot, "test")
    await ctx.lock()
    assert (await node_state(node))["meet"]["locked"] is True
    await ctx.send_message("hello")
    with pytest.raises(ValueError, match="no call to move into a breakout room"):
        ctx.join_breakout("any-room")
    host_bot.request_leave()
    await asyncio.wait_for(task, 10)

    guest_bot = Bot(config(node, "lecture"))
    task = await run_until(guest_bot, lambda: guest_bot.state.state == BotState.CONNECTED)
    guest = PluginContext(guest_bot, "test")
    assert not guest.is_host
    with pytest.raises(HostOnlyError, match="host role"):
        await guest.mute_guests()
    with pytest.raises(HostOnlyError, match="join breakout room needs the host role"):
        guest.join_breakout("any-room")
    with pytest.raises(ValueError, match="'x'"):
        await guest.dtmf("12x")
    guest_bot.request_leave()
    await asyncio.wait_for(task, 10)


async def test_prometheus_metrics_report_the_bot(node: LocalNode) -> None:
    from agent.runtime.metrics import MetricsServer, registry_for

    rec = Recorder()
    bot = Bot(config(node, "meet"), [rec])
    task = await run_until(bot, lambda: bot.state.state == BotState.CONNECTED)
    rec.context.metrics["greetings"] += 2
    async with (
        MetricsServer(registry_for(lambda: [bot])) as server,
        aiohttp.ClientSession() as http,
        http.get(server.url) as r,
    ):
        text = await r.text()
    bot.request_leave()
    await asyncio.wait_for(task, 10)
    assert 'pexbot_bot_state{bot="TestBot",state="connected"} 1.0' in text
    assert 'pexbot_rejoins_total{bot="TestBot"} 0.0' in text
    assert "pexbot_events_total" in text
    assert 'pexbot_state_transitions_total{bot="TestBot",state="connected"} 1.0' in text
    assert 'pexbot_plugin_value{bot="TestBot",name="greetings",plugin="recorder-test"} 2.0' in text


async def test_lifecycle_webhooks_are_signed_and_retried(
    node: LocalNode, monkeypatch: pytest.MonkeyPatch
) -> None:
    import hashlib
    import hmac
    import json

    from aiohttp import web

    from agent._http_server import AppServer
    from agent.runtime.launch import build_plugins

    received: list[tuple[bytes, str]] = []
    calls = 0

    async def hook(request: web.Request) -> web.Response:
        nonlocal calls
        calls += 1
        if calls == 1:
            return web.Response(status=503)  # the first delivery fails: it must be retried
        received.append((await request.read(), request.headers.get("X-Pexbot-Signature", "")))
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/hook", hook)
    monkeypatch.setenv("HOOK_KEY", "s3cret-key")
    async with AppServer(app) as server:
        cfg = config(
            node,
            leave={"duration": 0.5},
            plugins=[
                {
                    "name": "webhook",
                    "config": {
                        "url": f"{server.base_url}/hook",
                        "secret_env": "HOOK_KEY",
                        "backoff": 0.05,
                    },
                }
            ],
        )
        result = await asyncio.wait_for(Bot(cfg, build_plugins(cfg)).run(), 10)
    assert result.state == BotState.LEFT
    bodies = [json.loads(b) for b, _ in received]
    assert [b["new"] for b in bodies] == ["connected", "leaving"]
    assert bodies[0]["alias"] == "meet" and bodies[0]["bot"] == "TestBot"
    for body, signature in received:
        expected = hmac.new(b"s3cret-key", body, hashlib.sha256).hexdigest()
        assert signature == f"sha256={expected}"


async def test_progress_line_on_a_terminal(node: LocalNode) -> None:
    import io

    from agent.runtime.launch import progress_line, run_bot

    bot = Bot(config(node))
    assert progress_line(bot, 3725).split() == [
        "joining",
        "participants",
        "0",
        "1:02:05",
        "media",
        "0.00",
        "MB",
    ]
    out = io.StringIO()
    result = await asyncio.wait_for(
        run_bot(config(node, leave={"duration": 1.5}), progress=out), 10
    )
    assert result.state == BotState.LEFT
    assert "\r\x1b[K" in out.getvalue() and "participants" in out.getvalue()


async def test_leaves_when_the_hosts_have_left(node: LocalNode) -> None:
    bot = Bot(config(node, leave={"when_hosts_leave": True}))
    task = await run_until(bot, lambda: bot.state.state == BotState.CONNECTED)
    async with InfinitySession.connect(node.base_url, "meet", JoinOptions(display_name="Chair")):
        async with asyncio.timeout(5):
            while not bot.others():  # noqa: ASYNC110
                await asyncio.sleep(0.05)
        assert not task.done()
    result = await asyncio.wait_for(task, 10)
    assert (
        result.state == BotState.LEFT
        and result.detail == "leave.when_hosts_leave: every host has left"
    )


async def test_recorder_storage_failure_fails_the_bot_with_reason_storage(
    node: LocalNode, tmp_path: Any
) -> None:
    from agent.runtime.launch import build_plugins

    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the recordings folder should be")
    cfg = config(
        node,
        media={"receive_audio": True},
        plugins=[{"name": "recorder", "config": {"output_dir": str(blocker)}}],
    )
    result = await asyncio.wait_for(Bot(cfg, build_plugins(cfg)).run(), 15)
    assert result.state == BotState.FAILED and result.reason == FailureReason.STORAGE
    assert result.exit_code == EXIT_CODES[FailureReason.STORAGE]
    assert "TestBot" not in await names_in(node, "meet")


async def test_an_unexpected_error_starting_media_fails_the_bot_and_says_so(
    node: LocalNode, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from agent.runtime.call import BotCall

    async def broken(self: BotCall) -> None:
        raise RuntimeError("seam moved")

    monkeypatch.setattr(BotCall, "start", broken)
    bot = Bot(config(node, media={"receive_audio": True}))
    async with asyncio.timeout(20):
        result = await bot.run()
    assert result.reason == FailureReason.MEDIA_FAILED
    assert result.exit_code == EXIT_CODES[FailureReason.MEDIA_FAILED]
    assert result.detail == "media could not start: RuntimeError"
    assert "media could not start: RuntimeError: seam moved" in caplog.text
    assert await names_in(node, "meet") == []
