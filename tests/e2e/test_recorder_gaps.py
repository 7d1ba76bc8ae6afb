"""A recording bot that rejoins lists the rejoin's media gap in `timeline.jsonl` as well as in
`summary.json`, with its start, end and cause (issue 12, point 11)."""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from agent.node import LocalNode
from agent.runtime.bot import Bot
from agent.runtime.launch import build_plugins
from agent.runtime.states import BotState
from tests.support.bots import local_config, until
from tests.support.inspect_node import set_faults, with_control

from .conftest import fast_config

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(shutil.which("ffprobe") is None, reason="needs ffprobe"),
]


@pytest.fixture
async def node() -> AsyncIterator[LocalNode]:
    async with LocalNode(with_control(fast_config())) as n:
        yield n


def _bot(node: LocalNode, name: str, media: dict[str, Any], **extra: Any) -> Bot:
    media = {"video": "none", **media}
    config = local_config(node.base_url, name, media, leave={"rejoin_budget_reset": 5}, **extra)
    return Bot(config, build_plugins(config))


async def test_a_rejoins_media_gap_is_on_the_timeline_with_its_cause(
    node: LocalNode, tmp_path: Path
) -> None:
    talker = _bot(node, "Talker", {"audio": "tone:440", "receive_audio": False})
    recorder = _bot(
        node,
        "Recorder",
        {"audio": "none", "receive_audio": True, "receive_video": False},
        plugins=[
            {
                "name": "recorder",
                "config": {"output_dir": str(tmp_path), "session_folder": "s", "audio_only": True},
            }
        ],
    )
    await set_faults(node, token_lifetime=3)  # tokens refresh every second
    tasks = [asyncio.create_task(b.run()) for b in (talker, recorder)]
    try:
        await until(lambda: talker.call is not None and recorder.state.state == BotState.IN_CALL)
        await asyncio.sleep(2.0)  # media recorded before the outage
        # The tokens are refused: both rejoin, into a node slow to answer (so the outage is
        # well over the recording's 1 s gap threshold, whatever the backoff's jitter).
        slow = {"request_token": {"delay": 1.5}}
        await set_faults(node, refuse_refresh=True, routes=slow)
        await until(lambda: recorder.rejoins >= 1)
        await set_faults(node, refuse_refresh=False)
        await until(lambda: recorder.state.state == BotState.IN_CALL and recorder.recalls == 0)
        await set_faults(node, routes={"request_token": None})
        await asyncio.sleep(3.0)  # media recorded after it
        recorder.request_leave()
        result = await asyncio.wait_for(tasks[1], 20)
        assert result.state == BotState.LEFT, result
    finally:
        for b in (talker, recorder):
            b.request_leave()
        await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 20)

    folder = tmp_path / "s"
    lines = [json.loads(line) for line in (folder / "timeline.jsonl").read_text().splitlines()]
    gaps = [line for line in lines if line["type"] == "gap"]
    media = [g for g in gaps if g["kind"] == "media"]
    assert [g["cause"] for g in media] == ["rejoin"], gaps
    (line,) = media
    assert line["seconds"] > 1.5 and line["seconds"] == pytest.approx(
        line["end"] - line["start"], abs=0.002
    )
    assert [g["cause"] for g in gaps if g["kind"] == "events"] == ["rejoin"]
    # The same stretch, as the recording measured it, in summary.json: with the same cause.
    summary = json.loads((folder / "summary.json").read_text())
    (measured,) = summary["gaps"]
    assert measured["kind"] == "media" and measured["cause"] == "rejoin"
    assert measured["start"] <= line["start"] + 0.5 and line["end"] <= measured["end"] + 0.5
    assert {g["cause"] for g in summary["event_gaps"]} == {"rejoin"}
