"""Lip sync through the node: a talker sends a file with a white flash and a click at the
same instants (sent as the file's packets), a recording bot records the node's mix; in the
recorded file the click and the flash must stay within 40 ms of each other."""

from __future__ import annotations

import asyncio
import shutil
import statistics
from pathlib import Path
from typing import Any

import pytest

from agent.config import parse_config
from agent.node import LocalNode, NodeConfig
from agent.runtime.bot import Bot
from agent.runtime.states import BotState
from plugins.recorder import Recorder, RecorderConfig
from tests.support.media_files import flashes_and_clicks, write_flash_click

from .conftest import fast_config

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(shutil.which("ffprobe") is None, reason="needs ffprobe"),
]

MARKS = (1.0, 2.0, 3.0)  # flash + click, seconds into the talker's 4 s loop
RECORD_SECONDS = 10.0
SYNC = 0.040


@pytest.fixture
def node_config() -> NodeConfig:
    return fast_config(media={"video_width": 320, "video_height": 240, "video_fps": 30})


def _config(node: LocalNode, name: str, media: dict[str, Any], duration: float) -> Any:
    return parse_config(
        {
            "node": node.base_url,
            "alias": "meet",
            "display_name": name,
            "media": {"ice_host_addresses": ["127.0.0.1"], **media},
            "leave": {"alone_seconds": None, "duration": duration},
        }
    )


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
    for flash in flashes:
        near = [c - flash for c in clicks if abs(c - flash) < 0.5]
        if near:
            offsets.append(min(near, key=abs))
    # One mark a second, minus the recorder's start (it waits for a keyframe).
    assert len(offsets) >= RECORD_SECONDS / 2, (flashes, clicks)
    assert max(abs(o) for o in offsets) < SYNC, (offsets, statistics.median(offsets))
