"""`bench_senders`: 20 sending bots (tone + 640x480@30 test pattern, sent without encoding)
in one process against the local node: is every frame handed to aiortc on time, and what
does the process cost? Lateness is each track's own `Pacer` figure (how long after its due
time a frame went out); the node runs in its own process.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from typing import Any

from agent.config import parse_config
from agent.runtime.bot import Bot
from agent.runtime.states import BotState
from bench._proc import cpu_seconds, node_process, rss_mb

BOTS = 20
WARMUP = 3.0
WINDOW = 10.0


def _tracks(bot: Bot) -> list[Any]:
    peer = bot.call.peer if bot.call is not None else None
    return [s.track for s in peer.pc.getSenders() if s.track is not None] if peer else []


async def _run(node_url: str) -> tuple[float, float, float, int, int, float]:
    bots = [
        Bot(
            parse_config(
                {
                    "node": node_url,
                    "alias": "meet",
                    "display_name": f"sender {i}",
                    "media": {
                        "audio": "tone:440",
                        "video": "pattern:640x480@30",
                        "receive_audio": False,
                        "receive_video": False,
                        "ice_host_addresses": ["127.0.0.1"],
                    },
                    "leave": {"alone_seconds": None},
                }
            )
        )
        for i in range(BOTS)
    ]
    tasks = [asyncio.create_task(b.run()) for b in bots]
    try:
        async with asyncio.timeout(60):
            while not all(b.state.state == BotState.IN_CALL for b in bots):  # noqa: ASYNC110
                await asyncio.sleep(0.1)
        await asyncio.sleep(WARMUP)
        tracks = [t for b in bots for t in _tracks(b)]
        start = {id(t): (t.pacer.late, t.frames_sent) for t in tracks}
        for t in tracks:
            t.pacer.worst_late = 0.0
        c0, w0 = time.process_time(), time.monotonic()
        await asyncio.sleep(WINDOW)
        wall = time.monotonic() - w0
        cpu = (time.process_time() - c0) / wall
        late = sum(t.pacer.late - start[id(t)][0] for t in tracks)
        sent = sum(t.frames_sent - start[id(t)][1] for t in tracks)
        worst = max(t.pacer.worst_late for t in tracks)
        return cpu, rss_mb(), worst, late, sent, wall
    finally:
        for b in bots:
            b.request_leave()
        await asyncio.gather(*tasks, return_exceptions=True)


async def _main() -> tuple[float, float, float, int, int, float, float]:
    with tempfile.TemporaryDirectory():
        async with node_process() as (node, url):
            n0 = cpu_seconds(node.pid)
            t0 = time.monotonic()
            result = await _run(url)
            node_cpu = (cpu_seconds(node.pid) - n0) / (time.monotonic() - t0)
    return (*result, node_cpu)


def bench_senders() -> bool:
    cpu, rss, worst, late, sent, wall, node_cpu = asyncio.run(_main())
    expected = BOTS * (50 + 30) * wall
    print(
        f"  {BOTS} bots sending tone + 640x480@30 pattern in one process: {cpu:.1%} of a "
        f"core ({cpu / BOTS:.2%} per bot), RSS {rss:.0f} MB; {sent} frames handed out in "
        f"{wall:.1f} s ({sent / expected:.1%} of {expected:.0f}), {late} later than a "
        f"frame period, worst {worst * 1000:.0f} ms late (target: none); "
        f"node {node_cpu:.0%} of a core over the run"
    )
    return late == 0 and sent >= 0.99 * expected


if __name__ == "__main__":
    sys.exit(0 if bench_senders() else 1)
