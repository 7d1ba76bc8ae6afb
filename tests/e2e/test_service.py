"""Bots as a service end to end: `pexbot serve --redis`, `pexbot worker` processes, a
real Redis and the local node. Recorder jobs are audio-only and short."""

from __future__ import annotations

import asyncio
import json
import shutil
import signal
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from agent.config import LeaveRules
from tests.e2e.service_harness import (
    LEASE_SECONDS,
    TAKEOVER_MARGIN,
    TOKEN_SECONDS,
    Service,
    logged_at,
    recorder_job,
    service,
)
from tests.support.recording import ffprobe

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs redis-server"),
]

#: Lease, idle margin, reclaim interval, the old bot's token and the takeover margin,
#: plus 3 s to join: how long a dead worker's job may be out of its meeting.
RESUME_BOUND = LEASE_SECONDS + 0.25 + 1.0 + TOKEN_SECONDS + TAKEOVER_MARGIN + 3.0
#: A bot's clean leave (hang up, release the token, flush the recorder) is bounded by this.
SHUTDOWN_TIMEOUT = LeaveRules.model_fields["shutdown_timeout"].default


async def _create_all(svc: Service, rooms: range, seconds: float) -> list[str]:
    ids = []
    for room in rooms:
        bot = await svc.create(recorder_job(svc.node.base_url, room, seconds))
        ids.append(bot["id"])
    return ids


def _timeline(folder: Path) -> list[dict[str, Any]]:
    return [json.loads(x) for x in (folder / "timeline.jsonl").read_text().splitlines()]


def _wall(line: dict[str, Any], t: float) -> float:
    """Recording time `t` on the wall clock, from a timeline line (its `utc` is its `t`)."""
    return float(datetime.fromisoformat(line["utc"]).timestamp() - line["t"] + t)


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


async def test_a_paused_worker_never_leaves_two_bots_for_one_job(tmp_path: Path) -> None:
    async with service(tmp_path, rooms=3) as svc:
        a = await svc.worker("a", 3)
        ids = await _create_all(svc, range(3), seconds=120)
        await svc.wait_states(ids, {"in_call"}, timeout=30, worker="a")
        await svc.worker("b", 3)
        # A long GC, a partition, a debugger: A freezes past its lease and its bots' tokens.
        a.signal(signal.SIGSTOP)
        await svc.wait_states(ids, {"in_call"}, timeout=RESUME_BOUND + 5, worker="b")
        a.signal(signal.SIGCONT)
        # A wakes up to find its leases gone: its bots send nothing more (their tokens
        # lapsed meanwhile), never rejoin, and A goes on as a healthy worker.
        await asyncio.sleep(LEASE_SECONDS + 3)
        assert a.proc.returncode is None
        assert "Lease lost to another worker" in a.text()
        names = [f"rec-{i:02d}" for i in range(3)]
        now = svc.roster.now_present()
        assert [now.get(n) for n in names] == [1, 1, 1]
        assert max(svc.roster.most.values()) == 1
        for name in names:
            assert len(svc.roster.spans[name]) == 2  # A's bot, then B's only
        bots = [await svc.get(i) for i in ids]
        assert {bot["worker"] for bot in bots} == {"b"}
        for bot_id in ids:
            status, _ = await svc.leave(bot_id)
            assert status == 202
        bots = await svc.wait_states(ids, {"left"}, timeout=15)
        assert all(not svc.roster.present(n) for n in names)
        # The recordings: A's part, one resume gap, B's part; nothing from A after it woke.
        for bot in bots:
            lines = _timeline(Path(bot["artifacts"][0]["path"]))
            assert [x["kind"] for x in lines if x["type"] == "gap"] == ["resume"]
            assert not [x for x in lines if x["type"] == "disconnect"]
            leaving = [x for x in lines if x["type"] == "state" and x["new"] == "leaving"]
            assert [x["detail"] for x in leaving] == ["Stopped by API request"]


async def test_a_short_pause_leaves_the_job_where_it_was(tmp_path: Path) -> None:
    async with service(tmp_path, rooms=1) as svc:
        a = await svc.worker("a", 1)
        (bot_id,) = await _create_all(svc, range(1), seconds=120)
        await svc.wait_states([bot_id], {"in_call"}, timeout=30, worker="a")
        await svc.worker("b", 1)
        a.signal(signal.SIGSTOP)
        await asyncio.sleep(LEASE_SECONDS / 3)  # shorter than what is left of the lease
        a.signal(signal.SIGCONT)
        await asyncio.sleep(LEASE_SECONDS + 2)
        bot = await svc.get(bot_id)
        assert (bot["worker"], bot["state"], bot["attempts"]) == ("a", "in_call", 1)
        assert len(svc.roster.spans["rec-00"]) == 1


async def test_sigterm_drains_within_the_deadline_and_hands_back(tmp_path: Path) -> None:
    drain = 6.0
    async with service(tmp_path, rooms=3) as svc:
        a = await svc.worker("a", 3, "--drain-seconds", f"{drain:g}")
        long = await _create_all(svc, range(2), seconds=120)
        (short,) = await _create_all(svc, range(2, 3), seconds=5)
        await svc.wait_states([*long, short], {"in_call"}, timeout=30, worker="a")
        b = await svc.worker("b", 3)
        a.signal(signal.SIGTERM)
        signalled = time.time()
        # The short meeting ends within the deadline, on A; the long ones are handed back
        # at the deadline, counted from the signal. The worker's log times that on its own
        # clock; what follows (the bots leave, the process exits) takes what a busy machine
        # gives it, bounded by the bots' clean-leave timeout.
        assert await a.wait(drain + SHUTDOWN_TIMEOUT) == 0
        log = a.text()
        waited = logged_at(log, "handing back 2 job(s)") - logged_at(log, "worker a draining")
        assert drain - 0.01 <= waited <= drain + 0.5, waited
        assert "1 finished, 2 handed back, 0 lost" in log
        done = await svc.get(short)
        assert (done["state"], done["attempts"]) == ("left", 1)
        # B takes them at once: they were released cleanly, no lease or token to wait out.
        bots = await svc.wait_states(long, {"in_call"}, timeout=5, worker="b")
        assert all(bot["resumes"] == 1 for bot in bots)
        assert max(svc.roster.most.values()) == 1
        for bot in bots:
            status, _ = await svc.leave(bot["id"])
            assert status == 202
        bots = await svc.wait_states(long, {"left"}, timeout=15)
        for bot in bots:
            assert bot["detail"] == "Stopped by API request"
            folder = Path(bot["artifacts"][0]["path"])
            # From the signal on, the hand back is the recording's only gap. (Before it, a
            # busy machine may starve the calls: worker b's start-up competes for the CPU.)
            gaps = [x for x in _timeline(folder) if x["type"] == "gap"]
            gaps = [g for g in gaps if _wall(g, g["end"]) >= signalled]
            assert [g["kind"] for g in gaps] == ["resume"], gaps
            assert gaps[0]["end"] - gaps[0]["start"] <= 4.0
            assert (folder / "recording-001.webm").exists()
        b.signal(signal.SIGTERM)
        assert await b.wait(30) == 0


async def test_stop_commands_reach_the_right_worker_in_under_a_second(tmp_path: Path) -> None:
    async with service(tmp_path, rooms=4) as svc:
        # 40 s leases: heartbeats 10 s apart, so only the pub/sub stop can be this fast.
        a = await svc.worker("a", 2, "--lease-seconds", "40")
        on_a = await _create_all(svc, range(2), seconds=120)
        await svc.wait_states(on_a, {"in_call"}, timeout=30, worker="a")
        b = await svc.worker("b", 2, "--lease-seconds", "40")
        on_b = await _create_all(svc, range(2, 4), seconds=120)
        await svc.wait_states(on_b, {"in_call"}, timeout=30, worker="b")
        for target, other in ((on_a[0], on_a[1]), (on_b[0], on_b[1])):
            name = (await svc.get(target))["request"]["meeting"]["display_name"]
            asked = time.time()
            status, reply = await svc.leave(target)
            assert status == 202 and reply["leave_requested"]
            while svc.roster.present(name):
                assert time.time() - asked < 3.0, f"{name} still in the meeting"
                await asyncio.sleep(0.02)
            gone = time.time()
            bot = (await svc.wait_states([target], {"left"}, timeout=10))[0]
            assert _iso(bot["timings"]["stop_received_at"]) - asked < 1.0
            assert gone - asked < 2.0
            assert bot["detail"] == "Stopped by API request"
            assert (await svc.get(other))["state"] == "in_call"
        for proc in (a, b):
            proc.signal(signal.SIGTERM)
