"""Lip sync through the node: a talker sends a file with a white flash and a click at the
same instants (sent as the file's packets). At a receiving bot's encoded tap the node's
click and flash arrive within 20 ms of each other; in a recording bot's file they stay
within 40 ms."""

from __future__ import annotations

import asyncio
import shutil
import statistics
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest

from agent.media.tap import EncodedFrame
from agent.node import LocalNode, NodeConfig
from agent.runtime.bot import Bot
from agent.runtime.states import BotState
from plugins.recorder import Recorder, RecorderConfig
from tests.support.bots import local_config
from tests.support.media_files import flashes_and_clicks, write_flash_click

from .conftest import fast_config

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(shutil.which("ffprobe") is None, reason="needs ffprobe"),
]

MARKS = (1.0, 2.0, 3.0)  # flash + click, seconds into the talker's 4 s loop
RECORD_SECONDS = 10.0
SYNC = 0.040
SETTLED = 3.0


@pytest.fixture
def node_config() -> NodeConfig:
    return fast_config(media={"video_width": 320, "video_height": 240, "video_fps": 30})


def _config(node: LocalNode, name: str, media: dict[str, Any], duration: float) -> Any:
    return local_config(node.base_url, name, media, leave={"duration": duration})


async def test_click_and_flash_stay_together_through_the_node(
    node: LocalNode, tmp_path: Path
) -> None:
    clip = tmp_path / "flash-click.webm"
    write_flash_click(clip, 4.0, MARKS)
    talker = Bot(
        _config(
            node,
            "Talker",
            {
                "audio": f"file:{clip}",
                "video": f"file:{clip}",
                "receive_audio": False,
                "receive_video": False,
            },
            RECORD_SECONDS + 20,
        )
    )
    talking = asyncio.create_task(talker.run())
    try:
        recorder = Recorder(None, RecorderConfig(output_dir=str(tmp_path), session_folder="s"))
        rec_bot = Bot(
            _config(
                node,
                "Recorder",
                {"audio": "none", "video": "none", "receive_audio": True, "receive_video": True},
                RECORD_SECONDS,
            ),
            [recorder],
        )
        result = await asyncio.wait_for(rec_bot.run(), RECORD_SECONDS + 20)
        assert result.state == BotState.LEFT, result
    finally:
        talker.request_leave()
        await asyncio.wait_for(talking, 20)
    (path,) = sorted((tmp_path / "s").glob("recording-*.webm"))
    flashes, clicks = flashes_and_clicks(path)
    offsets = []
    # From SETTLED s into the file: the recorder places each stream by the earliest its
    # frames arrive (its clock's lower envelope), which takes a few windows to settle.
    for flash in (f for f in flashes if f >= SETTLED):
        near = [c - flash for c in clicks if abs(c - flash) < 0.5]
        if near:
            offsets.append(min(near, key=abs))
    # One mark a second (but every 4th), minus the recorder's start and settling.
    assert len(offsets) >= 4, (flashes, clicks)
    # Within 40 ms. The recorder places a video frame on its clock give or take one frame
    # (33 ms at 30 fps): a mark may land a frame off, the typical one must not.
    assert abs(statistics.median(offsets)) < SYNC, offsets
    assert max(abs(o) for o in offsets) < SYNC + 1 / 30, offsets
    print("file offsets (ms):", [round(o * 1000) for o in offsets])


def _onsets(frames: list[EncodedFrame], kind: str) -> list[float]:
    """Arrivals of the frames that start a flash (video) or hold a click's start (audio)."""
    decoder: Any = av.CodecContext.create("vp8" if kind == "video" else "opus", "r")
    onsets: list[float] = []
    was = False
    for frame in frames:
        for decoded in decoder.decode(av.Packet(frame.data)):
            if kind == "video":
                y = decoded.to_ndarray(format="gray")
                now = float(y[y.shape[0] // 2 :].mean()) > 200
            else:
                now = float(np.abs(decoded.to_ndarray()).max()) > 0.3
            if now and not was:
                onsets.append(frame.arrival)
            was = now
    return onsets


async def test_the_node_sends_click_and_flash_together(node: LocalNode, tmp_path: Path) -> None:
    clip = tmp_path / "flash-click.webm"
    write_flash_click(clip, 4.0, MARKS)
    media = {"receive_audio": False, "receive_video": False}
    talker = Bot(
        _config(node, "Talker", {"audio": f"file:{clip}", "video": f"file:{clip}", **media}, 60)
    )
    viewer = Bot(_config(node, "Viewer", {"audio": "none", "video": "none"}, 60))
    tasks = [asyncio.create_task(b.run()) for b in (talker, viewer)]
    frames: dict[str, list[EncodedFrame]] = {"audio": [], "video": []}
    try:
        async with asyncio.timeout(15):
            while viewer.state.state != BotState.IN_CALL:  # noqa: ASYNC110
                await asyncio.sleep(0.05)
        assert viewer.call is not None and viewer.call.peer is not None
        for kind, seen in frames.items():
            viewer.call.peer.tap(kind).subscribe(seen.append)
        await asyncio.sleep(12.0)
    finally:
        for bot in (talker, viewer):
            bot.request_leave()
        await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 20)
    # Decoding starts at the first keyframe the viewer got.
    first_key = next(i for i, f in enumerate(frames["video"]) if f.is_keyframe)
    flashes = _onsets(frames["video"][first_key:], "video")
    clicks = _onsets(frames["audio"], "audio")
    offsets = [min((c - f for c in clicks), key=abs) for f in flashes if clicks]
    assert len(offsets) >= 4, (flashes, clicks)
    # Arrival stamps take aiortc's buffering out (see agent.media.tap): what is left is
    # the node's own offset, plus a video frame's worth of picking (30 fps).
    assert max(abs(o) for o in offsets) < 0.020 + 1 / 30, offsets
    assert abs(statistics.median(offsets)) < 0.020, offsets
    print("node offsets (ms):", [round(o * 1000) for o in offsets])
