"""`bench_node_join`: does a mass join stall the local node's media for those already in?

The node runs as its own process (`python -m agent.cli node`, default media). K listeners
(aiortc peers sending a tone, receiving without decoding) join and run in a child process
of their own (`python -m bench.node_join listen URL K`), so the joins below cost that
process nothing; it stamps every received Opus packet with the system-wide monotonic clock.
The node sends each listener 20 ms of audio every 20 ms, so the largest inter-arrival gap
at the listeners is the node's worst event-loop stall as the media shows it. After a
warm-up, a window with no joins is measured, then N participants (each an aiortc peer with
audio and video, as a bot) join at once from this process and a window of the same length
from the first request is measured. The figure is the ratio of the two worst gaps, in the
same run. Everything stays on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import sys
import time

import aiohttp

from agent.media.sources import ToneSource
from agent.media.tap import EncodedFrame
from bench._participant import NodeParticipant
from bench._proc import REPO, node_process, stop_process

K = 5  # in call, listening
N = 10  # joining at once
WARMUP = 3.0  # s after the listeners are in
WINDOW = 6.0  # s measured, without and with the mass join
# A join may cost the node some work, but not a freeze everybody hears: the worst gap
# during the mass join within 3x the worst gap of a quiet window (both on a loaded machine).
TARGET_RATIO = 3.0


def _participant(http: aiohttp.ClientSession, api: str, name: str, tone: bool) -> NodeParticipant:
    audio = ToneSource(300 + 50 * len(name)) if tone else None
    return NodeParticipant(http, api, name, audio=audio)


# -- the listeners' process --------------------------------------------------------------


async def _listen(api: str, k: int) -> None:
    async with aiohttp.ClientSession() as http:
        people = [_participant(http, api, f"listener {i}", tone=True) for i in range(k)]
        arrivals: list[list[float]] = [[] for _ in people]
        await asyncio.gather(*(p.join() for p in people))
        for p, stamps in zip(people, arrivals, strict=True):

            def stamp(frame: EncodedFrame, stamps: list[float] = stamps) -> None:
                stamps.append(time.monotonic())

            p.peer.tap("audio").subscribe(stamp)
        print("READY", flush=True)
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, sys.stdin.readline)
        print("RESULT " + json.dumps(arrivals), flush=True)
        await asyncio.gather(*(p.leave() for p in people), return_exceptions=True)


# -- the benchmark -----------------------------------------------------------------------


def _worst_gap(arrivals: list[list[float]], start: float, end: float) -> float:
    """The largest gap (s) between consecutive audio packets inside [start, end], any
    listener (a gap counts where its later packet falls in the window)."""
    worst = 0.0
    for stamps in arrivals:
        for before, after in itertools.pairwise(stamps):
            if start < after <= end:
                worst = max(worst, after - before)
    return worst


async def _run() -> dict[str, float]:
    async with node_process() as (_node, base), aiohttp.ClientSession() as http:
        api = f"{base}/api/client/v2/conferences/meet"
        child = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bench.node_join", "listen", api, str(K),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            cwd=REPO,
        )  # fmt: skip
        assert child.stdin is not None and child.stdout is not None
        joiners: list[NodeParticipant] = []
        try:
            line = await asyncio.wait_for(child.stdout.readline(), 60)
            if line.strip() != b"READY":
                raise RuntimeError(f"listeners did not get in: {line!r}")
            await asyncio.sleep(WARMUP)
            quiet0 = time.monotonic()
            await asyncio.sleep(WINDOW)
            join0 = time.monotonic()
            joiners = [_participant(http, api, f"joiner {i}", tone=False) for i in range(N)]
            await asyncio.gather(*(p.join() for p in joiners))
            joined = time.monotonic() - join0
            await asyncio.sleep(max(0.0, join0 + WINDOW - time.monotonic()))
            child.stdin.write(b"END\n")
            await child.stdin.drain()
            result = await asyncio.wait_for(child.stdout.readline(), 30)
            arrivals = json.loads(result.decode().removeprefix("RESULT "))
        finally:
            await asyncio.gather(*(p.leave() for p in joiners), return_exceptions=True)
            await stop_process(child)
        return {
            "quiet": _worst_gap(arrivals, quiet0, quiet0 + WINDOW),
            "join": _worst_gap(arrivals, join0, join0 + WINDOW),
            "joined": joined,
            "packets": min(len(a) for a in arrivals),
        }


def bench_node_join() -> bool:
    r = asyncio.run(_run())
    ratio = r["join"] / r["quiet"] if r["quiet"] > 0 else float("nan")
    print(f"  {K} in call, {N} join at once: all in after {r['joined']:.2f} s")
    print(
        f"  worst audio gap at the {K} listeners (node sends every 20 ms):"
        f" quiet {1000 * r['quiet']:.0f} ms, mass join {1000 * r['join']:.0f} ms"
        f" ({ratio:.1f}x)"
    )
    ok = ratio <= TARGET_RATIO
    print(f"  target: mass join <= {TARGET_RATIO:.0f}x quiet: {'ok' if ok else 'MISSED'}")
    return ok


if __name__ == "__main__":
    if sys.argv[1:2] == ["listen"]:
        asyncio.run(_listen(sys.argv[2], int(sys.argv[3])))
    else:
        print(bench_node_join())
