"""The recorder on a disk that fills up (issue 12, point 10), on a real full filesystem (a small
tmpfs): one log line and no traceback, what was written stays readable, the timeline says
the recording failed, `summary.json` is written (to the temp folder, said in the log, when
the session folder has no room at all), no `summary.tmp` is left."""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest

from agent.media.clips import feed, opus_clip, vp8_clip
from agent.runtime.states import BotState, FailureReason, StateChanged
from plugins.recorder import Recorder, RecorderConfig, StorageError
from plugins.recorder.storage import RESERVE_NAME
from tests.support.full_disk import fill, free_bytes, small_filesystem
from tests.support.recording import ffprobe

pytestmark = pytest.mark.skipif(shutil.which("ffprobe") is None, reason="needs ffprobe")

T0 = 1000.0
KiB = 1024
RESERVE = 256 * KiB
ENOSPC = "No space left on device"


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


class Context:
    alias = "meet"
    conference_name = "Weekly"

    def __init__(self) -> None:
        self.failures: list[tuple[FailureReason, str]] = []

    def fail(self, reason: FailureReason, detail: str) -> None:
        self.failures.append((reason, detail))


async def record(out: Path, context: Context | None, **config: Any) -> Recorder:
    """20 s of video and audio (far more than fits) into `out`; stopped."""
    clock = Clock()
    cfg = RecorderConfig(output_dir=str(out), session_folder="s", **config)
    rec = Recorder(context, cfg, clock=clock)
    await rec.start()
    await rec.handle(StateChanged(BotState.JOINING, BotState.IN_CALL, T0))
    for frame in feed([vp8_clip(200, gop=20), opus_clip(20.0)], T0):
        clock.now = max(clock.now, frame.arrival)
        await rec.handle(frame)
    await rec.stop()
    return rec


def lines(folder: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (folder / "timeline.jsonl").read_text().splitlines()]


async def test_a_full_disk_is_one_line_and_the_summary_is_written_in_the_kept_room(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    with small_filesystem(tmp_path / "disk", 2 << 20) as disk:
        fill(disk, leave=RESERVE + 96 * KiB)
        context = Context()
        rec = await record(disk, context, reserve_bytes=RESERVE)  # stop() does not raise
        folder = disk / "s"
        error = f"writing {folder / 'recording-000.webm'} failed: {ENOSPC}"
        assert context.failures == [(FailureReason.STORAGE, error)]
        problems = [r for r in caplog.records if r.levelno >= logging.WARNING]
        assert [r.getMessage() for r in problems] == [
            f"recording failed: {error} (what was written is kept)"
        ]
        assert not any(r.exc_info for r in caplog.records)
        # What reached the disk plays, with a duration; the timeline ends with the failure.
        assert float(ffprobe(folder / "recording-000.webm")["format"]["duration"]) > 1.0
        last = lines(folder)[-1]
        assert (last["type"], last["error"]) == ("recording_failed", error)
        summary = json.loads((folder / "summary.json").read_text())
        assert summary["error"] == error and summary["files"][0]["file"] == "recording-000.webm"
        assert rec.summary_path == folder / "summary.json"
        # (`.owner` is the folder's claim, resume.py; the reserve file is given back: gone.)
        assert sorted(p.name for p in folder.iterdir() if p.name != ".owner") == [
            "recording-000.webm",
            "summary.json",
            "timeline.jsonl",
        ]  # no summary.tmp, no reserve left behind, no chart on a full disk


async def test_without_any_room_the_summary_goes_to_the_temp_folder_and_the_log_says_where(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(elsewhere))
    with small_filesystem(tmp_path / "disk", 1 << 20) as disk:
        fill(disk, leave=64 * KiB)
        rec = await record(disk, Context(), reserve_bytes=0)  # no room kept
        folder = disk / "s"
        saved = elsewhere / "pexbot-s-summary.json"
        assert rec.summary_path == saved
        assert json.loads(saved.read_text())["error"].endswith(ENOSPC)
        messages = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
        assert len(messages) == 2 and messages[0].startswith("recording failed: ")
        assert messages[1] == (
            f"summary.json written to {saved} instead: "
            f"writing {folder / 'summary.json'} failed: {ENOSPC}"
        )
        assert not (folder / "summary.tmp").exists() and not (folder / "summary.json").exists()
        assert free_bytes(disk) < 16 * KiB  # it really was full


async def test_the_reserve_is_held_while_recording_and_given_back_at_the_end(
    tmp_path: Path,
) -> None:
    clock = Clock()
    rec = Recorder(
        Context(),
        RecorderConfig(output_dir=str(tmp_path), session_folder="s", reserve_bytes=RESERVE),
        clock=clock,
    )
    await rec.start()
    await rec.handle(StateChanged(BotState.JOINING, BotState.IN_CALL, T0))
    reserve = tmp_path / "s" / RESERVE_NAME
    assert reserve.stat().st_size == RESERVE
    await rec.stop()
    assert not reserve.exists()


async def test_no_room_for_the_reserve_fails_the_session_at_its_start(tmp_path: Path) -> None:
    with small_filesystem(tmp_path / "disk", 1 << 20) as disk:
        fill(disk, leave=32 * KiB)
        context = Context()
        rec = await record(disk, context, reserve_bytes=RESERVE)
        assert rec.folder is None
        ((reason, detail),) = context.failures
        assert reason == FailureReason.STORAGE
        assert detail == (
            f"recording folder {disk / 's'} has no room for the recording "
            f"({RESERVE} bytes kept for its summary): {ENOSPC}"
        )
        assert not (disk / "s" / RESERVE_NAME).exists()


async def test_without_a_context_to_report_to_the_failure_is_raised(tmp_path: Path) -> None:
    with small_filesystem(tmp_path / "disk", 2 << 20) as disk:
        fill(disk, leave=RESERVE + 96 * KiB)
        with pytest.raises(StorageError, match=ENOSPC):
            await record(disk, None, reserve_bytes=RESERVE)
        assert (disk / "s" / "summary.json").exists()
