"""The node encodes once: one encoder per shown source, its packets fanned out to every
receiver of it, unwatched video never decoded, a keyframe on every switch."""

from __future__ import annotations

import asyncio

import av
import pytest

from agent.media.codecs import vp8_is_keyframe
from agent.media.sources import read_frame_counter
from agent.media.tap import EncodedFrame
from agent.node import LocalNode, NodeConfig
from agent.runtime.bot import Bot
from tests.support.bots import in_call, local_config

from .conftest import fast_config

pytestmark = pytest.mark.e2e


@pytest.fixture
def node_config() -> NodeConfig:
    return fast_config(media={"video_width": 320, "video_height": 240, "video_fps": 10})


def _bot(node: LocalNode, name: str, audio: str, video: str, receive_video: bool) -> Bot:
    media = {"audio": audio, "video": video, "receive_audio": False, "receive_video": receive_video}
    return Bot(local_config(node.base_url, name, media))


async def test_one_encoder_per_shown_source_and_no_decoding_of_the_unshown(
    node: LocalNode,
) -> None:
    # T1 speaks; T2 and T3 send video in silence. Everyone but T1 sees T1; T1 sees T2 (the
    # first other sender of video); nobody sees T3.
    talkers = [
        _bot(node, "T1", "tone:440", "pattern", True),
        _bot(node, "T2", "silence", "pattern", True),
        _bot(node, "T3", "silence", "pattern", True),
    ]
    viewers = [_bot(node, f"V{i}", "silence", "none", True) for i in range(3)]
    bots = [*talkers, *viewers]
    tasks = [await in_call(bot) for bot in bots]
    frames: dict[str, list[EncodedFrame]] = {}
    try:
        for bot in viewers:
            assert bot.call is not None and bot.call.peer is not None
            seen = frames[bot.config.display_name] = []
            bot.call.peer.tap("video").subscribe(seen.append)
        await asyncio.sleep(3.0)
        (mixer,) = node.ctx.media._mixers.values()
        mains = {c.participant_uuid: c for c in mixer._mains.values()}
        uuid = {b.config.display_name: next(iter(b.own_uuids)) for b in bots}
        fanout = mixer.video
        assert fanout.encodings == 2  # T1 (for T2, T3, V*) and T2 (for T1)
        t3 = mains[uuid["T3"]].video
        assert t3.active and not t3.decoding and t3.frames_decoded == 0
        assert mains[uuid["T1"]].video.decoding and mains[uuid["T2"]].video.decoding
        for name in ("V0", "V1", "V2"):
            assert mains[uuid[name]].video.tap is None  # they send no video at all
        # Encoded once per tick and shown source, not once per receiver.
        assert fanout.encoded <= 2 * fanout.ticks + 2
    finally:
        for bot in bots:
            bot.request_leave()
        await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 20)
    # The three viewers got the very same packets (one encoding, fanned out).
    streams = [[f.data for f in frames[name]] for name in ("V0", "V1", "V2")]
    assert all(len(s) > 15 for s in streams), [len(s) for s in streams]
    shortest = min(len(s) for s in streams)
    tails = [s[-shortest + 5 :] for s in streams]  # they joined a moment apart
    assert tails[0] == tails[1] == tails[2]


async def test_a_switch_starts_with_a_keyframe(node: LocalNode) -> None:
    a = _bot(node, "A", "tone:440", "pattern", False)
    b = _bot(node, "B", "silence", "pattern:320x240@10", False)
    viewer = _bot(node, "V", "silence", "none", True)
    tasks = [await in_call(bot) for bot in (a, b, viewer)]
    frames: list[EncodedFrame] = []
    try:
        assert viewer.call is not None and viewer.call.peer is not None
        viewer.call.peer.tap("video").subscribe(frames.append)
        await asyncio.sleep(2.0)  # V sees A, the speaker
        (mixer,) = node.ctx.media._mixers.values()
        track = next(t for t in mixer.video.tracks.values() if t.receiver in viewer.own_uuids)
        assert track.encoding is not None and track.encoding.source is not None
        assert track.encoding.source.participant_uuid in a.own_uuids
        before = len(frames)
        a.request_leave()
        await asyncio.wait_for(tasks[0], 15)

        def shows_b() -> bool:
            source = track.encoding.source if track.encoding is not None else None
            return source is not None and source.participant_uuid in b.own_uuids

        async with asyncio.timeout(10):  # now V sees B
            while not shows_b():  # noqa: ASYNC110
                await asyncio.sleep(0.05)
        await asyncio.sleep(0.5)
    finally:
        for bot in (a, b, viewer):
            bot.request_leave()
        await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 20)
    assert vp8_is_keyframe(frames[0].data)
    assert any(vp8_is_keyframe(f.data) for f in frames[before:]), "no keyframe at the switch"
    # One decoder over the whole stream, across the switch: every picture is whole (an
    # inter frame of B on top of A's picture would not show a readable counter).
    decoder = av.CodecContext.create("vp8", "r")
    counters = [
        read_frame_counter(picture) for f in frames for picture in decoder.decode(av.Packet(f.data))
    ]
    shown = counters[next(i for i, c in enumerate(counters) if c is not None) :]
    # (black before A's first picture)
    assert len(shown) > 20 and None not in shown, str((counters, before))
