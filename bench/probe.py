"""The call-quality probe's CPU per second of call, with 640x480 video both ways.

The local node runs in its own process (`python -m agent.cli node`, a test-call service,
`[media]` 640x480 at 15 fps, so the probe gets back the size it sends). This process runs
one bot with the `probe` plugin on that test call: it sends its 640x480 15 fps test card
(a VP8 cycle encoded once before joining) and an audio marker a second (pre-encoded Opus),
decodes what comes back (audio for the markers, video for the frame counters and freezes)
in batches in one thread, samples the RTP figures every second and posts its statistics to
the node.

After a warm-up, the process's CPU time (all threads) over `SECONDS` of call, divided by
the wall time, is the probe's cost in % of one core; the target is under 5 %. For scale,
the same is measured for a plain bot on the same call that sends silence and black and
decodes nothing (what any media bot pays for the call itself).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench._proc import cpu_seconds

REPO = Path(__file__).resolve().parents[1]
SECONDS = float(os.environ.get("PEXBOT_BENCH_PROBE_SECONDS", "20"))
WARMUP = 3.0
TARGET_PERCENT = 5.0
NODE_TOML = """
[[services]]
name = "test_call"
kind = "test_call"

[media]
video_width = 640
video_height = 480
video_fps = 15
"""


def _bot_config(url: str, probe: bool, folder: str) -> Any:
    from agent.config import parse_config

    plugins = []
    if probe:
        plugins = [
            {
                "name": "probe",
                "config": {
                    "output_dir": folder,
                    "duration": WARMUP + SECONDS + 30,  # the bench ends it first
                    "video": "640x480@15",
                    "sla": {"min_class": None, "min_mos": None, "max_latency_ms": None},
                },
            }
        ]
    return parse_config(
        {
            "node": url,
            "alias": "test_call",
            "display_name": "bench probe" if probe else "bench plain",
            "media": {"audio": "silence", "video": "black", "ice_host_addresses": ["127.0.0.1"]},
            "plugins": plugins,
        }
    )


async def _measure(url: str, probe: bool) -> dict[str, float]:
    from agent.runtime.bot import Bot
    from agent.runtime.launch import build_plugins
    from agent.runtime.states import BotState

    with tempfile.TemporaryDirectory() as folder:
        config = _bot_config(url, probe, folder)
        bot = Bot(config, build_plugins(config))
        task = asyncio.create_task(bot.run())
        deadline = time.monotonic() + 30
        while bot.state.state != BotState.IN_CALL:
            if task.done() or time.monotonic() > deadline:
                raise RuntimeError(f"the bot did not get into the call: {bot.state.state}")
            await asyncio.sleep(0.1)
        await asyncio.sleep(WARMUP)
        cpu0, wall0 = cpu_seconds(), time.monotonic()
        frames0 = _frames(bot)
        await asyncio.sleep(SECONDS)
        cpu1, wall1 = cpu_seconds(), time.monotonic()
        frames1 = _frames(bot)
        bot.request_leave("bench done")
        await task
        wall = wall1 - wall0
        return {
            "percent": 100.0 * (cpu1 - cpu0) / wall,
            "video_fps": (frames1[1] - frames0[1]) / wall,
            "audio_fps": (frames1[0] - frames0[0]) / wall,
        }


def _frames(bot: Any) -> tuple[int, int]:
    call = bot.call
    if call is None or call.peer is None:
        return 0, 0
    taps = call.peer.taps
    return taps["audio"].frames, taps["video"].frames


def _measure_in_fresh_process(url: str, probe: bool) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, "-m", "bench.probe", "measure", url, "probe" if probe else "plain"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=SECONDS + 120,
        check=False,
    )
    if out.returncode != 0:
        raise RuntimeError(f"measuring failed: {out.stderr[-2000:]}")
    values = dict(item.split("=") for item in out.stdout.split())
    return {k: float(v) for k, v in values.items()}


def bench_probe() -> bool:
    with tempfile.TemporaryDirectory() as folder:
        config = Path(folder) / "node.toml"
        config.write_text(NODE_TOML)
        node = subprocess.Popen(
            [sys.executable, "-m", "agent.cli", "node", "--config", str(config)],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        try:
            assert node.stdout is not None
            url = node.stdout.readline().strip()
            plain = _measure_in_fresh_process(url, probe=False)
            probe = _measure_in_fresh_process(url, probe=True)
        finally:
            node.terminate()
            node.wait(10)
    ok = probe["percent"] < TARGET_PERCENT
    print(
        f"  probe on a test call, 640x480 15 fps both ways: {probe['percent']:.1f} % of a core "
        f"(target < {TARGET_PERCENT:g} %) {'ok' if ok else 'MISSED'}"
    )
    print(
        f"    received {probe['video_fps']:.1f} video / {probe['audio_fps']:.1f} audio frames "
        f"a second over {SECONDS:g} s"
    )
    print(
        f"  for scale, a plain bot on the same call (silence + black, no decoding): "
        f"{plain['percent']:.1f} % of a core; the probe's own share: "
        f"{probe['percent'] - plain['percent']:.1f} %"
    )
    return ok


def main(argv: list[str]) -> int:
    if len(argv) == 3 and argv[0] == "measure":
        figures = asyncio.run(_measure(argv[1], argv[2] == "probe"))
        print(" ".join(f"{k}={v}" for k, v in figures.items()))
        return 0
    return 0 if bench_probe() else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
