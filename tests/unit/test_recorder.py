"""The recorder plugin, fed synthetic encoded frames (real VP8 and Opus) and checked with
ffprobe and by decoding what it wrote."""

from __future__ import annotations

import asyncio
import itertools
import json
import random
import shutil
import struct
import subprocess
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import numpy as np
import pytest
from matplotlib.collections import PathCollection

from agent import PresentationMedia
from agent.infinity.models.events import (
    MessageReceived,
    PresentationStart,
    PresentationStop,
    Stage,
    StageEntry,
)
from agent.infinity.models.participant import ParticipantInfo
from agent.infinity.roster import Joined, Left
from agent.media.analysis import has_tone
from agent.media.clips import RATE, Clip, feed, opus_clip, vp8_clip
from agent.media.tap import EncodedFrame
from agent.runtime.states import BotState, FailureReason, Gap, StateChanged
from plugins.recorder import Recorder, RecorderConfig, StorageError
from plugins.recorder.chart import speakers_figure
from plugins.recorder.clock import StreamClock
from plugins.recorder.mux import duration_element, find_duration_slot
from plugins.recorder.timeline import Timeline
from tests.support.recording import decode_audio, decode_video, ffprobe

pytestmark = pytest.mark.skipif(shutil.which("ffprobe") is None, reason="needs ffprobe")

T0 = 1000.0  # a monotonic time for synthetic arrivals


class FakeClock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class Context:
    alias = "meet@example.com"
    conference_name = "Weekly sync"

    def __init__(self) -> None:
        self.failures: list[tuple[FailureReason, str]] = []

    def fail(self, reason: FailureReason, detail: str) -> None:
        self.failures.append((reason, detail))


def make(tmp_path: Path, **config: Any) -> tuple[Recorder, FakeClock, list[int]]:
    clock = FakeClock()
    requests: list[int] = []
    cfg = RecorderConfig(output_dir=str(tmp_path), session_folder="s", **config)
    rec = Recorder(Context(), cfg, request_keyframe=lambda: requests.append(1), clock=clock)
    return rec, clock, requests


async def run(rec: Recorder, clock: FakeClock, items: Iterable[object]) -> Path:
    """Start, feed (the clock follows the frames' arrival), stop; the session folder."""
    await rec.start()
    for item in items:
        if isinstance(item, EncodedFrame):
            clock.now = max(clock.now, item.arrival)
        await rec.handle(item)
    await rec.stop()
    assert rec.folder is not None
    return rec.folder


def media(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix in (".webm", ".mkv"))


def counters(path: Path) -> list[int]:
    return [c for _, c, _ in decode_video(path) if c is not None]


# -- pure helpers ---------------------------------------------------------------------


def test_duration_slot_is_found_and_element_fits() -> None:
    void = b"\xec\x01\x00\x00\x00\x00\x00\x00\x02\x00\x00"
    info_body = b"\x2a\xd7\xb1\x83\x0f\x42\x40" + void
    info = b"\x15\x49\xa9\x66" + bytes([0x80 | len(info_body)]) + info_body
    head = b"\x1a\x45\xdf\xa3\x80" + b"\x18\x53\x80\x67\x01\xff\xff\xff\xff\xff\xff\xff" + info
    slot = find_duration_slot(head)
    assert slot is not None and head[slot : slot + 11] == void
    assert len(duration_element(1234.0)) == 11
    assert struct.unpack(">d", duration_element(1234.0)[3:])[0] == 1234.0


def test_stream_clock_keeps_gaps_and_resyncs_only_when_timestamps_lie() -> None:
    c = StreamClock(48000)
    assert c.map(0, 10.0) == 10.0
    assert c.map(48000, 11.3) == pytest.approx(11.0)  # jitter (< 0.5 s) does not move it
    assert c.map(96000, 12.8) == pytest.approx(12.8)  # held up 0.8 s: placed on arrival
    assert c.map(96960, 12.81) == pytest.approx(12.82)
    assert c.map(144000, 13.0) == pytest.approx(13.0)  # on time again: back on the mapping
    assert c.map(5 * 48000, 15.0) == pytest.approx(15.0)  # sender cut off 2 s: a 2 s gap
    assert c.resyncs == 2
    assert c.map(0, 20.0) == 20.0  # re-call: timestamps restart, re-anchored
    assert c.map(960, 20.02) == pytest.approx(20.02)
    assert c.map(1920, 25.0) == pytest.approx(25.0)  # timestamps stood still while away
    assert c.map(48000 * 10, 26.0) == pytest.approx(26.0)  # jumped ahead of real time
    assert c.resyncs == 5


# -- recordings ---------------------------------------------------------------------------


async def test_passthrough_opus_and_vp8(tmp_path: Path) -> None:
    rec, clock, _ = make(tmp_path)
    folder = await run(rec, clock, feed([vp8_clip(60), opus_clip(4.0)], T0))
    (path,) = media(folder)
    assert path.name == "recording-000.webm"
    probe = ffprobe(path)
    assert sorted(s["codec_name"] for s in probe["streams"]) == ["opus", "vp8"]
    assert abs(float(probe["format"]["duration"]) - 4.0) < 0.5
    samples, _ = decode_audio(path)
    assert has_tone(samples[RATE // 2 : 3 * RATE], 440.0)
    seen = counters(path)
    assert seen == list(range(60))
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["frames"] == {"audio": len(opus_clip(4.0).frames), "video": 60}
    assert summary["bytes"] == path.stat().st_size
    assert abs(summary["duration"] - 4.0) < 0.1


async def test_video_starts_at_a_keyframe_and_one_is_requested(tmp_path: Path) -> None:
    rec, clock, requests = make(tmp_path, video_wait=0.5)
    video = vp8_clip(60, gop=30)
    late = Clip(video.frames[5:], video.clock_rate, video.codec, video.kind)
    folder = await run(rec, clock, feed([late, opus_clip(4.0)], T0))
    (path,) = media(folder)
    assert requests  # asked for a keyframe while video frames came without one
    seen = counters(path)
    assert seen[0] == 30 and seen == sorted(seen)
    assert json.loads((folder / "summary.json").read_text())["dropped_before_keyframe"] == 25


@pytest.mark.parametrize("restart", [False, True], ids=["rtp-continues", "rtp-restarts"])
async def test_gap_stays_a_gap(tmp_path: Path, restart: bool) -> None:
    rec, clock, _ = make(tmp_path)
    video, audio = vp8_clip(30, gop=15), opus_clip(2.0)
    # 2 s of media, 1 s where nothing arrives, 2 s more. RTP timestamps either run on
    # through the gap (sender cut off) or restart at 0 (a re-call).
    shift = {} if restart else {"audio": 3 * RATE, "video": 3 * 90000}
    frames = [*feed([video, audio], T0), *feed([video, audio], T0 + 3.0, ts_offset=shift)]
    folder = await run(rec, clock, frames)
    (path,) = media(folder)
    assert abs(float(ffprobe(path)["format"]["duration"]) - 5.0) < 0.5
    times = [t for t, c, _ in decode_video(path) if c is not None]
    assert max(b - a for a, b in itertools.pairwise(times)) == pytest.approx(1.0 + 1 / 15, abs=0.05)
    gaps = json.loads((folder / "summary.json").read_text())["gaps"]
    assert [g["kind"] for g in gaps] == ["media"]
    assert gaps[0]["end"] - gaps[0]["start"] == pytest.approx(1.0, abs=0.1)


def _click_onsets(samples: np.ndarray[Any, Any], start: float) -> list[float]:
    loud = np.flatnonzero(np.abs(samples) > 0.4)
    onsets: list[float] = []
    for i in loud:
        t = start + i / RATE
        if not onsets or t - onsets[-1] > 0.5:
            onsets.append(t)
    return onsets


async def test_audio_and_video_stay_in_sync(tmp_path: Path) -> None:
    # The talker flashes (video) and clicks (audio) at the same instants. Its video stream
    # starts 0.3 s after its audio (its own RTP timestamps start at 0 there), and frames
    # arrive with up to 15 ms of jitter: only the mapping through one clock lines them up.
    rec, clock, _ = make(tmp_path)
    audio = opus_clip(5.0, clicks=(1.3, 3.3), tone=False)
    video = vp8_clip(70, flashes=(15, 45), gop=30)
    rng = random.Random(7)
    frames = [
        *feed([audio], T0),
        *feed([video], T0 + 0.3),
    ]
    jittered = [frames[0]] + [
        EncodedFrame(
            f.codec, f.data, f.timestamp, f.arrival + rng.uniform(0, 0.015), f.clock_rate, f.kind
        )
        for f in frames[1:]
    ]
    jittered.sort(key=lambda f: f.arrival)
    folder = await run(rec, clock, jittered)
    (path,) = media(folder)
    samples, start = decode_audio(path)
    clicks = _click_onsets(samples, start)
    flashes = [t for t, _, luma in decode_video(path) if luma > 200]
    assert len(clicks) == 2 and len(flashes) == 2
    for click, flash in zip(clicks, flashes, strict=True):
        assert abs(click - flash) < 0.040, (clicks, flashes)


async def test_audio_only(tmp_path: Path) -> None:
    rec, clock, _ = make(tmp_path, audio_only=True)
    folder = await run(rec, clock, feed([vp8_clip(30), opus_clip(2.0)], T0))
    (path,) = media(folder)
    assert [s["codec_name"] for s in ffprobe(path)["streams"]] == ["opus"]
    assert abs(float(ffprobe(path)["format"]["duration"]) - 2.0) < 0.5


async def test_segments_and_matroska(tmp_path: Path) -> None:
    rec, clock, _ = make(tmp_path, segment_seconds=2.0, container="matroska")
    folder = await run(rec, clock, feed([vp8_clip(75, gop=15), opus_clip(5.0)], T0))
    paths = media(folder)
    assert [p.name for p in paths] == [f"recording-00{i}.mkv" for i in range(3)]
    total = 0.0
    all_counters: list[int] = []
    for p in paths:
        probe = ffprobe(p)
        assert "matroska" in probe["format"]["format_name"]
        total += float(probe["format"]["duration"])
        seen = counters(p)
        assert seen and seen == sorted(seen)
        all_counters += seen
    assert abs(total - 5.0) < 0.5
    assert all_counters == list(range(75))
    files = json.loads((folder / "summary.json").read_text())["files"]
    assert [f["start"] for f in files] == pytest.approx([0.0, 2.0, 4.0], abs=0.1)


async def test_segments_by_size(tmp_path: Path) -> None:
    rec, clock, _ = make(tmp_path, segment_bytes=25_000)  # the whole clip is ~80 kB
    folder = await run(rec, clock, feed([vp8_clip(75, gop=15), opus_clip(5.0)], T0))
    paths = media(folder)
    assert len(paths) >= 2 and [p.name for p in paths] == sorted(p.name for p in paths)
    all_counters: list[int] = []
    for p in paths[:-1]:
        # Each file rolls over at the first keyframe after reaching the size.
        assert p.stat().st_size >= 25_000
    for p in paths:
        all_counters += counters(p)
    assert all_counters == list(range(75))


async def test_a_due_segment_waits_for_a_keyframe_then_starts_with_audio(tmp_path: Path) -> None:
    # Keyframes at 0 s and 8 s only. Due at 2 s, the next file asks for a keyframe, waits
    # 5 s, then starts without one (7 s); its video starts at the 8 s keyframe.
    rec, clock, requests = make(tmp_path, segment_seconds=2.0)
    folder = await run(rec, clock, feed([vp8_clip(150, gop=120), opus_clip(10.0)], T0))
    first, second = media(folder)
    assert counters(first) == list(range(105)) and counters(second) == list(range(120, 150))
    summary = json.loads((folder / "summary.json").read_text())
    assert [f["start"] for f in summary["files"]] == pytest.approx([0.0, 7.0], abs=0.05)
    # The picture size carries over (not the default), and the wait was not silent.
    assert (summary["files"][1]["width"], summary["files"][1]["height"]) == (320, 240)
    assert summary["dropped_before_keyframe"] == 15 and len(requests) >= 5


async def test_pause_resume_and_stop_start(tmp_path: Path) -> None:
    rec, clock, _ = make(tmp_path)
    frames = list(feed([vp8_clip(90, gop=15), opus_clip(6.0)], T0))
    await rec.start()
    for f in frames:
        clock.now = f.arrival
        t = f.arrival - T0
        if 1.0 <= t < 2.0 and not rec.writer.paused:  # type: ignore[union-attr]
            rec.pause()
            await _settle(rec)
        if 2.0 <= t < 3.0 and rec.writer.paused:  # type: ignore[union-attr]
            rec.resume()
            await _settle(rec)
        if 4.0 <= t < 5.0 and rec.writer.recording:  # type: ignore[union-attr]
            rec.stop_recording()
            await _settle(rec)
        if t >= 5.0 and not rec.writer.recording:  # type: ignore[union-attr]
            rec.start_recording()
            await _settle(rec)
        await rec.handle(f)
    await rec.stop()
    assert rec.folder is not None
    first, second = media(rec.folder)
    assert abs(float(ffprobe(first)["format"]["duration"]) - 4.0) < 0.5
    assert abs(float(ffprobe(second)["format"]["duration"]) - 1.0) < 0.5
    summary = json.loads((rec.folder / "summary.json").read_text())
    assert [g["kind"] for g in summary["gaps"]] == ["paused"]
    lines = [json.loads(line) for line in (rec.folder / "timeline.jsonl").read_text().splitlines()]
    kinds = [line["type"] for line in lines]
    assert [k for k in kinds if k.startswith("recording_")] == [
        "recording_started",
        "recording_paused",
        "recording_resumed",
        "recording_stopped",
        "recording_started",
    ]
    # The pause is marked: its start and length on the resume line, a chapter in the file.
    paused = next(line for line in lines if line["type"] == "recording_paused")
    resumed = next(line for line in lines if line["type"] == "recording_resumed")
    assert resumed["paused_at"] == paused["t"] and resumed["seconds"] == pytest.approx(1.0, abs=0.1)
    (chapter,) = chapters(first)
    start = summary["files"][0]["start"]
    assert chapter["tags"]["title"] == "paused"
    assert float(chapter["start_time"]) == pytest.approx(paused["t"] - start, abs=0.002)
    assert float(chapter["end_time"]) == pytest.approx(resumed["t"] - start, abs=0.002)
    assert chapters(second) == []


def chapters(path: Path) -> list[dict[str, Any]]:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_chapters", "-of", "json", str(path)],
        capture_output=True, text=True, check=True, timeout=30,
    ).stdout  # fmt: skip
    found: list[dict[str, Any]] = json.loads(out)["chapters"]
    return found


async def _settle(rec: Recorder) -> None:
    # Controls go through the writer's queue: wait until it has taken them.
    assert await rec.flush()


def _person(uuid: str, name: str) -> ParticipantInfo:
    return ParticipantInfo(uuid=uuid, display_name=name)


def _stage(*speaking: str) -> Stage:
    return Stage(
        speakers=tuple(
            StageEntry(participant_uuid=u, stage_index=i, vad=100) for i, u in enumerate(speaking)
        )
    )


async def test_timeline_summary_and_speaker_chart(tmp_path: Path) -> None:
    alice, bob = _person("a-1", "Alice"), _person("b-2", "Bob")
    script: dict[float, list[object]] = {
        0.0: [Joined(alice), Joined(bob)],
        0.5: [_stage("a-1")],
        1.0: [MessageReceived(origin="Bob", uuid="b-2", payload="hello")],
        2.0: [_stage("b-2"), PresentationStart(presenter_name="Alice", presenter_uuid="a-1")],
        3.0: [_stage(), PresentationStop(), Gap("events", T0 + 3.0, T0 + 3.2)],
        3.5: [StateChanged(BotState.IN_CALL, BotState.LEAVING, T0 + 3.5), Left(bob)],
    }
    items: list[object] = []
    pending = sorted(script.items())
    for f in feed([vp8_clip(60), opus_clip(4.0)], T0):
        while pending and f.arrival - T0 >= pending[0][0]:
            items += pending.pop(0)[1]
        items.append(f)
    rec, clock, _ = make(tmp_path)
    folder = await run(rec, clock, items)
    lines = [json.loads(line) for line in (folder / "timeline.jsonl").read_text().splitlines()]
    by_type: dict[str, list[dict[str, Any]]] = {}
    for line in lines:
        by_type.setdefault(line["type"], []).append(line)
    assert [j["name"] for j in by_type["joined"]] == ["Alice", "Bob"]
    assert [[s["name"] for s in st["speaking"]] for st in by_type["stage"]] == [
        ["Alice"],
        ["Bob"],
        [],
    ]
    assert [st["t"] for st in by_type["stage"]] == pytest.approx([0.5, 2.0, 3.0], abs=0.05)
    assert by_type["chat"][0]["text"] == "hello" and by_type["chat"][0]["from"] == "Bob"
    assert by_type["presentation_start"][0]["name"] == "Alice"
    assert by_type["presentation_stop"][0]["t"] == pytest.approx(3.0, abs=0.05)
    assert by_type["gap"][0]["start"] == pytest.approx(3.0, abs=0.05)
    assert by_type["state"][0]["new"] == "leaving"
    assert by_type["left"][0]["name"] == "Bob"
    assert all("utc" in line for line in lines)

    summary = json.loads((folder / "summary.json").read_text())
    assert (summary["alias"], summary["conference"]) == ("meet@example.com", "Weekly sync")
    started = datetime.fromisoformat(summary["start_utc"])
    assert started.utcoffset() == timedelta(0)
    assert abs(started - datetime.fromisoformat(lines[0]["utc"])) < timedelta(seconds=1)
    assert summary["talk_time"] == pytest.approx({"Alice": 1.5, "Bob": 1.0}, abs=0.05)
    assert summary["chat_messages"] == 1
    assert summary["presentations"] == [pytest.approx([2.0, 3.0], abs=0.05)]
    assert summary["event_gaps"][0]["kind"] == "events"
    assert {p["name"] for p in summary["participants"]} == {"Alice", "Bob"}

    png = (folder / "speakers.png").read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    width, height = struct.unpack(">II", png[16:24])
    assert width >= 400 and height >= 100


async def test_timeline_time_starts_when_the_bot_joins(tmp_path: Path) -> None:
    # The bot joins at T0, Alice is listed at 0.2 s, media flows from 1.0 s on.
    rec, clock, _ = make(tmp_path)
    clock.now = T0 + 0.2  # when the plugin gets the join (its `at` says T0) and Alice
    joined = [StateChanged(BotState.JOINING, BotState.CONNECTED, T0), Joined(_person("a", "A"))]
    folder = await run(rec, clock, [*joined, *feed([vp8_clip(30), opus_clip(2.0)], T0 + 1.0)])
    lines = [json.loads(line) for line in (folder / "timeline.jsonl").read_text().splitlines()]
    t = {line["type"]: line["t"] for line in lines}
    assert t["state"] == 0.0 and t["joined"] == pytest.approx(0.2)
    assert t["file_started"] == pytest.approx(1.0, abs=0.02)
    assert min(line["t"] for line in lines) >= 0
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["files"][0]["start"] == pytest.approx(1.0, abs=0.02)
    assert summary["duration"] == pytest.approx(2.0, abs=0.1)


def test_speaker_chart_names_the_meeting_and_shows_talk_time_and_every_chat(
    tmp_path: Path,
) -> None:
    timeline = Timeline(tmp_path / "t.jsonl", T0, datetime(2025, 3, 14, 9, 30, 5, tzinfo=UTC))
    for uuid, name in (("a-1", "Alice"), ("b-2", "Bob")):
        timeline.add({"type": "joined", "at": T0, "uuid": uuid, "name": name, "role": "guest"})
    for at, speaking in ((1.0, ["a-1"]), (4.0, ["b-2"]), (5.0, [])):
        timeline.add({"type": "stage", "at": T0 + at, "speaking": speaking})
    for at, uuid in ((2.0, "b-2"), (2.5, "b-2"), (6.0, "")):  # "": not on the roster
        timeline.add({"type": "chat", "at": T0 + at, "uuid": uuid})
    timeline.close(T0 + 10)
    fig = speakers_figure(timeline, T0 + 10, alias="meet@example.com", conference="Weekly sync")
    (ax,) = fig.axes
    assert ax.get_title(loc="left") == "Weekly sync (meet@example.com)"
    texts = [t.get_text() for t in ax.texts]
    assert any(t.startswith("14 Mar 2025, 09:30 UTC") for t in texts)
    rows = [label.get_text() for label in ax.get_yticklabels()]
    assert rows == ["Alice", "Bob", "(others)"]
    # Talk time and share of all talk, next to each row.
    assert texts[texts.index("3.0 s") + 1] == "75%"
    assert texts[texts.index("1.0 s") + 1] == "25%"
    (chat,) = [c for c in ax.collections if isinstance(c, PathCollection)]
    assert np.asarray(chat.get_offsets()).shape == (3, 2)  # one marker per message


async def test_unwritable_folder_is_a_storage_error_before_joining(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    context = Context()
    rec = Recorder(context, RecorderConfig(output_dir=str(blocker / "recordings")))
    with pytest.raises(StorageError, match=r"not writable: .*not-a-folder is not a folder"):
        await rec.prepare()
    assert context.failures[0][0] == FailureReason.STORAGE
    await rec.start()
    await rec.handle(next(feed([opus_clip(0.1)], T0)))  # nothing to write to: no crash
    await rec.stop()


async def test_prepare_creates_nothing_and_a_bot_that_never_joined_leaves_nothing(
    tmp_path: Path,
) -> None:
    out = tmp_path / "recordings" / "meet"
    rec = Recorder(Context(), RecorderConfig(output_dir=str(out)))
    await rec.prepare()
    await rec.start()
    await rec.handle(StateChanged(BotState.JOINING, BotState.FAILED, T0, FailureReason.INVALID_PIN))
    await rec.stop()
    assert list(tmp_path.iterdir()) == []
    assert rec.folder is None and rec.summary is None


async def test_the_session_folder_is_made_when_the_bot_joins(tmp_path: Path) -> None:
    rec = Recorder(Context(), RecorderConfig(output_dir=str(tmp_path)))
    await rec.prepare()
    await rec.start()
    assert list(tmp_path.iterdir()) == []
    await rec.handle(StateChanged(BotState.JOINING, BotState.CONNECTED, T0))
    (folder,) = tmp_path.iterdir()
    assert folder.name.startswith("meet@example.com-") and rec.folder == folder
    await rec.stop()
    assert {p.name for p in folder.iterdir()} >= {"timeline.jsonl", "summary.json"}


async def test_disk_full_is_a_storage_error_and_keeps_what_was_written(tmp_path: Path) -> None:
    # (A really full filesystem: tests/unit/test_recorder_disk_full.py.)
    folder = tmp_path / "s"
    folder.mkdir()
    (folder / "recording-001.webm").symlink_to("/dev/full")  # every write: ENOSPC
    rec, clock, _ = make(tmp_path, segment_seconds=2.0)
    # Reported through the context (the bot fails `storage`): not raised as well.
    await run(rec, clock, feed([vp8_clip(60, gop=15), opus_clip(4.0)], T0))
    failures = cast(Context, rec.context).failures
    assert failures and failures[0][0] == FailureReason.STORAGE
    assert failures[0][1].endswith("recording-001.webm failed: No space left on device")
    first = folder / "recording-000.webm"
    assert abs(float(ffprobe(first)["format"]["duration"]) - 2.0) < 0.5
    summary = json.loads((folder / "summary.json").read_text())
    assert "recording-001.webm" in summary["error"]


# -- presentation -------------------------------------------------------------------------

SLIDE_FPS = 5


def _slides(clip: Clip, start: float, skip: int = 0) -> list[PresentationMedia]:
    """The clip's frames from `skip` on as the presentation call delivers them."""
    tail = Clip(clip.frames[skip:], clip.clock_rate, clip.codec, clip.kind)
    # RTP timestamps relative to the stream's first frame (as aiortc hands them over).
    shift = {"video": -tail.frames[0][0]}
    return [PresentationMedia(f) for f in feed([tail], start, ts_offset=shift)]


def _merge(*streams: Iterable[object], script: dict[float, list[object]]) -> list[object]:
    """Frames (PresentationMedia or EncodedFrame) in arrival order, events at their times."""
    frames: list[Any] = [f for s in streams for f in s]
    frames.sort(key=lambda f: (f.frame if isinstance(f, PresentationMedia) else f).arrival)
    items: list[object] = []
    pending = sorted(script.items())
    for f in frames:
        arrival = (f.frame if isinstance(f, PresentationMedia) else f).arrival
        while pending and arrival - T0 >= pending[0][0]:
            items += pending.pop(0)[1]
        items.append(f)
    for _, events in pending:
        items += events
    return items


async def test_presentation_goes_to_its_own_files_on_the_same_clock(tmp_path: Path) -> None:
    # Main media for 8 s. A first presentation (640x480 slides at 5 fps) from 1.5 s to
    # 4.5 s whose call delivers frames from 2.0 s on, starting mid-GOP (the first keyframe
    # is slide 5, at 2.4 s); a second one (320x240, RTP timestamps from 0 again) from 5.0 s
    # to 7.0 s. A last frame of the first one (a keyframe) is still queued behind its stop.
    first = vp8_clip(11, fps=SLIDE_FPS, width=640, height=480, gop=5)
    second = vp8_clip(9, fps=SLIDE_FPS, gop=50)
    slides_1 = _slides(first, T0 + 2.0 - 3 / SLIDE_FPS, skip=3)
    slides_2 = _slides(second, T0 + 5.2)
    straggler = slides_1.pop()
    alice = _person("a-1", "Alice")
    items = _merge(
        feed([vp8_clip(120, gop=30), opus_clip(8.0)], T0),
        slides_1,
        slides_2,
        script={
            1.5: [PresentationStart(presenter_name="Alice", presenter_uuid="a-1")],
            4.5: [PresentationStop(), straggler],
            5.0: [PresentationStart(presenter_name="Alice", presenter_uuid="a-1")],
            7.0: [PresentationStop()],
            0.0: [Joined(alice)],
        },
    )
    rec, clock, _ = make(tmp_path)
    assert rec.wants_presentation
    folder = await run(rec, clock, items)

    assert [p.name for p in media(folder)] == [
        "presentation-000.webm",
        "presentation-001.webm",
        "recording-000.webm",
    ]
    pres = [folder / "presentation-000.webm", folder / "presentation-001.webm"]
    for path, size in zip(pres, [(640, 480), (320, 240)], strict=True):
        (stream,) = ffprobe(path)["streams"]
        assert (stream["codec_name"], stream["width"], stream["height"]) == ("vp8", *size)
    assert counters(pres[0]) == list(range(5, 10))  # from the keyframe; not the straggler
    assert counters(pres[1]) == list(range(9))
    assert abs(float(ffprobe(pres[0])["format"]["duration"]) - 1.0) < 0.3  # 5 slides

    summary = json.loads((folder / "summary.json").read_text())
    files = summary["presentation_files"]
    assert [f["file"] for f in files] == [p.name for p in pres]
    assert [f["start"] for f in files] == pytest.approx([2.4, 5.2], abs=0.05)
    assert [f["packets"] for f in files] == [5, 9]
    assert summary["presentation_frames"] == 14
    assert summary["presentation_dropped_after_stop"] == 1
    assert summary["presentation_dropped_before_keyframe"] == 2
    assert summary["frames"] == {"audio": len(opus_clip(8.0).frames), "video": 120}
    assert summary["presentations"] == [
        pytest.approx([1.5, 4.5], abs=0.05),
        pytest.approx([5.0, 7.0], abs=0.05),
    ]
    lines = [json.loads(line) for line in (folder / "timeline.jsonl").read_text().splitlines()]
    marks = [(ln["type"], ln["t"], ln.get("file")) for ln in lines if "presentation" in ln["type"]]
    assert [m[0] for m in marks] == [
        "presentation_start",
        "presentation_file_started",
        "presentation_stop",
        "presentation_start",
        "presentation_file_started",
        "presentation_stop",
    ]
    assert [m[1] for m in marks] == pytest.approx([1.5, 2.4, 4.5, 5.0, 5.2, 7.0], abs=0.05)
    # A presentation frame at media time x of a file is at timeline time start + x.
    t_first = decode_video(pres[1])[0][0]
    assert files[1]["start"] + t_first == pytest.approx(5.2, abs=0.05)


async def test_presentation_segments_and_size_changes(tmp_path: Path) -> None:
    small = vp8_clip(25, fps=SLIDE_FPS, gop=5)  # keyframes at 0.5, 1.5, ... 4.5 s
    big = vp8_clip(10, fps=SLIDE_FPS, width=640, height=480, gop=50)
    slides = _slides(small, T0 + 0.5)
    # The presenter's picture grows at 5.5 s (same stream: timestamps run on).
    for f in feed([big], T0 + 5.5, ts_offset={"video": 5 * 90000}):
        slides.append(PresentationMedia(f))
    rec, clock, _ = make(tmp_path, segment_seconds=1.5)
    folder = await run(rec, clock, _merge(feed([opus_clip(7.0)], T0), slides, script={}))
    names = [p.name for p in media(folder) if p.name.startswith("presentation")]
    # At 0.5 s, at the first keyframe >= 1.5 s later (2.5 s), again (4.5 s), new size (5.5 s).
    assert names == [f"presentation-00{i}.webm" for i in range(4)]
    summary = json.loads((folder / "summary.json").read_text())
    starts = [f["start"] for f in summary["presentation_files"]]
    assert starts == pytest.approx([0.5, 2.5, 4.5, 5.5], abs=0.05)
    assert [f["width"] for f in summary["presentation_files"]] == [320, 320, 320, 640]
    assert summary["presentation_frames"] == 35


@pytest.mark.parametrize("config", [{"record_presentation": False}, {"audio_only": True}])
async def test_presentation_not_recorded_when_off(tmp_path: Path, config: dict[str, Any]) -> None:
    rec, clock, _ = make(tmp_path, **config)
    assert not rec.wants_presentation and Recorder.wants_presentation
    slides = _slides(vp8_clip(10, fps=SLIDE_FPS), T0 + 0.5)
    folder = await run(rec, clock, _merge(feed([opus_clip(3.0)], T0), slides, script={}))
    assert [p.name for p in media(folder)] == ["recording-000.webm"]
    assert json.loads((folder / "summary.json").read_text())["presentation_files"] == []


async def test_presentation_waits_for_a_keyframe_after_resume(tmp_path: Path) -> None:
    asked: list[int] = []
    cfg = RecorderConfig(output_dir=str(tmp_path), session_folder="s")
    clock = FakeClock()
    rec = Recorder(
        Context(), cfg, request_presentation_keyframe=lambda: asked.append(1), clock=clock
    )
    slides = _slides(vp8_clip(25, fps=SLIDE_FPS, gop=10), T0)
    await rec.start()
    for item in _merge(feed([opus_clip(5.0)], T0), slides, script={}):
        frame = item.frame if isinstance(item, PresentationMedia) else item
        assert isinstance(frame, EncodedFrame)
        clock.now = frame.arrival
        if frame.arrival - T0 >= 1.0 and not rec.writer.paused and not asked:  # type: ignore[union-attr]
            rec.pause()
            await _settle(rec)
        if frame.arrival - T0 >= 1.5 and rec.writer.paused:  # type: ignore[union-attr]
            rec.resume()
            await _settle(rec)
        await rec.handle(item)
    await rec.flush()
    await asyncio.sleep(0.05)  # the request goes through the event loop
    await rec.stop()
    assert rec.folder is not None
    (path,) = [p for p in media(rec.folder) if p.name.startswith("presentation")]
    # 0..4 before the pause; after it, slides from the next keyframe (10) on.
    assert counters(path) == [0, 1, 2, 3, 4, *range(10, 25)]
    assert asked  # the recorder asked for one (through the given callable)
