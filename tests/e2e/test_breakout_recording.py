"""Breakout rooms with real bots: a host bot opens two rooms and moves a recorder and two
talkers out of the main room (the recorder and Alice into room 1, Bob into room 2). The
recorder follows into room 1 and records only Alice's tone there, comes back when the host
closes the rooms, and its session is one folder: the files of each place, playable, and a
timeline naming the moves."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path
from typing import Any, ClassVar

import pytest

from agent import Joined, Moved, Plugin
from agent.config import BotConfig
from agent.media.analysis import has_tone
from agent.media.clips import RATE
from agent.node import LocalNode, NodeConfig
from agent.runtime.bot import Bot
from agent.runtime.states import BotState
from plugins.recorder import Recorder, RecorderConfig
from tests.support.bots import in_call, local_config, until
from tests.support.recording import decode_audio, ffprobe

from .conftest import fast_config

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(shutil.which("ffprobe") is None, reason="needs ffprobe"),
]

MAIN_SECONDS = 5.0  # everyone in the main room before the rooms open
ROOM_SECONDS = 8.0  # in the rooms
AFTER_SECONDS = 5.0  # back in the main room
TONES = {"Alice": 440.0, "Bob": 880.0}


@pytest.fixture
def node_config() -> NodeConfig:
    return fast_config(media={"video_width": 320, "video_height": 240, "video_fps": 10})


def bot_config(node: LocalNode, name: str, pin: str, media: dict[str, Any]) -> BotConfig:
    return local_config(node.base_url, name, media, alias="secure", pin=pin, leave={"duration": 90})


class Moderator(Plugin[Any]):
    """Once the three are in: recorder and Alice to room 1, Bob to room 2; later, close."""

    name: ClassVar[str] = "test-moderator"

    def __init__(self) -> None:
        super().__init__()
        self.ready = asyncio.Event()
        self.rooms: list[str] = []

    async def on_joined(self, change: Joined) -> None:
        names = {p.display_name for p in self.context.roster.values()}
        if {"Recorder", "Alice", "Bob"} <= names:
            self.ready.set()

    def uuid(self, name: str) -> str:
        return next(u for u, p in self.context.roster.items() if p.display_name == name)

    async def open_rooms(self) -> None:
        ctx = self.context
        room1 = await ctx.create_breakout("Room 1", [self.uuid("Recorder"), self.uuid("Alice")])
        room2 = await ctx.create_breakout("Room 2")
        await ctx.move_to_breakout(room2, [self.uuid("Bob")])
        await ctx.broadcast_to_breakouts("ten minutes")
        self.rooms = [room1, room2]


class MoveLog(Plugin[Any]):
    name: ClassVar[str] = "test-moves"

    def __init__(self) -> None:
        super().__init__()
        self.moves: list[Moved] = []

    async def on_moved(self, moved: Moved) -> None:
        self.moves.append(moved)


async def test_recorder_follows_a_breakout_room_and_back(node: LocalNode, tmp_path: Path) -> None:
    moderator = Moderator()
    host = Bot(bot_config(node, "Host", "1234", {"audio": "none", "video": "none"}), [moderator])
    talkers = [
        Bot(bot_config(node, name, "5678", {"audio": f"tone:{hz:g}", "video": "pattern"}))
        for name, hz in TONES.items()
    ]
    recorder = Recorder(None, RecorderConfig(output_dir=str(tmp_path), session_folder="s"))
    moves = MoveLog()
    rec_bot = Bot(
        bot_config(
            node,
            "Recorder",
            "5678",
            {"audio": "none", "video": "none", "receive_audio": True, "receive_video": True},
        ),
        [recorder, moves],
    )
    tasks = [await in_call(host)]
    tasks += [await in_call(bot) for bot in talkers]
    tasks.append(await in_call(rec_bot))
    try:
        await asyncio.wait_for(moderator.ready.wait(), 10)
        await asyncio.sleep(MAIN_SECONDS)
        await moderator.open_rooms()
        await until(lambda: [b.room for b in (rec_bot, *talkers)] == ["Room 1", "Room 1", "Room 2"])
        await until(lambda: rec_bot.state.state == BotState.IN_CALL)
        # Each room is its own mix: its own participants only.
        assert {p.display_name for p in rec_bot.roster.participants.values()} == {
            "Recorder",
            "Alice",
        }
        assert set(host.rooms.rooms) == set(moderator.rooms)
        await asyncio.sleep(ROOM_SECONDS)
        await moderator.context.close_breakouts()
        await until(lambda: rec_bot.room is None and rec_bot.state.state == BotState.IN_CALL)
        await asyncio.sleep(AFTER_SECONDS)
    finally:
        for bot in [rec_bot, *talkers, host]:
            bot.request_leave()
        results = await asyncio.wait_for(asyncio.gather(*tasks), 30)
    assert results[-1].state == BotState.LEFT, results[-1]
    assert rec_bot.moves == 2 and all(t.moves == 2 for t in talkers)
    assert [(m.kind, m.room) for m in moves.moves] == [("breakout", "Room 1"), ("main", None)]

    # One session: one folder, a file per place, each playable.
    (folder,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    summary = json.loads((folder / "summary.json").read_text())
    files = [folder / f["file"] for f in summary["files"]]
    assert [f.name for f in files] == [f"recording-00{i}.webm" for i in range(3)]
    for path in files:
        probe = ffprobe(path)
        assert sorted(s["codec_name"] for s in probe["streams"]) == ["opus", "vp8"]
        assert float(probe["format"]["duration"]) > 2
    main, room, back = (decode_audio(p)[0] for p in files)

    def middle(samples: Any) -> Any:
        return samples[RATE : len(samples) - RATE]

    # Main room: both talkers; room 1: Alice only; back in the main room: both again.
    for samples in (main, back):
        assert has_tone(middle(samples), 440.0, relative_db=-30)
        assert has_tone(middle(samples), 880.0, relative_db=-30)
    assert has_tone(middle(room), 440.0) and not has_tone(middle(room), 880.0, relative_db=-40)
    # The timeline names the moves, and the files start after them.
    lines = [json.loads(line) for line in (folder / "timeline.jsonl").read_text().splitlines()]
    moved = [line for line in lines if line["type"] == "moved"]
    assert [(m["to"], m["room"], m["conference"]) for m in moved] == [
        ("breakout", "Room 1", "Room 1"),
        ("main", None, "secure"),
    ]
    starts = [f["start"] for f in summary["files"]]
    assert starts[0] < moved[0]["t"] <= starts[1] < moved[1]["t"] <= starts[2]
    chats = [line for line in lines if line["type"] == "chat"]
    assert [c["text"] for c in chats] == ["ten minutes"]
