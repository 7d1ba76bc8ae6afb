"""`bench_node_fanout`: the local node with 10, 20 and 40 recording bots (audio + 640x480
video), one talker (tone + test pattern) shown to all of them: frames lost per bot and the
node's CPU.

The node (`python -m agent.cli node`, 640x480 at 15 fps) encodes the talker's picture once
and fans the packets out; the recording bots run in processes of at most `PER_PROCESS`
(`python -m bench.node_fanout bots ...`), all measured over the same window: the parent
says `MEASURE` to every bot process at once and reads the node's CPU over that window. A
bot lost frames when its taps saw fewer than the node sends (audio 50/s, video at the
node's rate, within one frame), when RTP packets were lost, or when its recorder dropped
any.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench._proc import cpu_seconds, rss_mb, stop_process
from bench.recorder_bots import (
    _machine_busy,
    _rtp_lost,
    _tap_frames,
    all_in_call,
    start_recording_bots,
)

STEPS = (10, 20, 40)
PER_PROCESS = 10
NODE_FPS = 15.0
AUDIO_PPS = 50.0
WARMUP = 3.0  # s after every bot is in the call
WINDOW = 8.0  # s measured
TOLERANCE = 1  # frames per kind and bot: the window's edges
REPO = Path(__file__).resolve().parents[1]


# -- one bot process ---------------------------------------------------------------------


async def _child(base_url: str, n: int, first: int, folder: str) -> None:
    bots, recorders, tasks = start_recording_bots(base_url, range(first, first + n), folder, "b{}")
    if not await all_in_call(bots, tasks, 60):
        print("RESULT " + json.dumps({"error": "not every bot got into the call"}))
        return
    print("READY", flush=True)
    loop = asyncio.get_running_loop()
    line = await loop.run_in_executor(None, sys.stdin.readline)
    seconds = float(line.split()[1])
    frames0 = [_tap_frames(b) for b in bots]
    lost0 = [await _rtp_lost(b) for b in bots]
    c0, w0 = time.process_time(), time.monotonic()
    await asyncio.sleep(seconds)
    wall = time.monotonic() - w0
    cpu = (time.process_time() - c0) / wall
    frames1 = [_tap_frames(b) for b in bots]
    lost1 = [await _rtp_lost(b) for b in bots]
    rss = rss_mb()
    for b in bots:
        b.request_leave()
    await asyncio.gather(*tasks, return_exceptions=True)
    per_bot = []
    for b, rec, f0, f1, l0, l1 in zip(bots, recorders, frames0, frames1, lost0, lost1, strict=True):
        summary = rec.summary or {}
        stats = b.plugins.stats().get(rec.name)
        per_bot.append(
            {
                "audio": f1.get("audio", 0) - f0.get("audio", 0),
                "video": f1.get("video", 0) - f0.get("video", 0),
                "rtp_lost": l1 - l0,
                "dropped": (stats.dropped_media if stats is not None else 0)
                + summary.get("dropped_backlog", 0),
            }
        )
    print("RESULT " + json.dumps({"cpu": cpu, "wall": wall, "rss": rss, "bots": per_bot}))


# -- the parent ----------------------------------------------------------------------------


@dataclass
class Step:
    n: int
    lost: list[int]  # per bot
    node_cpu: float  # share of one core
    talker_cpu: float
    bots_cpu: float  # all bot processes together
    machine: float  # share of all cores
    error: str = ""


def _lost(bot: dict[str, Any], wall: float) -> int:
    missing = 0
    for kind, rate in (("audio", AUDIO_PPS), ("video", NODE_FPS)):
        short = rate * wall - bot[kind]
        if short > TOLERANCE:
            missing += math.ceil(short)
    return missing + max(0, int(bot["rtp_lost"])) + int(bot["dropped"])


async def _step(base_url: str, n: int, pids: dict[str, int], folder: Path) -> Step:
    procs = []
    for first in range(0, n, PER_PROCESS):
        count = min(PER_PROCESS, n - first)
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bench.node_fanout", "bots", base_url, str(count),
            str(first), str(folder),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
            cwd=REPO,
        )  # fmt: skip
        procs.append(proc)
    results: list[dict[str, Any]] = []
    try:
        for proc in procs:
            assert proc.stdout is not None
            async with asyncio.timeout(90):
                line = (await proc.stdout.readline()).decode().strip()
            if line != "READY":
                return Step(n, [], 0, 0, 0, 0, error=line or "a bot process ended early")
        await asyncio.sleep(WARMUP)
        cpus = {name: cpu_seconds(pid) for name, pid in pids.items()}
        bots0 = sum(cpu_seconds(p.pid) for p in procs)
        busy0, t0 = _machine_busy(), time.monotonic()
        for proc in procs:
            assert proc.stdin is not None
            proc.stdin.write(f"MEASURE {WINDOW}\n".encode())
            await proc.stdin.drain()
        await asyncio.sleep(WINDOW)
        wall = time.monotonic() - t0
        after = {name: cpu_seconds(pid) for name, pid in pids.items()}
        bots1 = sum(cpu_seconds(p.pid) for p in procs)
        busy1 = _machine_busy()
        for proc in procs:
            assert proc.stdout is not None
            async with asyncio.timeout(60):
                async for raw in proc.stdout:
                    text = raw.decode().strip()
                    if text.startswith("RESULT "):
                        results.append(json.loads(text[7:]))
                        break
    finally:
        for proc in procs:
            if proc.returncode is None:
                try:
                    await asyncio.wait_for(proc.wait(), 30)
                except TimeoutError:
                    proc.kill()
                    await proc.wait()
    errors = [r["error"] for r in results if "error" in r]
    if errors or len(results) != len(procs):
        return Step(n, [], 0, 0, 0, 0, error="; ".join(errors) or "missing results")
    lost = [_lost(b, r["wall"]) for r in results for b in r["bots"]]
    return Step(
        n,
        lost,
        node_cpu=(after["node"] - cpus["node"]) / wall,
        talker_cpu=(after["talker"] - cpus["talker"]) / wall,
        bots_cpu=(bots1 - bots0) / wall,
        machine=(busy1[0] - busy0[0]) / max(busy1[1] - busy0[1], 1),
    )


async def _run(tmp: Path) -> list[Step]:
    node_toml = tmp / "node.toml"
    node_toml.write_text(
        f"[media]\nvideo_width = 640\nvideo_height = 480\nvideo_fps = {NODE_FPS}\n"
    )
    node = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "agent.cli", "node", "--config", str(node_toml), "--port", "0",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
        cwd=REPO,
    )  # fmt: skip
    talker: asyncio.subprocess.Process | None = None
    steps = []
    try:
        assert node.stdout is not None
        base_url = (await asyncio.wait_for(node.stdout.readline(), 20)).decode().strip()
        talker = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "agent.cli", "run", "--node", base_url, "--alias", "meet",
            "--name", "Talker", "--audio", "tone:440", "--video", "pattern:640x480@30",
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
            cwd=REPO,
        )  # fmt: skip
        await asyncio.sleep(3.0)
        pids = {"node": node.pid, "talker": talker.pid}
        for n in STEPS:
            step = await _step(base_url, n, pids, tmp / f"n{n}")
            steps.append(step)
            if step.error:
                print(f"  {n:3d} recording bots: {step.error}", flush=True)
                continue
            worst = max(step.lost)
            print(
                f"  {n:3d} recording bots: frames lost per bot max {worst}, total "
                f"{sum(step.lost)} ({sum(1 for x in step.lost if x)} bots lost any); node "
                f"{step.node_cpu:6.1%} of a core, bot processes {step.bots_cpu:6.1%}, talker "
                f"{step.talker_cpu:5.1%}, machine {step.machine:5.1%} busy",
                flush=True,
            )
    finally:
        for proc in (talker, node):
            if proc is not None:
                await stop_process(proc, 10)
    return steps


def bench_node_fanout() -> bool:
    with tempfile.TemporaryDirectory(prefix="bench-node-fanout-") as tmp:
        print(
            f"  node 640x480 at {NODE_FPS:g} fps, one talker (tone + 640x480@30 pattern); "
            f"bots in processes of {PER_PROCESS}; {WINDOW:g} s measured after {WARMUP:g} s "
            f"({os.cpu_count()} cores). Target: 40 bots, no frame lost"
        )
        steps = asyncio.run(_run(Path(tmp)))
    last = next((s for s in steps if s.n == 40), None)
    return last is not None and not last.error and max(last.lost) == 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["bots"]:
        url, count, first, out = sys.argv[2:6]
        asyncio.run(_child(url, int(count), int(first), out))
        sys.exit(0)
    sys.exit(0 if bench_node_fanout() else 1)
