"""The recorder on the local node: two talker bots (tones + test pattern) and a recording
bot for 20 s; the recording is checked with ffprobe and by decoding it. And a presenter
bot's slides (test pattern) recorded to their own file, marked in the timeline."""

from __future__ import annotations

import asyncio
import itertools
import json
import shutil
import time
from pathlib import Path
from typing import Any

import pytest

from agent.config import BotConfig
from agent.media.analysis import has_tone
from agent.media.clips import RATE
from agent.media.loops import pattern_loop
from agent.media.sources import TestPatternSource
from agent.media.tap import EncodedFrame
from agent.node import LocalNode, NodeConfig
from agent.runtime.bot import Bot
from agent.runtime.context import PluginContext
from agent.runtime.states import BotState
from plugins.recorder import Recorder, RecorderConfig
from tests.support.bots import in_call, local_config
from tests.support.recording import decode_audio, decode_video, ffprobe

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
    return local_config(node.base_url, name, media, leave={"duration": duration})


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
    lines = [json.loads(line) for line in (folder / "timeline.jsonl").read_text().splitlines()]
    stage_changes = [line for line in lines if line["type"] == "stage"]
    counters = [c for _, c, _ in decode_video(path) if c is not None]
    assert len(counters) > 5 * RECORD_SECONDS  # ~10 fps
    # In order: the counter only goes back where the stage (whose video is shown) changed.
    # The talkers send the pattern's encoded loop: its counter wraps every `period` frames.
    period = pattern_loop().length
    backwards = sum(
        1 for a, b in itertools.pairwise(counters) if not 0 < (b - a) % period < period // 2
    )
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


PRESENT_SECONDS = 3.0


async def test_presentation_recorded_to_its_own_file(node: LocalNode, tmp_path: Path) -> None:
    recorder = Recorder(None, RecorderConfig(output_dir=str(tmp_path), session_folder="p"))
    rec_bot = Bot(
        bot_config(
            node,
            "Recorder",
            {"audio": "none", "video": "none", "receive_audio": True, "receive_video": True},
            60,
        ),
        [recorder],
    )
    presenter = Bot(
        bot_config(
            node,
            "Presenter",
            {"audio": "tone:440", "video": "none", "receive_audio": False, "receive_video": False},
            60,
        )
    )
    bots = [rec_bot, presenter]
    tasks = [await in_call(bot) for bot in bots]
    try:
        await asyncio.sleep(1.0)
        slides = TestPatternSource(fps=5)
        ctx = PluginContext(presenter, "test")
        await ctx.present(slides)
        await asyncio.sleep(PRESENT_SECONDS)
        await ctx.stop_presenting()
        slides.stop()
        await asyncio.sleep(1.0)
        assert rec_bot.presentation is None
    finally:
        for bot in bots:
            bot.request_leave()
        results = await asyncio.wait_for(asyncio.gather(*tasks), 20)
    assert results[0].state == BotState.LEFT, results[0]

    folder = tmp_path / "p"
    (path,) = sorted(folder.glob("presentation-*.webm"))
    assert path.name == "presentation-000.webm"
    probe = ffprobe(path)
    assert [(s["codec_name"], s["width"], s["height"]) for s in probe["streams"]] == [
        ("vp8", 320, 240)
    ]
    counters = [c for _, c, _ in decode_video(path) if c is not None]
    # The node re-sends the latest slide at 5 fps: counters go up (a slide may repeat).
    assert len(counters) >= 2 * PRESENT_SECONDS, counters
    assert counters == sorted(counters) and counters[-1] > counters[0], counters

    lines = [json.loads(line) for line in (folder / "timeline.jsonl").read_text().splitlines()]
    marks = {ln["type"]: ln["t"] for ln in lines if ln["type"].startswith("presentation")}
    assert set(marks) == {"presentation_start", "presentation_file_started", "presentation_stop"}
    summary = json.loads((folder / "summary.json").read_text())
    (entry,) = summary["presentation_files"]
    assert entry["file"] == path.name
    # The file starts on the timeline's axis just after the start mark (the receive call is
    # placed then) and lasts until about the stop mark.
    assert entry["start"] == pytest.approx(marks["presentation_file_started"], abs=0.01)
    assert 0 <= entry["start"] - marks["presentation_start"] < 2.0, (entry, marks)
    duration = float(probe["format"]["duration"])
    assert abs(entry["start"] + duration - marks["presentation_stop"]) < 0.6, (entry, marks)
    assert summary["presentations"][0] == pytest.approx(
        [marks["presentation_start"], marks["presentation_stop"]], abs=0.01
    )
    # The main recording is there too, and the presentation is not in it.
    (main,) = sorted(folder.glob("recording-*.webm"))
    assert sorted(s["codec_name"] for s in ffprobe(main)["streams"]) == ["opus", "vp8"]
