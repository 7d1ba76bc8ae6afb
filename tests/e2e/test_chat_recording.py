"""`!record ...` on the local node: a host pauses and resumes the recording through the chat
(the recorder's `Controllable`), a guest's `!record stop` is refused; the file has a gap of
the pause's length, marked by a `paused` chapter, and the timeline marks the pause and
every command with its outcome. The commands are Prometheus counters too."""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import av
import pytest
from prometheus_client import generate_latest

from agent import Bot
from agent.node import LocalNode, NodeConfig
from agent.runtime.metrics import registry_for
from agent.runtime.states import BotState
from plugins.chat import ChatPlugin
from plugins.recorder import Recorder, RecorderConfig

from .chat_support import GUEST_PIN, Person, bot_config, running, until
from .conftest import Api, fast_config

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(shutil.which("ffprobe") is None, reason="needs ffprobe"),
]

PAUSE = 2.5  # seconds between the host's pause and resume


@pytest.fixture
def node_config() -> NodeConfig:
    return fast_config(media={"video_width": 320, "video_height": 240, "video_fps": 5})


def audio_packet_times(path: Path) -> list[float]:
    with av.open(str(path)) as f:
        stream = f.streams.audio[0]
        return sorted(
            float(p.pts * p.time_base) for p in f.demux(stream) if p.pts is not None and p.size
        )


def chapters(path: Path) -> list[dict[str, Any]]:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_chapters", "-of", "json", str(path)],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    ).stdout
    found: list[dict[str, Any]] = json.loads(out)["chapters"]
    return found


async def test_host_pauses_and_resumes_guest_cannot_stop(
    node: LocalNode, api: Api, tmp_path: Path
) -> None:
    talker = Bot(
        bot_config(
            node,
            "Talker",
            media={"audio": "tone:440", "video": "none", "ice_host_addresses": ["127.0.0.1"]},
        )
    )
    talking = asyncio.create_task(talker.run())
    recorder = Recorder(
        None, RecorderConfig(output_dir=str(tmp_path), session_folder="s", audio_only=True)
    )
    chat = ChatPlugin()
    media = {
        "audio": "none",
        "video": "none",
        "receive_audio": True,
        "receive_video": False,
        "ice_host_addresses": ["127.0.0.1"],
    }
    try:
        async with running(node, [recorder, chat], media=media, state=BotState.IN_CALL) as bot:
            assert bot.session is not None
            me = bot.session.participant_uuid
            host = await Person.join(api, "Hana Host")
            guest = await Person.join(api, "Gus Guest", GUEST_PIN)
            try:
                await until(lambda: len(chat.context.roster) == 3)
                await asyncio.sleep(2.0)  # some recording before
                # A guest cannot stop it: refused privately, and the recording goes on.
                reply = await guest.ask(me, "!record stop")
                assert reply["direct"] is True
                assert reply["payload"] == "only hosts may use !record, and you are a guest here"
                assert recorder.status()["state"] == "recording"
                # The host pauses, then resumes: confirmed privately each time.
                reply = await host.ask(me, "!record pause")
                assert reply["direct"] is True
                assert reply["payload"].startswith("recording paused at 0:00:0")
                assert recorder.status()["state"] == "paused"
                reply = await host.ask(me, "!record pause")
                assert reply["payload"] == "recorder pause: already paused"
                await asyncio.sleep(PAUSE)
                reply = await host.ask(me, "!record resume")
                said = re.fullmatch(r"recording resumed after (\d+\.\d) s paused", reply["payload"])
                assert said is not None, reply
                assert float(said[1]) == pytest.approx(PAUSE, abs=0.5)
                await asyncio.sleep(2.0)  # some recording after
                reply = await host.ask(me, "!record")
                assert reply["payload"] == f"recording: recording (paused {said[1]} s in all)"
                # Counted, for Prometheus.
                scrape = generate_latest(registry_for(lambda: [bot])).decode()
                assert (
                    'pexbot_plugin_chat_commands_total{bot="Chatbot",command="record",'
                    'outcome="done",plugin="chat"} 3.0'
                ) in scrape
                assert 'command="record",outcome="refused",plugin="chat"} 1.0' in scrape
            finally:
                await host.close()
                await guest.close()
    finally:
        talker.request_leave()
        await asyncio.wait_for(talking, 20)

    folder = tmp_path / "s"
    lines = [json.loads(line) for line in (folder / "timeline.jsonl").read_text().splitlines()]
    paused = next(x for x in lines if x["type"] == "recording_paused")
    resumed = next(x for x in lines if x["type"] == "recording_resumed")
    assert resumed["paused_at"] == paused["t"]
    assert resumed["seconds"] == pytest.approx(resumed["t"] - paused["t"], abs=0.002)
    assert resumed["seconds"] == pytest.approx(PAUSE, abs=0.5)
    assert not [x for x in lines if x["type"] == "recording_stopped"]
    # Every command and its outcome, in order, with who sent it.
    commands = [
        (x["data"]["name"], x["data"]["args"], x["data"]["outcome"])
        for x in lines
        if x["type"] == "plugin_event" and x["plugin"] == "chat" and x["kind"] == "command"
    ]
    assert commands == [
        ("Gus Guest", "stop", "refused"),
        ("Hana Host", "pause", "done"),
        ("Hana Host", "pause", "invalid"),
        ("Hana Host", "resume", "done"),
        ("Hana Host", "", "done"),
    ]

    # The file: one gap, as long as the pause, where the timeline says, marked by a chapter.
    (path,) = sorted(folder.glob("*.webm"))
    summary = json.loads((folder / "summary.json").read_text())
    start = summary["files"][0]["start"]
    times = audio_packet_times(path)
    gaps = [(a, b) for a, b in itertools.pairwise(times) if b - a > 0.5]
    assert len(gaps) == 1, gaps
    (gap_start, gap_end) = gaps[0]
    assert gap_end - gap_start == pytest.approx(resumed["seconds"], abs=0.25)
    assert gap_start + start == pytest.approx(paused["t"], abs=0.25)
    (chapter,) = chapters(path)
    assert chapter["tags"]["title"] == "paused"
    assert float(chapter["start_time"]) == pytest.approx(paused["t"] - start, abs=0.01)
    assert float(chapter["end_time"]) == pytest.approx(resumed["t"] - start, abs=0.01)
    assert [g["kind"] for g in summary["gaps"]] == ["paused"]
