"""The recorder across a move (a breakout room and back, a transfer): one session, a new
file from the move on, and a `moved` line in the timeline."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agent import Moved
from agent.media.clips import feed, opus_clip, vp8_clip
from tests.support.recording import ffprobe
from tests.unit.test_recorder import T0, make, media, run


async def test_a_move_starts_a_new_file_of_the_same_session(tmp_path: Path) -> None:
    rec, clock, _ = make(tmp_path)
    video, audio = vp8_clip(30, gop=15), opus_clip(2.0)
    # The new place's call: its own RTP timestamps (here far ahead), from T0 + 3 s on.
    there = {"audio": 7 * 48000, "video": 1234 * 90000}
    moved = Moved("breakout", "meet", "Room 1", "Room 1", started=T0 + 2.2, at=T0 + 2.8)
    items = [
        *feed([video, audio], T0),
        moved,
        *feed([video, audio], T0 + 3.0, ts_offset=there),
    ]
    folder = await run(rec, clock, items)
    files = media(folder)
    assert [f.name for f in files] == ["recording-000.webm", "recording-001.webm"]
    for path in files:
        assert abs(float(ffprobe(path)["format"]["duration"]) - 2.0) < 0.3
    summary = json.loads((folder / "summary.json").read_text())
    first, second = (f["start"] for f in summary["files"])
    assert second - first == pytest.approx(3.0, abs=0.1)
    lines = [json.loads(line) for line in (folder / "timeline.jsonl").read_text().splitlines()]
    (line,) = [x for x in lines if x["type"] == "moved"]
    assert (line["to"], line["room"], line["conference"], line["alias"]) == (
        "breakout",
        "Room 1",
        "Room 1",
        "meet",
    )
    assert line["t"] < second and line["since"] < line["t"]
