"""The local node's media mixer under load: CPU and RSS with 2, 5 and 10 participants.

The node runs as its own process (`python -m agent.cli node`, default media config: every
participant gets the active speaker's video re-encoded at 640x360, 15 fps, plus its own
audio mix-minus), so its CPU can be read from /proc apart from the participants'. The
participants are aiortc peers in this process, each sending a tone (its own frequency) and
a 320x240 15 fps test pattern and receiving audio and video without decoding them (the
cheapest honest client). After a warm-up, the node's CPU (process time / wall time, in %
of one core) and RSS are sampled over `SECONDS`. Everything stays on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import time

import aiohttp

from agent.media.sources import TestPatternSource, ToneSource
from bench._participant import NodeParticipant
from bench._proc import cpu_seconds, node_process, rss_mb

SIZES = (2, 5, 10)
SECONDS = 5.0
WARMUP = 1.5
# Per participant at 10: one VP8 640x360 encode + decode, one Opus encode + decode and the
# mix; about 10% of a core each is the budget.
TARGET_CPU_AT_10 = 120.0  # % of one core


def _participant(http: aiohttp.ClientSession, api: str, index: int) -> NodeParticipant:
    audio, video = ToneSource(300 + 100 * index), TestPatternSource(320, 240, fps=15)
    return NodeParticipant(http, api, f"bench {index}", audio=audio, video=video)


def _received(people: list[NodeParticipant]) -> tuple[int, int]:
    audio = sum(p.peer.tap("audio").frames for p in people)
    video = sum(p.peer.tap("video").frames for p in people)
    return audio, video


async def _audio_lost(people: list[NodeParticipant]) -> int:
    """Audio RTP packets the clients saw missing (sequence gaps): lost on the way, not
    left unsent by the node."""
    lost = 0
    for p in people:
        report = await p.peer.tap("audio").receiver.getStats()
        lost += sum(s.packetsLost for s in report.values() if s.type == "inbound-rtp")
    return lost


async def _round(http: aiohttp.ClientSession, api: str, pid: int, n: int) -> dict[str, float]:
    people = [_participant(http, api, i) for i in range(n)]
    try:
        await asyncio.gather(*(p.join() for p in people))
        await asyncio.sleep(WARMUP)
        frames0, lost0 = _received(people), await _audio_lost(people)
        cpu0, own0, wall0 = cpu_seconds(pid), time.process_time(), time.monotonic()
        await asyncio.sleep(SECONDS)
        wall = time.monotonic() - wall0
        frames1, lost1 = _received(people), await _audio_lost(people)
        return {
            "cpu": 100 * (cpu_seconds(pid) - cpu0) / wall,
            "rss": rss_mb(pid),
            "clients_cpu": 100 * (time.process_time() - own0) / wall,
            # What each participant got from the node: shows whether the node keeps pace
            # (50 audio frames/s, 15 video frames/s when it does).
            "audio_fps": (frames1[0] - frames0[0]) / wall / n,
            "video_fps": (frames1[1] - frames0[1]) / wall / n,
            "audio_lost_ps": (lost1 - lost0) / wall / n,
        }
    finally:
        await asyncio.gather(*(p.leave() for p in people), return_exceptions=True)
        await asyncio.sleep(0.5)


async def _run() -> list[tuple[int, dict[str, float]]]:
    async with node_process() as (proc, base), aiohttp.ClientSession() as http:
        api = f"{base}/api/client/v2/conferences/meet"
        idle_rss = rss_mb(proc.pid)
        print(f"  node idle RSS {idle_rss:6.1f} MB")
        return [(n, await _round(http, api, proc.pid, n)) for n in SIZES]


def bench_node_media() -> bool:
    results = asyncio.run(_run())
    base_cpu = results[0][1]["cpu"]
    ok = True
    for n, r in results:
        ratio = r["cpu"] / base_cpu if base_cpu > 0 else float("nan")
        print(
            f"  node, {n:2d} participants (A+V)  CPU {r['cpu']:6.1f} % of a core"
            f"  ({ratio:4.1f}x 2)  RSS {r['rss']:6.1f} MB"
        )
        print(
            f"      each got {r['audio_fps']:4.1f} audio + {r['video_fps']:4.1f} video frames/s"
            f" (50 + 15 at full pace; audio lost in transit {r['audio_lost_ps']:.1f}/s);"
            f" the {n} clients used {r['clients_cpu']:.0f} % of a core"
        )
    cpu10 = dict(results)[10]["cpu"]
    ok = cpu10 <= TARGET_CPU_AT_10
    print(
        f"  target: node at 10 participants <= {TARGET_CPU_AT_10:.0f} % of a core:"
        f" {'ok' if ok else 'MISSED'}"
    )
    return ok
