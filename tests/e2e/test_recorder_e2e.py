"""The recorder on the local node: two talker bots (tones + test pattern) and a recording
bot for 20 s; the recording is checked with ffprobe and by decoding it."""

from __future__ import annotations

import asyncio
import itertools
import json
import shutil
import time
from pathlib import Path
from typing import Any

import pytest

from agent.config import BotConfig, parse_config
from agent.media.analysis import has_tone
from agent.media.tap import EncodedFrame
from agent.node import LocalNode, NodeConfig
from agent.runtime.bot import Bot
from agent.runtime.states import BotState
from plugins.recorder import Recorder, RecorderConfig
from tests.unit.recorder_fixtures import RATE, decode_audio, decode_video, ffprobe

from .conftest import fast_config

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(shutil.which("ffprobe") is None, reason="needs ffprobe"),
]

RECORD_SECONDS = 20.0
TONES = {"Alice": 440.0, "Bob": 880.0}
#: Bob leaves after this long, so the two talk times differ.
BOB_SECONDS = 10.0


@pytest.fixture
def node_config() -> NodeConfig:
    # Small, slow video keeps the node's re-encoding cheap on a 2-core machine.
    return fast_config(media={"video_width": 320, "video_height": 240, "video_fps": 10})


def bot_config(node: LocalNode, name: str, media: dict[str, Any], duration: float) -> BotConfig:
    return parse_config(
        {
            "node": node.base_url,
            "alias": "meet",
            "display_name": name,
            "media": {"ice_host_addresses": ["127.0.0.1"], **media},
            "leave": {"alone_seconds": None, "duration": duration},
        }
    )


class TimedRecorder(Recorder):
    """Also notes when the first and last encoded frames arrived (the real duration)."""

    first: float | None = None
    last: float | None = None

    async def handle(self, item: object) -> None:
        if isinstance(item, EncodedFrame):
            self.first = item.arrival if self.first is None else self.first
            self.last = item.arrival
        await super().handle(item)


async def test_two_talkers_recorded(node: LocalNode, tmp_path: Path) -> None:
    talkers = [
        Bot(
            bot_config(
                node,
                name,
                {
                    "audio": f"tone:{hz:g}",
                    "video": "pattern",
                    "receive_audio": False,
                    "receive_video": False,
                },
                BOB_SECONDS if name == "Bob" else RECORD_SECONDS + 15,
            )
        )
        for name, hz in TONES.items()
    ]
    talker_tasks = [asyncio.create_task(b.run()) for b in talkers]
    bob_left: list[float] = []
    talker_tasks[1].add_done_callback(lambda _: bob_left.append(time.monotonic()))
    try:
        rec_bot: Bot | None = None

        def request_keyframe() -> Any:
            call = rec_bot.call if rec_bot is not None else None
            tap = call.peer.taps.get("video") if call and call.peer else None
            return tap.request_keyframe() if tap is not None else None

        recorder = TimedRecorder(
            None,
            RecorderConfig(output_dir=str(tmp_path), session_folder="s"),
            request_keyframe=request_keyframe,
        )
        rec_bot = Bot(
            bot_config(
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
        for b in talkers:
            b.request_leave()
        await asyncio.wait_for(asyncio.gather(*talker_tasks, return_exceptions=True), 20)

    folder = tmp_path / "s"
    (path,) = sorted(folder.glob("*.webm"))
    probe = ffprobe(path)
    assert sorted(s["codec_name"] for s in probe["streams"]) == ["opus", "vp8"]
    assert recorder.first is not None and recorder.last is not None
    real = recorder.last - recorder.first
    assert real > RECORD_SECONDS - 5
    assert abs(float(probe["format"]["duration"]) - real) < 0.5

    # Bob's talk time: from the start of the recording until his bot finished leaving.
    bob_talk = bob_left[0] - recorder.first
    assert 4.0 < bob_talk < RECORD_SECONDS - 4

    samples, _ = decode_audio(path)
    both = samples[2 * RATE : int((bob_talk - 1) * RATE)]
    alice_only = samples[int((bob_talk + 1) * RATE) : int((real - 1) * RATE)]
    assert has_tone(both, 440.0, relative_db=-30) and has_tone(both, 880.0, relative_db=-30)
    assert has_tone(alice_only, 440.0) and not has_tone(alice_only, 880.0)

    summary = json.loads((folder / "summary.json").read_text())
    lines = [json.loads(line) for line in (folder / "timeline.jsonl").open()]
    stage_changes = [line for line in lines if line["type"] == "stage"]
    counters = [c for _, c, _ in decode_video(path) if c is not None]
    assert len(counters) > 5 * RECORD_SECONDS  # ~10 fps
    # In order: the counter only goes back where the stage (whose video is shown) changed.
    backwards = sum(1 for a, b in itertools.pairwise(counters) if b <= a)
    assert backwards <= len(stage_changes) + 1

    named = {s["name"] for line in stage_changes for s in line["speaking"]}
    assert named >= set(TONES)
    # Each talker's tone plays the whole time they are in: their talk time is their time in.
    talk = summary["talk_time"]
    assert talk["Alice"] == pytest.approx(real, abs=1.5), talk
    assert talk["Bob"] == pytest.approx(bob_talk, abs=1.5), talk
    assert [line["name"] for line in lines if line["type"] == "left"] == ["Bob"]
    png = (folder / "speakers.png").read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
