"""A host transfers a recorder bot to another conference: the recorder leaves the first,
joins the second with the `refer`'s one-time token, and records on in the same session."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from agent import Moved, Plugin
from agent.config import BotConfig
from agent.media.analysis import has_tone
from agent.media.clips import RATE
from agent.node import LocalNode, NodeConfig
from agent.runtime.bot import Bot
from agent.runtime.context import PluginContext
from agent.runtime.states import BotState
from plugins.recorder import Recorder, RecorderConfig
from tests.support.bots import local_config, until
from tests.support.inspect_node import names_in
from tests.support.recording import decode_audio, ffprobe

from .conftest import fast_config

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(shutil.which("ffprobe") is None, reason="needs ffprobe"),
]


@pytest.fixture
def node_config() -> NodeConfig:
    return fast_config(media={"video_width": 320, "video_height": 240, "video_fps": 10})


def bot_config(
    node: LocalNode, alias: str, name: str, media: dict[str, Any], pin: str | None = None
) -> BotConfig:
    extra = {"pin": pin} if pin else {}
    return local_config(node.base_url, name, media, alias=alias, leave={"duration": 90}, **extra)


class MoveLog(Plugin[Any]):
    def __init__(self) -> None:
        super().__init__()
        self.moves: list[Moved] = []

    async def on_moved(self, moved: Moved) -> None:
        self.moves.append(moved)


async def test_a_transferred_recorder_records_on(node: LocalNode, tmp_path: Path) -> None:
    host = Bot(
        bot_config(node, "secure", "Host", {"audio": "tone:440", "video": "pattern"}, "1234")
    )
    other = Bot(bot_config(node, "meet", "Other", {"audio": "tone:660", "video": "pattern"}))
    recorder = Recorder(None, RecorderConfig(output_dir=str(tmp_path), session_folder="t"))
    moves = MoveLog()
    rec_bot = Bot(
        bot_config(
            node,
            "secure",
            "Recorder",
            {"audio": "none", "video": "none", "receive_audio": True, "receive_video": True},
            "5678",
        ),
        [recorder, moves],
    )
    tasks = [asyncio.create_task(b.run()) for b in (host, other, rec_bot)]
    try:
        await until(lambda: all(b.state.state == BotState.IN_CALL for b in (host, other, rec_bot)))
        await asyncio.sleep(5)
        uuid = rec_bot.session.participant_uuid if rec_bot.session else ""
        await PluginContext(host, "test").transfer(uuid, "meet")
        await until(lambda: rec_bot.alias == "meet" and rec_bot.state.state == BotState.IN_CALL)
        # It left the first conference and is in the second, as a guest: `meet` makes
        # everyone who joins without a token a host, so the role shows it used the token.
        assert "Recorder" not in await names_in(node, "secure")
        assert "Recorder" in await names_in(node, "meet")
        assert not rec_bot.is_host
        assert not node.ctx.state.refers  # the one-time token was used up
        await asyncio.sleep(6)
    finally:
        for bot in (rec_bot, other, host):
            bot.request_leave()
        results = await asyncio.wait_for(asyncio.gather(*tasks), 30)
    assert results[2].state == BotState.LEFT, results[2]
    assert results[2].conference == "meet"
    assert [(m.kind, m.alias, m.conference) for m in moves.moves] == [("transfer", "meet", "meet")]

    folder = tmp_path / "t"
    summary = json.loads((folder / "summary.json").read_text())
    files = [folder / f["file"] for f in summary["files"]]
    assert [f.name for f in files] == ["recording-000.webm", "recording-001.webm"]
    first, second = (decode_audio(p)[0] for p in files)
    for path in files:
        assert sorted(s["codec_name"] for s in ffprobe(path)["streams"]) == ["opus", "vp8"]
    assert has_tone(first[RATE:-RATE], 440.0) and not has_tone(
        first[RATE:-RATE], 660.0, relative_db=-40
    )
    assert has_tone(second[RATE:-RATE], 660.0) and not has_tone(
        second[RATE:-RATE], 440.0, relative_db=-40
    )
    lines = [json.loads(line) for line in (folder / "timeline.jsonl").read_text().splitlines()]
    (moved,) = [line for line in lines if line["type"] == "moved"]
    assert (moved["to"], moved["conference"], moved["alias"]) == ("transfer", "meet", "meet")
    names = [line["name"] for line in lines if line["type"] == "joined"]
    assert "Host" in names and "Other" in names
