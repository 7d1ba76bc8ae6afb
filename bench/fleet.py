"""Signalling-only bots in one `pexbot fleet` process: do they all stay in, and what does
one bot cost in memory?

The node runs as its own `pexbot node` process so its memory is not counted. RSS per bot is
the difference between a 100-bot fleet and a 1-bot fleet (the baseline, same run), sampled
near the end of each run, divided by 99.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench._proc import rss_mb

REPO = Path(__file__).resolve().parents[1]
TARGET_MB_PER_BOT = 2.0
BOTS = int(os.environ.get("PEXBOT_BENCH_FLEET_BOTS", "100"))
SECONDS = float(os.environ.get("PEXBOT_BENCH_FLEET_SECONDS", "60"))


def _fleet_file(directory: Path, node: str, bots: int, seconds: float) -> Path:
    path = directory / f"fleet-{bots}.toml"
    lines = [
        "[defaults]",
        f'node = "{node}"',
        'alias = "meet"',
        "[defaults.media]",
        'audio = "none"',
        'video = "none"',
        "receive_audio = false",
        "receive_video = false",
        "[defaults.leave]",
        f"duration = {seconds}",
        "alone_seconds = 3600",
    ]
    for i in range(bots):
        lines += ["[[bots]]", f'display_name = "bot-{i:03d}"']
    path.write_text("\n".join(lines) + "\n")
    return path


def _run_fleet(path: Path, seconds: float) -> tuple[float, str, int]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "agent.cli", "fleet", str(path)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    time.sleep(max(1.0, seconds - 3.0))
    rss = rss_mb(proc.pid)
    out, _ = proc.communicate(timeout=seconds + 60)
    return rss, out, proc.returncode


def bench_fleet() -> bool:
    node = subprocess.Popen(
        [sys.executable, "-m", "agent.cli", "node", "--port", "0"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert node.stdout is not None
        url = node.stdout.readline().strip()
        with tempfile.TemporaryDirectory() as tmp:
            base_rss, _, _ = _run_fleet(_fleet_file(Path(tmp), url, 1, 10.0), 10.0)
            rss, out, code = _run_fleet(_fleet_file(Path(tmp), url, BOTS, SECONDS), SECONDS)
    finally:
        node.terminate()
        node.wait(timeout=10)
    summary = out.strip().splitlines()[-1] if out.strip() else "(no summary)"
    all_in = code == 0 and summary.startswith(f"{BOTS} of {BOTS}")
    rejoined = [line for line in out.splitlines()[1:-1] if line.split()[2:3] not in (["0"],)]
    per_bot = (rss - base_rss) / max(1, BOTS - 1)
    ok = all_in and not rejoined and per_bot <= TARGET_MB_PER_BOT
    print(f"  {BOTS} signalling-only bots for {SECONDS:.0f} s: {summary}")
    print(f"  bots that had to rejoin: {len(rejoined)}")
    print(
        f"  RSS: 1 bot {base_rss:.1f} MB, {BOTS} bots {rss:.1f} MB -> {per_bot:.2f} MB per bot "
        f"(x{rss / base_rss:.2f} of the 1-bot process; target <= {TARGET_MB_PER_BOT} MB per bot) "
        f"{'ok' if per_bot <= TARGET_MB_PER_BOT else 'MISSED'}"
    )
    return ok
