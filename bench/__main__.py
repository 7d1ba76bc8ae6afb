"""`python -m bench [name ...] [--strict]`: run the benchmarks and print their figures.

A benchmark is a function that prints its figures (with the target next to each) and
returns whether its targets were met. Add new ones to `BENCHMARKS`. `--strict` makes a
missed target exit with status 1 (for CI on a quiet machine).
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from collections.abc import Callable

from bench import (
    bots_media,
    container,
    events,
    fleet,
    moderator,
    node_fanout,
    node_join,
    node_media,
    probe,
    recorder,
    recorder_bots,
    recorder_sync,
    senders,
    service,
    soak,
    vs_chromium,
)

Benchmark = Callable[[], bool]

BENCHMARKS: list[tuple[str, str, Benchmark]] = [
    ("events", "event stream: SSE parser + typed events", events.bench_event_pipeline),
    ("roster", "roster: 5,000-participant sync", events.bench_roster_sync),
    ("node_media", "node mixer: CPU and RSS, 2/5/10 participants", node_media.bench_node_media),
    (
        "node_join",
        "node: 10 join at once while 5 are in call, worst audio gap vs a quiet window",
        node_join.bench_node_join,
    ),
    ("recorder", "recorder: passthrough vs MediaRecorder, paced bots", recorder.bench_recorder),
    (
        "recorder_bots",
        "recorder: recording bots (audio + 640x480 video) one process sustains",
        recorder_bots.bench_recorder_bots,
    ),
    (
        "recorder_sync",
        "recorder: A/V sync and gap lengths over a simulated hour, drifting sender clock",
        recorder_sync.bench_recorder_sync,
    ),
    ("fleet", "fleet: signalling-only bots in one process", fleet.bench_fleet),
    ("bots_media", "receive-only media bots: CPU and RSS, 1 vs 10", bots_media.bench_bots_media),
    (
        "moderator",
        "moderator: rule engine per stage event (500 participants)",
        moderator.bench_moderator_engine,
    ),
    (
        "moderator_classifier",
        "moderator: speech/noise classifier CPU per second of audio",
        moderator.bench_moderator_classifier,
    ),
    (
        "vs_chromium",
        "a bot against Pexip's web SDK in headless Chromium: CPU, PSS, join time (ratios)",
        vs_chromium.bench_vs_chromium,
    ),
    (
        "senders",
        "20 sending bots (tone + 640x480@30 pattern) in one process: frames on time",
        senders.bench_senders,
    ),
    (
        "node_fanout",
        "node + recording bots at 10/20/40: frames lost per bot, node CPU",
        node_fanout.bench_node_fanout,
    ),
    (
        "container",
        "container image: build cold/warm, size, start-to-ready",
        container.bench_container,
    ),
    (
        "service",
        "service: dispatch and claim latency, 10,000 dummy jobs, one Redis, 20 workers",
        service.bench_service,
    ),
    ("probe", "call-quality probe: CPU per second of call, 640x480 video", probe.bench_probe),
    ("soak", "fault soak: 10 bots, 10 minutes of a bad day on the network", soak.bench_soak),
]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("names", nargs="*", help="benchmarks to run (default: all)")
    parser.add_argument("--strict", action="store_true", help="exit 1 if a target is missed")
    args = parser.parse_args(argv)
    known = {name for name, _, _ in BENCHMARKS}
    unknown = sorted(set(args.names) - known)
    if unknown:
        parser.error(f"unknown benchmark(s) {', '.join(unknown)}; known: {', '.join(known)}")
    selected = [b for b in BENCHMARKS if not args.names or b[0] in args.names]

    print(f"python {platform.python_version()} on {platform.machine()}")
    missed: list[str] = []
    for name, title, bench in selected:
        print(f"[{name}] {title}")
        t0 = time.perf_counter()
        if not bench():
            missed.append(name)
        print(f"  ({time.perf_counter() - t0:.1f} s)")
    if missed:
        print(f"targets missed: {', '.join(missed)}")
    else:
        print("all targets met")
    return 1 if missed and args.strict else 0


if __name__ == "__main__":
    sys.exit(main())
