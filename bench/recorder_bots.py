"""`bench_recorder_bots`: how many real recording bots (audio + 640x480 video, received from
the node over WebRTC on 127.0.0.1) one process sustains with no frame loss. Three kinds of
process: the local node (`python -m agent.cli node`, video re-encoded at 640x480 for every
receiver), one talker bot (`python -m agent.cli run`: tone + test pattern), and, per step,
a fresh measured process (`python -m bench.recorder_bots bots ...`) running N `Bot`s with the
`Recorder` plugin. N steps up until a recorder loses frames or a CPU saturates.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent.config import parse_config
from agent.media.tap import EncodedFrame
from agent.runtime.bot import Bot
from agent.runtime.states import BotState
from bench._proc import cpu_seconds, rss_mb, stop_process
from plugins.recorder import Recorder, RecorderConfig

MEDIA_SECONDS = 15
FPS = 30
RATIO_TARGET = 0.10
PACED_BOTS = 12
PACED_SECONDS = 8.0


# -- recording bots on the local node -------------------------------------------------------

BOT_STEPS = (1, 4, 8, 12, 16, 20, 24, 32)
BOT_WARMUP = 2.0  # joined -> measuring: the recorders open their files at a keyframe
BOT_SECONDS = 6.0  # measured; each recorder records about WARMUP + SECONDS
BOT_TIME_BUDGET = 90.0  # no new step after this many seconds
NODE_FPS = 15.0  # the node's default video_fps (what each recorder should receive)
AUDIO_PPS = 50.0  # 20 ms Opus packets
#: A recorder whose tap saw less than this share of the expected rate has lost frames.
RATE_FLOOR = 0.97  # 50/s audio: 48.5; a 6 s window is exact to +-1 frame
#: A process at this share of one core (the GIL) or the machine at this share of all its
#: cores is saturated.
CORE_SATURATED = 0.90
MACHINE_SATURATED = 0.95
#: Cores used by processes outside the benchmark above which the run is flagged as noisy.
OTHERS_NOISE = 0.25
REPO = Path(__file__).resolve().parents[1]


def _machine_busy() -> tuple[float, float]:
    """(busy, total) jiffies of all CPUs since boot."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return sum(values) - idle, sum(values)


class _CountingRecorder(Recorder):
    """Also counts the encoded frames that reached the plugin (after the host's queue)."""

    handled = 0

    async def handle(self, item: object) -> None:
        if isinstance(item, EncodedFrame):
            self.handled += 1
        await super().handle(item)


async def _rtp_lost(bot: Any) -> int:
    lost = 0
    for tap in bot.call.peer.taps.values():
        report = await tap.receiver.getStats()
        lost += sum(s.packetsLost for s in report.values() if s.type == "inbound-rtp")
    return lost


def _tap_frames(bot: Any) -> dict[str, int]:
    taps = bot.call.peer.taps if bot.call is not None and bot.call.peer is not None else {}
    return {kind: tap.frames for kind, tap in taps.items()}


def start_recording_bots(
    base_url: str, numbers: Iterable[int], folder: str, session: str
) -> tuple[list[Bot], list[_CountingRecorder], list[asyncio.Task[Any]]]:
    """Receive-only recording bots in `meet` (loopback ICE), each recording into
    `folder/<session.format(i)>`, already running."""
    bots: list[Bot] = []
    recorders: list[_CountingRecorder] = []
    for i in numbers:
        rec = _CountingRecorder(
            None, RecorderConfig(output_dir=folder, session_folder=session.format(i))
        )
        config = parse_config(
            {
                "node": base_url,
                "alias": "meet",
                "display_name": f"recorder {i}",
                "media": {
                    "audio": "none",
                    "video": "none",
                    "receive_audio": True,
                    "receive_video": True,
                    "ice_host_addresses": ["127.0.0.1"],
                },
                "leave": {"alone_seconds": None},
            }
        )
        bots.append(Bot(config, [rec]))
        recorders.append(rec)
    return bots, recorders, [asyncio.create_task(b.run()) for b in bots]


async def all_in_call(bots: list[Bot], tasks: list[asyncio.Task[Any]], timeout: float) -> bool:
    """Wait until every bot has media in the call; False (every bot made to leave and
    ended) when one ended or `timeout` s passed first."""
    deadline = time.monotonic() + timeout
    while not all(b.state.state == BotState.IN_CALL and b.call is not None for b in bots):
        if time.monotonic() > deadline or any(t.done() for t in tasks):
            for b in bots:
                b.request_leave()
            await asyncio.gather(*tasks, return_exceptions=True)
            return False
        await asyncio.sleep(0.1)
    return True


async def _bots_child(base_url: str, n: int, folder: str) -> dict[str, Any]:
    """The measured process: N recording bots; prints MEASURE/MEASURED marks for the parent."""
    rss0 = rss_mb()
    bots, recorders, tasks = start_recording_bots(base_url, range(n), folder, "bot{:02d}")
    if not await all_in_call(bots, tasks, 30):
        return {"error": "not every bot got into the call"}
    await asyncio.sleep(BOT_WARMUP)
    frames0 = [_tap_frames(b) for b in bots]
    lost0 = [await _rtp_lost(b) for b in bots]
    print("MEASURE", flush=True)
    c0, w0 = time.process_time(), time.monotonic()
    await asyncio.sleep(BOT_SECONDS)
    wall = time.monotonic() - w0
    cpu = (time.process_time() - c0) / wall
    print("MEASURED", flush=True)
    rss = rss_mb()
    frames1 = [_tap_frames(b) for b in bots]
    lost1 = [await _rtp_lost(b) for b in bots]
    for b in bots:
        b.request_leave()
    await asyncio.gather(*tasks, return_exceptions=True)
    per_bot = []
    for b, rec, f0, f1, l0, l1 in zip(bots, recorders, frames0, frames1, lost0, lost1, strict=True):
        summary = rec.summary or {}
        stats = b.plugins.stats().get(rec.name)
        written = sum(summary.get("frames", {}).values())
        per_bot.append(
            {
                "audio_fps": (f1.get("audio", 0) - f0.get("audio", 0)) / wall,
                "video_fps": (f1.get("video", 0) - f0.get("video", 0)) / wall,
                "rtp_lost": l1 - l0,
                "queue_dropped": stats.dropped_media if stats is not None else -1,
                "handled": rec.handled,
                "written": written,
                "before_keyframe": summary.get("dropped_before_keyframe", 0),
                "backlog_dropped": summary.get("dropped_backlog", 0),
                "error": summary.get("error"),
            }
        )
    return {"cpu": cpu, "rss0": rss0, "rss": rss, "wall": wall, "bots": per_bot}


def _bots_main(argv: list[str]) -> int:
    base_url, n, folder = argv[0], int(argv[1]), argv[2]
    result = asyncio.run(_bots_child(base_url, n, folder))
    print("RESULT " + json.dumps(result), flush=True)
    return 0


@dataclass
class _Step:
    n: int
    cpu: float  # measured process, share of one core
    rss_per_bot: float  # MB
    node_cpu: float  # share of one core
    talker_cpu: float
    machine: float  # share of all cores
    others: float  # cores used by processes outside the benchmark
    audio_fps: float  # lowest per recorder
    video_fps: float
    lost: int  # frames lost anywhere between the node and the file (see `_losses`)
    note: str = ""


def _losses(bots: list[dict[str, Any]]) -> tuple[int, list[str]]:
    lost, why = 0, set()
    for b in bots:
        if b["rtp_lost"]:
            lost += b["rtp_lost"]
            why.add("RTP packets lost")
        if b["queue_dropped"]:
            lost += b["queue_dropped"]
            why.add("plugin queue drops")
        if b["backlog_dropped"]:
            lost += b["backlog_dropped"]
            why.add("writer backlog drops")
        # Every frame the plugin got is written, or dropped waiting for the first keyframe.
        unwritten = b["handled"] - b["written"] - b["before_keyframe"]
        if unwritten > 0:
            lost += unwritten
            why.add("frames not written")
        if b["error"]:
            why.add(f"storage error: {b['error']}")
        for kind, expected in (("audio", AUDIO_PPS), ("video", NODE_FPS)):
            if b[f"{kind}_fps"] < RATE_FLOOR * expected:
                lost += round((expected - b[f"{kind}_fps"]) * BOT_SECONDS)
                why.add(f"{kind} below {RATE_FLOOR:.0%} of {expected:g}/s")
    return lost, sorted(why)


async def _bots_step(base_url: str, n: int, pids: dict[str, int], folder: str) -> _Step:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.recorder_bots", "bots", base_url, str(n), folder,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
        cwd=REPO,
    )  # fmt: skip
    assert proc.stdout is not None
    marks: dict[str, tuple[dict[str, float], tuple[float, float], float]] = {}
    result: dict[str, Any] = {"error": "the measured process ended without a result"}
    async with asyncio.timeout(90):
        async for raw in proc.stdout:
            line = raw.decode().strip()
            if line in ("MEASURE", "MEASURED"):
                cpus = {name: cpu_seconds(pid) for name, pid in pids.items()}
                marks[line] = (cpus, _machine_busy(), time.monotonic())
            elif line.startswith("RESULT "):
                result = json.loads(line[7:])
        await proc.wait()
    if "error" in result or len(marks) < 2:
        return _Step(n, 0, 0, 0, 0, 0, 0, 0, 0, -1, str(result.get("error")))
    (cpu0, busy0, t0), (cpu1, busy1, t1) = marks["MEASURE"], marks["MEASURED"]
    lost, why = _losses(result["bots"])
    node_cpu = (cpu1["node"] - cpu0["node"]) / (t1 - t0)
    talker_cpu = (cpu1["talker"] - cpu0["talker"]) / (t1 - t0)
    machine = (busy1[0] - busy0[0]) / max(busy1[1] - busy0[1], 1)
    others = machine * (os.cpu_count() or 1) - result["cpu"] - node_cpu - talker_cpu
    return _Step(
        n,
        cpu=result["cpu"],
        rss_per_bot=(result["rss"] - result["rss0"]) / n,
        node_cpu=node_cpu,
        talker_cpu=talker_cpu,
        machine=machine,
        others=max(others, 0.0),
        audio_fps=min(b["audio_fps"] for b in result["bots"]),
        video_fps=min(b["video_fps"] for b in result["bots"]),
        lost=lost,
        note="; ".join(why),
    )


def _saturated(step: _Step) -> str:
    if step.cpu >= CORE_SATURATED:
        return "the recorders' process"
    if step.node_cpu >= CORE_SATURATED * (os.cpu_count() or 1):
        return "the node"
    if step.machine >= MACHINE_SATURATED:
        return "the machine"
    return ""


async def _bots_run(tmp: Path) -> list[_Step]:
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
    steps: list[_Step] = []
    try:
        assert node.stdout is not None
        base_url = (await asyncio.wait_for(node.stdout.readline(), 20)).decode().strip()
        talker_toml = tmp / "talker.toml"
        talker_toml.write_text(
            f'node = "{base_url}"\nalias = "meet"\ndisplay_name = "Talker"\n'
            '[media]\naudio = "tone:440"\nvideo = "pattern"\n'
            'receive_audio = false\nreceive_video = false\nice_host_addresses = ["127.0.0.1"]\n'
            "[leave]\nalone_seconds = 600\n"
        )
        talker = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "agent.cli", "run", str(talker_toml),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
            cwd=REPO,
        )  # fmt: skip
        await asyncio.sleep(3.0)  # the talker joins and its media flows
        pids = {"node": node.pid, "talker": talker.pid}
        t0 = time.monotonic()
        for n in BOT_STEPS:
            if time.monotonic() - t0 > BOT_TIME_BUDGET:
                print(f"  (time budget spent: no step with {n} bots)")
                break
            step = await _bots_step(base_url, n, pids, str(tmp / f"n{n}"))
            steps.append(step)
            print(
                f"  {n:3d} recorders: process {step.cpu:6.1%} of a core "
                f"({step.cpu / n:5.1%} per bot), +{step.rss_per_bot:5.1f} MB RSS per bot; "
                f"node {step.node_cpu:6.1%}, talker {step.talker_cpu:5.1%}, machine "
                f"{step.machine:5.1%} (others {step.others:5.1%}); lowest rate "
                f"{step.audio_fps:4.1f} audio/{step.video_fps:4.1f} video fps; lost {step.lost}"
                + (f" ({step.note})" if step.note else ""),
                flush=True,
            )
            if step.lost != 0 or _saturated(step):
                break
    finally:
        for proc in (talker, node):
            if proc is not None:
                await stop_process(proc, 10)
    return steps


def bench_recorder_bots() -> bool:
    with tempfile.TemporaryDirectory(prefix="bench-recorder-bots-") as tmp:
        print(
            f"  node: 640x480 VP8 at {NODE_FPS:g} fps re-encoded per receiver; one talker "
            f"(tone + test pattern); each step records {BOT_WARMUP + BOT_SECONDS:g} s, "
            f"measured over the last {BOT_SECONDS:g} s ({os.cpu_count()} cores)"
        )
        steps = asyncio.run(_bots_run(Path(tmp)))
    good = [s for s in steps if s.lost == 0]
    if not good:
        print("  no step without frame loss")
        return False
    best = max(good, key=lambda s: s.n)
    last = steps[-1]
    if last.lost != 0:
        limit = f"{last.n} recorders lose frames ({last.note})"
        if all("below" in why for why in last.note.split("; ")):
            # Nothing lost in the recorders' process: the frames never came.
            limit += (
                f": the node did not send them (node {last.node_cpu:.0%} of a core, machine "
                f"{last.machine:.0%} busy; it re-encodes the video for every receiver)"
            )
    elif (what := _saturated(last)) != "":
        limit = f"{what} saturates at {last.n} recorders"
    else:
        limit = "no limit reached within the steps"
    print(
        f"  -> one process sustains {best.n} recording bots with no frame loss "
        f"({best.cpu / best.n:.1%} of a core and {best.rss_per_bot:.1f} MB RSS per bot); "
        f"limit: {limit}"
    )
    first = steps[0]
    if best.n > first.n:
        marginal = (best.cpu - first.cpu) / (best.n - first.n)
        if marginal > 0:
            print(
                f"  marginal cost {marginal:.1%} of a core per recording bot: on its own the "
                f"process would fill one core (its GIL) at ~{int(1 / marginal)} bots"
            )
    busy = max(s.others for s in steps)
    if busy > OTHERS_NOISE:
        print(
            f"  WARNING: other processes used up to {busy:.0%} of a core during the run: "
            "the machine was not quiet, the figures understate what it sustains"
        )
    return True


if __name__ == "__main__":
    if sys.argv[1:2] == ["bots"]:
        sys.exit(_bots_main(sys.argv[2:]))
    sys.exit(f"usage: python -m bench.recorder_bots bots NODE_URL N FOLDER (got {sys.argv[1:]})")
