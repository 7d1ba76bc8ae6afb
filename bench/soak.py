"""`bench_soak`: ten bots through ten minutes of a bad day on the network (issue 12).

A local node (`pexbot node`, its control API on) with the fault mix of the issue: 15 s
tokens, event streams dropped every 20 s, 20 % of refreshes and of event connections
answered 503, 5 % of `calls` answered 503 after a 1 s delay, refused refreshes for short
windows, six forced media losses (the node tells a bot its call is gone) and two
renegotiations (the node offers first). Ten bots as users run them: six `pexbot run`
processes (tone and test-pattern talkers, a recorder, a signalling-only watcher) and a
`pexbot fleet` of four. Each serves /metrics, scraped every second.

Printed: bots lost (target 0), rejoins, re-calls, event reconnects, retries, the recorder's
gaps against the outages injected on it, ghosts (participants the node still lists once
every bot has left; target 0). `python -m bench.soak --minutes 1 --light` runs the short version
(tests/e2e/test_soak.py runs it in `make test`); `make soak` the full one.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import re
import secrets
import shutil
import subprocess
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from bench._soak_procs import (
    ALIAS,
    Control,
    Proc,
    drain,
    free_port,
    scrape,
    start_node,
    start_pexbot,
    stop,
)

RECORDER = "Recorder"
_FLEET_ROW = re.compile(r"^(\d+:Fleet \d+)\s+(\S+)\s+\d+\s+\d+\s+(.*)$")


@dataclass(frozen=True)
class SoakPlan:
    seconds: float = 600.0
    refusal_windows: int = 6
    media_losses: int = 6
    renegotiations: int = 2
    #: Talkers send no video and the recorder records audio only (the short version).
    light: bool = False
    #: One refresh interval (token_lifetime / 3) and a little: every bot meets the refusal.
    refusal_seconds: float = 5.5
    token_lifetime: int = 15
    drop_events_every: float = 20.0
    refresh_503: float = 0.2
    events_503: float = 0.2
    calls_503: float = 0.05
    calls_503_delay: float = 1.0


def plan_for(seconds: float, *, light: bool = False) -> SoakPlan:
    """The issue's mix over `seconds`: its counts per ten minutes, scaled (at least one
    refusal window and renegotiation, two media losses: the recorder's and another's)."""
    scale = seconds / 600.0
    return SoakPlan(
        seconds=seconds,
        refusal_windows=max(1, round(6 * scale)),
        media_losses=max(2, round(6 * scale)),
        renegotiations=max(1, round(2 * scale)),
        light=light,
    )


FULL = plan_for(600.0)
SHORT = plan_for(60.0, light=True)

#: Who loses their media, in turn, and who is renegotiated.
LOSS_TARGETS = [RECORDER, "Tone A", "Fleet 0", RECORDER, "Pattern A", "Fleet 1"]
RENEGOTIATION_TARGETS = [RECORDER, "Pattern B"]


def node_toml(plan: SoakPlan, token: str) -> str:
    return f"""
token_grace = 10

[control]
enabled = true
token = "{token}"

[media]
video_width = 320
video_height = 240
video_fps = 10

[faults]
token_lifetime = {plan.token_lifetime}
drop_events_after_seconds = {plan.drop_events_every}

[faults.routes.refresh_token]
status = 503
rate = {plan.refresh_503}
result = "Service Unavailable"

[faults.routes.events]
status = 503
rate = {plan.events_503}
result = "Service Unavailable"

[faults.routes.calls]
status = 503
rate = {plan.calls_503}
delay = {plan.calls_503_delay}
delay_failures_only = true
result = "Service Unavailable"
"""


def _media(audio: str, video: str, receive_audio: bool, receive_video: bool) -> str:
    return (
        f'[media]\naudio = "{audio}"\nvideo = "{video}"\n'
        f"receive_audio = {str(receive_audio).lower()}\n"
        f"receive_video = {str(receive_video).lower()}\n"
        'ice_host_addresses = ["127.0.0.1"]\n'
    )


def bot_tomls(plan: SoakPlan, url: str, recordings: Path) -> dict[str, str]:
    """The six `pexbot run` bots (metrics port filled in at start)."""
    pattern = "none" if plan.light else "pattern:320x240@10"
    common = f'node = "{url}"\nalias = "{ALIAS}"\n[leave]\nalone_seconds = 3600\n'
    recorder_config = (
        f'output_dir = "{recordings}", session_folder = "soak", '
        f"audio_only = {str(plan.light).lower()}"
    )
    return {
        "Tone A": common + _media("tone:440", "none", True, False),
        "Tone B": common + _media("tone:660", "none", True, False),
        "Pattern A": common + _media("tone:880", pattern, True, False),
        "Pattern B": common + _media("silence", pattern, True, False),
        RECORDER: common
        + _media("none", "none", True, not plan.light)
        + f'[[plugins]]\nname = "recorder"\nconfig = {{ {recorder_config} }}\n',
        "Watcher": common + _media("none", "none", False, False),
    }


def fleet_toml(url: str) -> str:
    lines = [
        "[defaults]",
        f'node = "{url}"',
        f'alias = "{ALIAS}"',
        "[defaults.leave]",
        "alone_seconds = 3600",
        "[defaults.media]",
        'audio = "silence"',
        'video = "none"',
        "receive_audio = true",
        "receive_video = false",
        'ice_host_addresses = ["127.0.0.1"]',
    ]
    for i in range(4):
        lines += ["[[bots]]", f'display_name = "Fleet {i}"']
    return "\n".join(lines) + "\n"


def schedule(plan: SoakPlan) -> list[tuple[float, str, str]]:
    """(seconds after the start, what, whom): spread over 10 %..85 % of the run, so the
    last part is quiet but for the standing faults (the counters settle before the end)."""
    lo, hi = 0.10 * plan.seconds, 0.85 * plan.seconds
    out: list[tuple[float, str, str]] = []

    def spread(count: int, offset: float, what: str, whom: list[str]) -> None:
        step = (hi - lo) / max(count, 1)
        for i in range(count):
            out.append((lo + (i + offset) * step, what, whom[i % len(whom)] if whom else ""))

    spread(plan.refusal_windows, 0.2, "refuse_refresh", [])
    spread(plan.media_losses, 0.6, "media_loss", LOSS_TARGETS)
    spread(plan.renegotiations, 0.9, "renegotiate", RENEGOTIATION_TARGETS)
    return sorted(out)


@dataclass
class SoakReport:
    plan: SoakPlan
    bots: int = 0
    lost: list[str] = field(default_factory=list)
    rejoins: dict[str, int] = field(default_factory=dict)
    recalls: dict[str, int] = field(default_factory=dict)
    reconnects: dict[str, int] = field(default_factory=dict)
    retries: int = 0
    retries_exhausted: int = 0
    injected: Counter[str] = field(default_factory=Counter)
    #: Forced media losses that could not be injected (no call up on the target in time).
    skipped: list[str] = field(default_factory=list)
    losses_on_recorder: int = 0
    recording: dict[str, Any] = field(default_factory=dict)
    ghosts: list[str] = field(default_factory=list)
    ghosts_after_expiry: list[str] = field(default_factory=list)
    #: What ffprobe reads of the recording's files: seconds in all (None: no ffprobe).
    probed_seconds: float | None = None
    #: Log files (bots', the node's) with a traceback in them.
    tracebacks: list[str] = field(default_factory=list)
    seconds: float = 0.0
    workdir: Path | None = None

    @property
    def media_gaps(self) -> list[dict[str, Any]]:
        """The media gaps on the recording's timeline (each outage the recorder met)."""
        gaps = self.recording.get("event_gaps", [])
        return [g for g in gaps if g.get("kind") == "media"]

    @property
    def measured_gaps(self) -> list[dict[str, Any]]:
        """Stretches of 1 s or more without media in the recording's files."""
        gaps: list[dict[str, Any]] = self.recording.get("gaps", [])
        return gaps

    @property
    def outages_on_recorder(self) -> int:
        # (A rejoin counts each try; request_token is not faulted here: one try an outage.)
        return self.losses_on_recorder + self.rejoins.get(RECORDER, 0)

    @property
    def gaps_ok(self) -> bool:
        """Every outage left one media gap on the timeline, and every stretch without media
        in the files has a cause (a re-call or a rejoin): none came from nowhere."""
        causes = {g.get("cause") for g in self.measured_gaps + self.media_gaps}
        return len(self.media_gaps) == self.outages_on_recorder and causes <= {"recall", "rejoin"}

    @property
    def ok(self) -> bool:
        return (
            not self.lost
            and not self.ghosts
            and not self.tracebacks
            and self.gaps_ok
            and bool(self.recording)
        )

    def lines(self) -> list[str]:
        gaps = Counter(str(g.get("cause")) for g in self.media_gaps)
        gap_seconds = sum(g["end"] - g["start"] for g in self.media_gaps)
        measured = Counter(str(g.get("cause")) for g in self.measured_gaps)
        rec = self.recording
        return [
            f"{self.bots} bots for {self.plan.seconds:.0f} s ({self.seconds:.0f} s with start "
            f"and leave): bots lost {len(self.lost)} (target 0) "
            + (f"MISSED {self.lost}" if self.lost else "ok"),
            f"injected: {self.injected['refuse_refresh']} refused-refresh windows of "
            f"{self.plan.refusal_seconds:g} s, {self.injected['media_loss']} forced media losses"
            f"{f' ({len(self.skipped)} skipped: {self.skipped})' if self.skipped else ''}, "
            f"{self.injected['renegotiate']} renegotiations; standing: "
            f"{self.plan.token_lifetime} s tokens, streams dropped every "
            f"{self.plan.drop_events_every:g} s, 503 on {self.plan.refresh_503:.0%} of refreshes "
            f"and {self.plan.events_503:.0%} of event connections, on {self.plan.calls_503:.0%} "
            f"of calls after {self.plan.calls_503_delay:g} s",
            f"rejoins {sum(self.rejoins.values())}, re-calls {sum(self.recalls.values())}, "
            f"event reconnects {sum(self.reconnects.values())}, request retries "
            f"{self.retries} (budget spent {self.retries_exhausted})",
            f"recording: {rec.get('duration', 0):.1f} s in {len(rec.get('files', []))} file(s)"
            + (
                f" (ffprobe reads {self.probed_seconds:.1f} s)"
                if self.probed_seconds is not None
                else ""
            )
            + "; "
            f"media gaps {len(self.media_gaps)} ({dict(gaps)}, {gap_seconds:.1f} s in all) vs "
            f"outages injected on the recorder {self.outages_on_recorder} "
            f"({self.losses_on_recorder} forced media losses + {self.rejoins.get(RECORDER, 0)} "
            f"rejoins); of them 1 s or longer in the files: {len(self.measured_gaps)} "
            f"{dict(measured)} {'ok' if self.gaps_ok else 'MISSED'}",
            f"tracebacks in the logs: {len(self.tracebacks)} (target 0) "
            + (f"MISSED {self.tracebacks}" if self.tracebacks else "ok"),
            f"ghosts {len(self.ghosts)} (target 0) {'ok' if not self.ghosts else 'MISSED'}"
            + (
                f" {self.ghosts}; still there after token expiry: {self.ghosts_after_expiry}"
                if self.ghosts
                else ""
            ),
        ]


def _per_bot(procs: list[Proc], metric: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for proc in procs:
        for bot, value in proc.metrics.get(metric, {}).items():
            name = bot.split(":", 1)[1] if ":" in bot else bot  # a fleet's "0:Fleet 0"
            out[name] = out.get(name, 0) + int(value)
    return out


async def _inject(
    control: Control, plan: SoakPlan, report: SoakReport, t0: float, stop_at: float
) -> None:
    loop = asyncio.get_running_loop()
    for at, what, whom in schedule(plan):
        await asyncio.sleep(max(0.0, t0 + at - loop.time()))
        if loop.time() >= stop_at:
            return
        if what == "refuse_refresh":
            await control.faults(refuse_refresh=True)
            await asyncio.sleep(plan.refusal_seconds)
            await control.faults(refuse_refresh=False)
        else:
            call = await control.wait_main_call(whom)
            try:
                if call is None:
                    raise RuntimeError("no call up")
                if what == "media_loss":
                    await control.drop_call(*call)
                else:
                    await control.renegotiate(*call)
            except (RuntimeError, aiohttp.ClientError) as exc:  # its call just went away
                report.skipped.append(f"{what} {whom}: {exc}")
                continue
            report.losses_on_recorder += what == "media_loss" and whom == RECORDER
        report.injected[what] += 1


async def _scraping(http: aiohttp.ClientSession, procs: list[Proc]) -> None:
    while True:
        await asyncio.gather(*(scrape(http, p) for p in procs))
        await asyncio.sleep(1.0)


async def _all_in(control: Control, names: set[str], timeout: float = 120.0) -> None:
    """Until every bot is in the conference with its call up (the watcher without one)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        people = await control.participants()
        present = {p["display_name"] for p in people}
        calls = {p["display_name"] for p in people if p["calls"]}
        if names <= present and names - {"Watcher"} <= calls:
            return
        if loop.time() > deadline:
            missing = sorted(names - present) + sorted(names - {"Watcher"} - calls)
            raise RuntimeError(f"bots not in after {timeout:.0f} s: {missing}")
        await asyncio.sleep(0.5)


def write_configs(plan: SoakPlan, workdir: Path, url: str) -> list[tuple[str, list[str], int]]:
    """The bots' config files; (process name, `pexbot` arguments, metrics port) for each."""
    out = []
    for name, toml in bot_tomls(plan, url, workdir / "recordings").items():
        port = free_port()
        path = workdir / f"{name.replace(' ', '-')}.toml"
        # display_name before the tables; the metrics port the soak scrapes after them.
        path.write_text(f'display_name = "{name}"\n{toml}[metrics]\nport = {port}\n')
        out.append((name.replace(" ", "-"), ["run", str(path)], port))
    (workdir / "fleet.toml").write_text(fleet_toml(url))
    port = free_port()
    out.append(("fleet", ["fleet", str(workdir / "fleet.toml"), "--metrics-port", str(port)], port))
    return out


async def run_soak(plan: SoakPlan, workdir: Path) -> SoakReport:
    """Run the soak with its files (configs, logs, the recording) in `workdir`."""
    started = time.monotonic()
    report = SoakReport(plan, workdir=workdir)
    token = secrets.token_hex(16)
    await asyncio.to_thread((workdir / "node.toml").write_text, node_toml(plan, token))
    node, url = await start_node(workdir / "node.toml", workdir)
    procs: list[Proc] = []
    tasks: list[asyncio.Task[Any]] = [asyncio.create_task(drain(node))]
    try:
        async with aiohttp.ClientSession() as http:
            control = Control(http, url, token)
            for name, args, port in await asyncio.to_thread(write_configs, plan, workdir, url):
                proc = await start_pexbot(name, args, workdir)
                proc.metrics_port = port
                procs.append(proc)
            names = set(bot_tomls(plan, url, workdir)) | {f"Fleet {i}" for i in range(4)}
            report.bots = len(names)
            await _all_in(control, names)
            tasks.append(asyncio.create_task(_scraping(http, procs)))
            loop = asyncio.get_running_loop()
            t0 = loop.time()
            end = t0 + plan.seconds
            injecting = asyncio.create_task(_inject(control, plan, report, t0, end))
            tasks.append(injecting)
            ended: set[str] = set()
            while loop.time() < end:
                for proc in procs:
                    if proc.exited and proc.name not in ended:
                        ended.add(proc.name)
                        report.lost.append(f"{proc.name} ended early")
                await asyncio.sleep(1.0)
            injecting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await injecting
            await asyncio.gather(*(scrape(http, p) for p in procs))  # the final counters
            codes = await asyncio.gather(*(stop(p) for p in procs))
            await asyncio.to_thread(_collect, report, procs, codes, workdir)
            report.ghosts = sorted(p["display_name"] for p in await control.participants())
            if report.ghosts:  # still there once their tokens have expired?
                await asyncio.sleep(plan.token_lifetime + 12)
                report.ghosts_after_expiry = sorted(
                    p["display_name"] for p in await control.participants()
                )
    finally:
        for proc in procs:
            await stop(proc, timeout=10)
        for task in tasks:
            task.cancel()
        await stop(node, timeout=10)
        await asyncio.gather(*tasks, return_exceptions=True)
    report.seconds = time.monotonic() - started
    return report


def _collect(report: SoakReport, procs: list[Proc], codes: list[int], workdir: Path) -> None:
    for proc, code in zip(procs, codes, strict=True):
        if proc.name == "fleet":
            # The summary table: `0:Fleet 0  left  rejoins recalls  reason`, one row a bot.
            table = (workdir / "fleet.out").read_text().splitlines()
            rows = [m for line in table if (m := _FLEET_ROW.match(line))]
            report.lost += [f"{m[1]} {m[2]}: {m[3]}" for m in rows if m[2] != "left"]
            if len(rows) != 4 or (code != 0 and all(m[2] == "left" for m in rows)):
                report.lost.append(f"fleet exit {code}: {len(rows)} bots in its summary")
        elif code != 0 and f"{proc.name} ended early" not in report.lost:
            report.lost.append(f"{proc.name} exit {code}")
    report.rejoins = _per_bot(procs, "pexbot_rejoins_total")
    report.recalls = _per_bot(procs, "pexbot_recalls_total")
    report.reconnects = _per_bot(procs, "pexbot_event_stream_reconnects_total")
    retries = _per_bot(procs, "pexbot_request_retries_total")
    report.retries = sum(retries.values())
    report.retries_exhausted = sum(
        _per_bot(procs, "pexbot_request_retries_exhausted_total").values()
    )
    report.tracebacks = sorted(
        log.name for log in workdir.glob("*.log") if "Traceback" in log.read_text(errors="replace")
    )
    recording = workdir / "recordings" / "soak" / "summary.json"
    if recording.exists():
        report.recording = json.loads(recording.read_text())
        if shutil.which("ffprobe"):
            report.probed_seconds = sum(
                _probe(recording.parent / f["file"]) for f in report.recording["files"]
            )


def _probe(path: Path) -> float:
    """The duration ffprobe reads from a media file (0 when it cannot)."""
    done = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", path],
        capture_output=True,
        text=True,
        check=False,
    )
    try:
        return float(done.stdout.strip())
    except ValueError:
        return 0.0


def bench_soak(plan: SoakPlan = FULL, keep: Path | None = None) -> bool:
    """The soak, printed; True when no bot was lost, no ghost stayed and every recording
    gap is an injected outage."""
    with contextlib.ExitStack() as stack:
        if keep is None:
            workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="pexbot-soak-")))
        else:
            keep.mkdir(parents=True, exist_ok=True)
            workdir = keep
        report = asyncio.run(run_soak(plan, workdir))
        for line in report.lines():
            print(f"  {line}")
        if keep is not None:
            print(f"  configs, logs and the recording are in {workdir}")
    return report.ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__)
    parser.add_argument("--minutes", type=float, default=10.0, help="how long (default 10)")
    parser.add_argument("--keep", type=Path, help="keep configs, logs and recording here")
    parser.add_argument(
        "--light", action="store_true", help="talkers without video, the recorder audio only"
    )
    args = parser.parse_args(argv)
    plan = plan_for(args.minutes * 60.0, light=args.light)
    return 0 if bench_soak(plan, args.keep) else 1


if __name__ == "__main__":
    raise SystemExit(main())
