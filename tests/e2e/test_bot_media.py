"""Media end to end with real bots on the local node's mixer (issue 4's signals).

Three bots: A sends 440 Hz and the test pattern, B 880 Hz, C silence. What each one hears
is checked by FFT, the pattern's frame counters are read back from C's decoded video, and
the stage, mute, re-call, presentation and test-call loopback paths are exercised.
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import numpy as np
import pytest

from agent import DecodedFrame, PresentationMedia
from agent.clock import SystemClock
from agent.infinity.models.events import Stage
from agent.media.analysis import frame_to_mono, has_tone
from agent.media.sources import TestPatternSource, read_frame_counter
from agent.media.tap import EncodedFrame
from agent.node import LocalNode, NodeConfig, default_config
from agent.node.config import ServiceConfig
from agent.runtime.bot import Bot
from agent.runtime.plugins import Plugin
from agent.runtime.states import Gap
from tests.support.bots import in_call, local_config
from tests.support.inspect_node import control, with_control


class Ears(Plugin[Any]):
    """Keeps decoded audio (with arrival times), video counters, stage and presentation."""

    name = "ears"
    wants_audio_frames = True
    wants_video_frames = True
    wants_encoded = True
    wants_presentation = True

    def __init__(self) -> None:
        super().__init__()
        self.audio: list[tuple[float, np.ndarray]] = []
        self.counters: list[int] = []
        self.stages: list[Stage] = []
        self.slides = 0
        self.gaps: list[Gap] = []

    async def on_audio_frame(self, item: DecodedFrame) -> None:
        self.audio.append((item.arrival, frame_to_mono(item.frame)))

    async def on_video_frame(self, item: DecodedFrame) -> None:
        counter = read_frame_counter(item.frame)
        if counter is not None:
            self.counters.append(counter)

    async def on_stage(self, stage: Stage) -> None:
        self.stages.append(stage)

    async def on_presentation_media(self, item: PresentationMedia) -> None:
        self.slides += 1

    async def on_gap(self, gap: Gap) -> None:
        self.gaps.append(gap)

    def since(self, t: float) -> np.ndarray:
        chunks = [a for at, a in self.audio if at >= t]
        return np.concatenate(chunks) if chunks else np.zeros(0)


def cfg(node: LocalNode, name: str, audio: str, video: str = "none", alias: str = "meet") -> Any:
    media = {"audio": audio, "video": video, "receive_presentation": True, "media_timeout": 3.0}
    return local_config(node.base_url, name, media, alias=alias)


@pytest.fixture
async def node() -> AsyncIterator[LocalNode]:
    services = [*default_config().services, ServiceConfig(name="echo", kind="test_call")]
    async with LocalNode(with_control(NodeConfig(services=services))) as n:
        yield n


async def stop(*pairs: tuple[Bot, asyncio.Task[Any]]) -> None:
    for bot, _ in pairs:
        bot.request_leave()
    for _, task in pairs:
        await asyncio.wait_for(task, 15)


async def test_mix_minus_stage_video_and_mute(node: LocalNode) -> None:
    ears = {n: Ears() for n in "ABC"}
    a = Bot(cfg(node, "A", "tone:440", "pattern"), [ears["A"]])
    b = Bot(cfg(node, "B", "tone:880"), [ears["B"]])
    c = Bot(cfg(node, "C", "silence"), [ears["C"]])
    running = [(bot, await in_call(bot)) for bot in (a, b, c)]
    try:
        await asyncio.sleep(2.5)
        t = time.monotonic() - 1.5
        heard = {n: e.since(t) for n, e in ears.items()}
        assert has_tone(heard["C"], 440) and has_tone(heard["C"], 880)
        assert has_tone(heard["A"], 880) and not has_tone(heard["A"], 440)
        assert has_tone(heard["B"], 440) and not has_tone(heard["B"], 880)
        # The stage names A and B as speakers, never C.
        uuid = {n: next(iter(bot.own_uuids)) for n, bot in zip("ABC", (a, b, c), strict=True)}
        speaking = {s.participant_uuid for st in ears["C"].stages for s in st.speakers if s.vad}
        assert {uuid["A"], uuid["B"]} <= speaking and uuid["C"] not in speaking
        # C sees A's test pattern (the active speaker other than itself): counters in order.
        counters = ears["C"].counters
        assert len(counters) > 10 and counters == sorted(counters)

        # Mute A through the client API (B is a host in the open room): 440 leaves C's mix.
        await b.conference.participant(uuid["A"]).mute()
        muted_at = time.monotonic()
        await asyncio.sleep(1.6)
        after = ears["C"].since(muted_at + 1.0)
        assert not has_tone(after, 440) and has_tone(after, 880)

        # Unmute, then mute through the management API: the same effect.
        await b.conference.participant(uuid["A"]).unmute()
        await asyncio.sleep(1.0)
        assert has_tone(ears["C"].since(time.monotonic() - 0.6), 440)
        auth = {"Authorization": "Basic " + base64.b64encode(b"admin:admin").decode()}
        async with aiohttp.ClientSession(headers=auth) as http:
            url = f"{node.base_url}/api/admin/command/v1/participant/mute/"
            async with http.post(url, json={"participant_id": uuid["A"]}) as r:
                assert r.status == 202, await r.text()
        muted_at = time.monotonic()
        await asyncio.sleep(1.6)
        after = ears["C"].since(muted_at + 1.0)
        assert not has_tone(after, 440) and has_tone(after, 880)
    finally:
        await stop(*running)


async def test_recall_after_forced_media_loss_restores_audio(node: LocalNode) -> None:
    ears_a, ears_b = Ears(), Ears()
    a = Bot(cfg(node, "A", "tone:440"), [ears_a])
    b = Bot(cfg(node, "B", "tone:880"), [ears_b])
    running = [(bot, await in_call(bot)) for bot in (a, b)]
    try:
        await asyncio.sleep(1.5)
        assert a.call is not None and a.call.call_uuid is not None
        # Kill A's media on the node side: the node's peer for that call goes away.
        state = next(
            p
            for conf in node.ctx.state.conferences.values()
            for p in conf.participants.values()
            if p.uuid in a.own_uuids
        )
        call = state.calls[a.call.call_uuid]
        assert call.peer is not None
        await call.peer.pc.close()
        async with asyncio.timeout(15):
            while a.call is None or a.call.recalls < 1:  # noqa: ASYNC110
                await asyncio.sleep(0.1)
        await asyncio.sleep(2.5)
        t = time.monotonic() - 1.0
        assert has_tone(ears_a.since(t), 880), "A does not hear B after the re-call"
        assert has_tone(ears_b.since(t), 440), "B does not hear A after the re-call"
        assert [g.kind for g in ears_a.gaps] == ["media"]
    finally:
        await stop(*running)
    assert (await running[0][1]).recalls >= 1


async def test_presentation_reaches_a_receiving_bot(node: LocalNode) -> None:
    ears = Ears()
    watcher = Bot(cfg(node, "Watcher", "silence"), [ears])
    presenter = Bot(cfg(node, "Presenter", "silence"))
    running = [(bot, await in_call(bot)) for bot in (watcher, presenter)]
    try:
        from agent.runtime.context import PluginContext

        ctx = PluginContext(presenter, "test")
        slides = TestPatternSource(fps=5)
        await ctx.present(slides)
        async with asyncio.timeout(10):
            while ears.slides < 5:  # noqa: ASYNC110
                await asyncio.sleep(0.1)
        await ctx.stop_presenting()
        await asyncio.sleep(1.0)
        count = ears.slides
        await asyncio.sleep(1.0)
        assert ears.slides == count, "slides kept coming after the presentation stopped"
        assert watcher.presentation is None
        slides.stop()
    finally:
        await stop(*running)


async def test_test_call_plays_the_bot_back_to_itself(node: LocalNode) -> None:
    ears = Ears()
    bot = Bot(cfg(node, "Echo", "tone:440", alias="echo"), [ears])
    running = [(bot, await in_call(bot))]
    try:
        await asyncio.sleep(2.0)
        assert has_tone(ears.since(time.monotonic() - 1.0), 440)
    finally:
        await stop(*running)


async def test_server_offer_and_client_update_keep_media_flowing(node: LocalNode) -> None:
    ears_a, ears_b = Ears(), Ears()
    a = Bot(cfg(node, "A", "tone:440"), [ears_a])
    b = Bot(cfg(node, "B", "tone:880"), [ears_b])
    running = [(bot, await in_call(bot)) for bot in (a, b)]
    try:
        assert a.call is not None and a.call.call_uuid is not None
        uuid = next(iter(a.own_uuids))
        call_uuid = a.call.call_uuid
        node_call = next(
            p
            for c in node.ctx.state.conferences.values()
            for p in c.participants.values()
            if p.uuid == uuid
        ).calls[call_uuid]
        assert node_call.peer is not None
        # The node offers first: `new_offer` -> the bot answers through `ack {sdp}`.
        status, _ = await control(
            node, "POST", f"participants/{uuid}/calls/{call_uuid}/renegotiate"
        )
        assert status == 200
        async with asyncio.timeout(5):
            while node_call.peer.awaiting_answer:  # noqa: ASYNC110
                await asyncio.sleep(0.05)
        # The bot renegotiates through `update`.
        await a.call.renegotiate()
        assert a.call.recalls == 0 and a.call.call_uuid == call_uuid
        await asyncio.sleep(1.5)
        t = time.monotonic() - 1.0
        assert has_tone(ears_a.since(t), 880) and has_tone(ears_b.since(t), 440)
    finally:
        await stop(*running)


async def test_plugin_replaces_the_audio_source_mid_call(node: LocalNode) -> None:
    from agent.media.sources import ToneSource
    from agent.runtime.context import PluginContext

    ears = Ears()
    a = Bot(cfg(node, "A", "tone:440"))
    b = Bot(cfg(node, "B", "silence"), [ears])
    running = [(bot, await in_call(bot)) for bot in (a, b)]
    try:
        ctx = PluginContext(a, "test")
        await asyncio.sleep(1.0)
        ctx.set_audio_source(ToneSource(660))
        switched = time.monotonic()
        await asyncio.sleep(1.5)
        after = ears.since(switched + 0.7)
        assert has_tone(after, 660) and not has_tone(after, 440)
        with pytest.raises(ValueError, match="does not send video"):
            ctx.set_video_source(TestPatternSource())
    finally:
        await stop(*running)


async def test_no_task_of_the_bot_outlives_it(node: LocalNode) -> None:
    ours = ("bot:", "keepalive:", "plugin:", "call:", "media-watchdog:", "presentation")
    bot = Bot(cfg(node, "Leaky", "tone:440", "pattern"), [Ears()])
    running = [(bot, await in_call(bot))]
    await asyncio.sleep(0.5)
    assert any(t.get_name().startswith(ours) for t in asyncio.all_tasks())
    await stop(*running)
    await asyncio.sleep(0.1)
    left = [t.get_name() for t in asyncio.all_tasks() if t.get_name().startswith(ours)]
    assert left == []


class _ShiftedClock(SystemClock):
    """Real time, a day ahead: anything stamped on another clock stands out."""

    SHIFT = 86_400.0

    def monotonic(self) -> float:
        return time.monotonic() + self.SHIFT


async def test_one_clock_stamps_states_media_and_frames(node: LocalNode) -> None:
    ears = Ears()
    clock = _ShiftedClock()
    a = Bot(cfg(node, "A", "tone:440", "pattern"))
    b = Bot(cfg(node, "B", "silence"), [ears], clock=clock)
    encoded: list[EncodedFrame] = []
    running = [(bot, await in_call(bot)) for bot in (a, b)]
    try:
        assert b.call is not None and b.call.peer is not None
        b.call.peer.tap("audio").subscribe(encoded.append)
        await asyncio.sleep(1.0)
    finally:
        await stop(*running)
    now = clock.monotonic()
    assert encoded and ears.audio
    stamps = [f.arrival for f in encoded] + [at for at, _ in ears.audio]
    stamps += [change.at for change in b.state.history]
    assert all(now - 60 < at <= now for at in stamps)
