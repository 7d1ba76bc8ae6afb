"""`continue_session`: a recorder in a new process continues the session a SIGKILLed one
left in the same folder: the next file, the same timeline axis, one `resume` gap between
(what a service job taken over by another worker needs)."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import sys
import textwrap
import time
from pathlib import Path

import pytest

from agent import EncodedFrame, PresentationMedia
from agent.infinity.models.events import Stage, StageEntry
from agent.infinity.models.participant import ParticipantInfo
from agent.infinity.roster import Joined
from agent.media.clips import feed, opus_clip, vp8_clip
from plugins.recorder import Recorder, RecorderConfig
from tests.support.recording import ffprobe

pytestmark = pytest.mark.skipif(shutil.which("ffprobe") is None, reason="needs ffprobe")

ROOT = Path(__file__).resolve().parents[2]

PACED = textwrap.dedent(
    """
    import asyncio, time
    from agent.media.clips import feed, opus_clip

    async def paced(rec, seconds):
        for f in feed([opus_clip(seconds)], time.monotonic()):
            await asyncio.sleep(max(f.arrival - time.monotonic(), 0))
            await rec.handle(f)
    """
)

CHILD = PACED + textwrap.dedent(
    """
    import sys
    from plugins.recorder import Recorder, RecorderConfig

    async def main():
        cfg = RecorderConfig(
            output_dir=sys.argv[1], session_folder="s", audio_only=True, cluster_ms=200
        )
        rec = Recorder(None, cfg, alias="meet")
        await rec.start()
        await paced(rec, 3.0)
        await rec.flush()
        print("READY", flush=True)
        await asyncio.sleep(600)

    asyncio.run(main())
    """
)


async def _paced(rec: Recorder, seconds: float) -> None:
    for f in feed([opus_clip(seconds)], time.monotonic()):
        await asyncio.sleep(max(f.arrival - time.monotonic(), 0))
        await rec.handle(f)


async def test_continues_a_killed_session_with_one_resume_gap(tmp_path: Path) -> None:
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        CHILD,
        str(tmp_path),
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        assert child.stdout is not None
        assert (await asyncio.wait_for(child.stdout.readline(), 60)).strip() == b"READY"
    finally:
        child.send_signal(signal.SIGKILL)
        await child.wait()
    killed_at = time.time()
    await asyncio.sleep(1.0)

    cfg = RecorderConfig(
        output_dir=str(tmp_path), session_folder="s", audio_only=True, continue_session=True
    )
    rec = Recorder(None, cfg, alias="meet")
    await rec.start()
    await _paced(rec, 2.0)
    await rec.stop()
    resumed_at = time.time()

    folder = tmp_path / "s"
    first, second = folder / "recording-000.webm", folder / "recording-001.webm"
    d0 = float(ffprobe(first)["format"]["duration"])
    d1 = float(ffprobe(second)["format"]["duration"])
    assert 2.5 <= d0 <= 3.0 and 1.8 <= d1 <= 2.1

    lines = [json.loads(x) for x in (folder / "timeline.jsonl").read_text().splitlines()]
    gaps = [x for x in lines if x["type"] == "gap"]
    assert [g["kind"] for g in gaps] == ["resume"]
    (gap,) = gaps
    # From the killed process's last write (within a cluster of the end of its file) to
    # the first packet of the new file, on one axis.
    assert d0 - 0.1 <= gap["start"] <= d0 + 0.5
    assert 0.9 <= gap["end"] - gap["start"] <= resumed_at - killed_at + 1.0
    started = [x for x in lines if x["type"] == "file_started"]
    assert [s["file"] for s in started] == ["recording-000.webm", "recording-001.webm"]
    assert started[1]["t"] == gap["end"]
    # Wall-clock stamps agree with the axis: the same origin in both processes.
    origins = {round(time_of(x) - x["t"], 1) for x in lines}
    assert len(origins) == 1

    summary = json.loads((folder / "summary.json").read_text())
    assert [f["file"] for f in summary["files"]] == ["recording-000.webm", "recording-001.webm"]
    assert summary["files"][0]["earlier"] is True
    assert summary["files"][1]["start"] == gap["end"]
    assert [g["kind"] for g in summary["gaps"]] == ["resume"]
    assert summary["duration"] == pytest.approx(gap["end"] + d1, abs=0.15)


async def test_continue_without_an_earlier_session_starts_fresh(tmp_path: Path) -> None:
    cfg = RecorderConfig(
        output_dir=str(tmp_path), session_folder="s", audio_only=True, continue_session=True
    )
    rec = Recorder(None, cfg, alias="meet")
    await rec.start()
    await _paced(rec, 0.5)
    await rec.stop()
    lines = (tmp_path / "s" / "timeline.jsonl").read_text()
    assert '"gap"' not in lines
    assert (tmp_path / "s" / "recording-000.webm").exists()


def time_of(line: dict[str, object]) -> float:
    from datetime import datetime

    return datetime.fromisoformat(str(line["utc"])).timestamp()


async def test_an_earlier_process_that_comes_back_stops_writing_the_folder(
    tmp_path: Path,
) -> None:
    from agent.runtime.states import BotState, StateChanged

    def config(resume: bool) -> RecorderConfig:
        return RecorderConfig(
            output_dir=str(tmp_path), session_folder="s", audio_only=True, continue_session=resume
        )

    stale = Recorder(None, config(False), alias="meet")
    await stale.start()
    await _paced(stale, 1.0)
    assert await stale.flush()
    # The stale one freezes; a successor takes the session over.
    successor = Recorder(None, config(True), alias="meet")
    await successor.start()
    await _paced(successor, 1.0)
    assert await successor.flush()
    # The stale one wakes up: its state change, its media and its end go nowhere.
    await stale.handle(StateChanged(BotState.IN_CALL, BotState.LEAVING, time.monotonic()))
    await _paced(stale, 0.6)
    await stale.stop()
    await successor.stop()
    folder = tmp_path / "s"
    assert sorted(p.name for p in folder.glob("recording-*")) == [
        "recording-000.webm",
        "recording-001.webm",
    ]
    lines = [json.loads(x) for x in (folder / "timeline.jsonl").read_text().splitlines()]
    assert not [x for x in lines if x["type"] == "state"]
    summary = json.loads((folder / "summary.json").read_text())
    assert [f["file"] for f in summary["files"]] == ["recording-000.webm", "recording-001.webm"]


async def _paced_items(rec: Recorder, items: list[EncodedFrame | PresentationMedia]) -> None:
    def arrival(item: EncodedFrame | PresentationMedia) -> float:
        return item.frame.arrival if isinstance(item, PresentationMedia) else item.arrival

    for item in sorted(items, key=arrival):
        await asyncio.sleep(max(arrival(item) - time.monotonic(), 0))
        await rec.handle(item)


def _stage(*speaking: str) -> Stage:
    return Stage(
        speakers=tuple(
            StageEntry(participant_uuid=u, stage_index=i, vad=100) for i, u in enumerate(speaking)
        )
    )


async def _segment(tmp_path: Path, *, resume: bool, slides: bool, talk: bool) -> None:
    """One process's part: Alice is listed (again) and talks through it; audio, and slides."""
    cfg = RecorderConfig(
        output_dir=str(tmp_path), session_folder="s", video_wait=0, continue_session=resume
    )
    rec = Recorder(None, cfg, alias="meet")
    await rec.start()
    await rec.handle(Joined(ParticipantInfo(uuid="a-1", display_name="Alice")))
    if talk:
        await rec.handle(_stage("a-1"))
    now = time.monotonic()
    items: list[EncodedFrame | PresentationMedia] = list(feed([opus_clip(1.0)], now))
    if slides:
        items += [PresentationMedia(f) for f in feed([vp8_clip(15)], now)]
    await _paced_items(rec, items)
    await rec.handle(_stage())
    await rec.stop()


async def test_a_session_continued_twice_keeps_its_files_gaps_and_talk(tmp_path: Path) -> None:
    # The first two processes drained (each wrote summary.json); the third continues both.
    await _segment(tmp_path, resume=False, slides=True, talk=True)
    await _segment(tmp_path, resume=True, slides=True, talk=True)
    await _segment(tmp_path, resume=True, slides=False, talk=False)
    folder = tmp_path / "s"
    summary = json.loads((folder / "summary.json").read_text())
    files = summary["files"]
    assert [f["file"] for f in files] == [f"recording-00{i}.webm" for i in range(3)]
    assert [f.get("earlier", False) for f in files] == [True, True, False]
    # The earlier summaries' exact figures are kept, not estimated again.
    assert all(f["packets"] >= 45 for f in files)
    slides = summary["presentation_files"]
    assert [f["file"] for f in slides] == ["presentation-000.webm", "presentation-001.webm"]
    assert all(f["earlier"] for f in slides)
    assert [g["kind"] for g in summary["gaps"]] == ["resume", "resume"]
    assert [g["start"] for g in summary["gaps"]] == sorted(g["start"] for g in summary["gaps"])
    lines = [json.loads(x) for x in (folder / "timeline.jsonl").read_text().splitlines()]
    assert [(x["start"], x["end"]) for x in lines if x["type"] == "gap"] == [
        (g["start"], g["end"]) for g in summary["gaps"]
    ]
    # Every line counts (the earlier ones too); Alice, listed again after each resume,
    # has been there since her first join and talked in the first two parts (1 s each).
    assert summary["timeline_lines"] == len(lines)
    (alice,) = summary["participants"]
    assert alice["joined"] == pytest.approx(0.0, abs=0.1)
    assert alice["talk_time"] == pytest.approx(2.0, abs=0.3)
    assert len(alice["talk"]) == 2
    assert summary["talk_time"] == {"Alice": alice["talk_time"]}
