"""Bots as a service end to end: `pexbot serve --redis`, `pexbot worker` processes, a
real Redis and the local node. Recorder jobs are audio-only and short."""

from __future__ import annotations

import asyncio
import json
import shutil
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.service_harness import (
    LEASE_SECONDS,
    TAKEOVER_MARGIN,
    TOKEN_SECONDS,
    Service,
    recorder_job,
    service,
)
from tests.unit.recorder_fixtures import ffprobe

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs redis-server"),
]

#: Lease, idle margin, reclaim interval, the old bot's token and the takeover margin,
#: plus 3 s to join: how long a dead worker's job may be out of its meeting.
RESUME_BOUND = LEASE_SECONDS + 0.25 + 1.0 + TOKEN_SECONDS + TAKEOVER_MARGIN + 3.0


async def _create_all(svc: Service, rooms: range, seconds: float) -> list[str]:
    ids = []
    for room in rooms:
        bot = await svc.create(recorder_job(svc.node.base_url, room, seconds))
        ids.append(bot["id"])
    return ids


def _timeline(folder: Path) -> list[dict[str, Any]]:
    return [json.loads(x) for x in (folder / "timeline.jsonl").read_text().splitlines()]


async def test_two_workers_run_twenty_recorder_jobs(tmp_path: Path) -> None:
    async with service(tmp_path, rooms=20) as svc:
        a = await svc.worker("a", 10)
        b = await svc.worker("b", 10)
        ids = await _create_all(svc, range(20), seconds=6)
        bots = await svc.wait_states(ids, {"left"}, timeout=60)
        assert {b["worker"] for b in bots} == {None}
        assert all(b["exit_code"] == 0 and b["attempts"] == 1 for b in bots)
        assert all(b["detail"] == "leave.duration: 6 s in the conference" for b in bots)
        # Capacity 10 each: both workers ran ten.
        for proc in (a, b):
            proc.signal(signal.SIGTERM)
            assert await proc.wait(30) == 0
        assert "10 finished, 0 handed back, 0 lost" in a.text()
        assert "10 finished, 0 handed back, 0 lost" in b.text()
        assert max(svc.roster.most.values()) == 1
        for bot in bots:
            (artifact,) = bot["artifacts"]
            folder = Path(artifact["path"])
            assert folder.name == bot["id"] and folder.parent == svc.output
            duration = float(ffprobe(folder / "recording-000.webm")["format"]["duration"])
            assert 4.5 <= duration <= 6.5
            assert not (folder / "recording-001.webm").exists()
            assert json.loads((folder / "summary.json").read_text())["gaps"] == []


async def test_a_sigkilled_worker_s_jobs_are_resumed_by_the_other(tmp_path: Path) -> None:
    seconds = 20.0
    async with service(tmp_path, rooms=20) as svc:
        a = await svc.worker("a", 10)
        first = await _create_all(svc, range(10), seconds)
        await svc.wait_states(first, {"in_call"}, timeout=30, worker="a")
        b = await svc.worker("b", 20)
        second = await _create_all(svc, range(10, 20), seconds)
        await svc.wait_states(second, {"in_call"}, timeout=30, worker="b")
        await asyncio.sleep(2.0)
        a.signal(signal.SIGKILL)
        killed = time.time()
        await a.wait(10)
        bots = await svc.wait_states(first, {"in_call"}, timeout=RESUME_BOUND + 5, worker="b")
        back = time.time()
        bots += await svc.wait_states(second, {"in_call", "leaving", "left"}, timeout=5)
        final = await svc.wait_states(first + second, {"left"}, timeout=seconds + 15)
        b.signal(signal.SIGTERM)
        assert await b.wait(30) == 0

        # Never two bots for one job on the node; A's are back within the bound.
        assert max(svc.roster.most.values()) == 1
        assert back - killed <= RESUME_BOUND + 1
        for bot in bots[:10]:
            name = bot["request"]["meeting"]["display_name"]
            spans = svc.roster.spans[name]
            assert len(spans) == 2, spans  # in, out (the kill), in again
            gone, returned = spans[0][1], spans[1][0]
            assert gone is not None and returned is not None
            assert returned - killed <= RESUME_BOUND
            assert bot["resumes"] == 1
        assert all(b["attempts"] == 1 for b in bots[10:])

        for bot in final:
            assert bot["exit_code"] == 0, bot
            folder = Path(bot["artifacts"][0]["path"])
            lines = _timeline(folder)
            gaps = [x for x in lines if x["type"] == "gap"]
            started = [x for x in lines if x["type"] == "file_started"]
            durations = [float(ffprobe(folder / s["file"])["format"]["duration"]) for s in started]
            if bot["id"] not in first:
                assert gaps == [] and len(started) == 1
                continue
            # The meeting is covered: A's file up to its last write, one marked gap,
            # B's file from there to the end.
            (gap,) = gaps
            assert gap["kind"] == "resume"
            assert [s["file"] for s in started] == ["recording-000.webm", "recording-001.webm"]
            origin = _utc(started[0]) - started[0]["t"]
            assert abs(started[0]["t"] + durations[0] - gap["start"]) <= 1.0
            assert killed - 1.0 <= origin + gap["start"] <= killed + 0.5
            assert started[1]["t"] == gap["end"]
            assert gap["end"] - gap["start"] <= RESUME_BOUND + 1.5
            assert origin - _iso(bot["timings"]["joined_at"]) <= 1.5
            (leaving,) = [x for x in lines if x["type"] == "state" and x["new"] == "leaving"]
            assert leaving["t"] - (gap["end"] + durations[1]) <= 1.0
            summary = json.loads((folder / "summary.json").read_text())
            assert [g["kind"] for g in summary["gaps"]] == ["resume"]


def _iso(text: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(text).timestamp()


def _utc(line: dict[str, Any]) -> float:
    return _iso(str(line["utc"]))
