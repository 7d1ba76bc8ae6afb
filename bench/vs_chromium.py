"""`bench_vs_chromium`: one pexbot bot against Pexip's web SDK in headless Chromium, side by
side in one conference of the local node, both joined through the same proxy
(`bench/_chromium.py`), in two roles:

- send: the bot sends a tone and the 640x480@30 test pattern and receives the mix (no
  plugin: nothing decoded); Chromium sends its fake camera (640x480@30) and microphone and
  plays the mix back.
- receive: the bot records (the recorder plugin); Chromium receives only and renders the
  mix in a <video>. A talker bot (tone + 640x480@30 pattern, not measured) gives them
  something to receive.

Figures: CPU (share of one core, every process of Chromium's process group; the bot's one
process) and PSS over a measured window, and join time (request_token -> media connected:
for Chromium its peer connection's `connected`, for the bot its `ack`, which it sends once
connected). For the bot also from its process start (`pexbot run`: the interpreter and the
imports included; with the CPU time it took to get there) and from its start after the
imports (the time stamp of its `joining` log line); Chromium's from its launch is printed
for comparison. The bot is started once Chromium is connected, so neither start-up competes
with the other for the CPU (a browser's launch takes both cores for about a second).
Ratios bot/Chromium next to their targets. The bot's PSS counts its share of the shared
libraries it maps, so it shifts with whatever else maps them; its private memory (USS) does
not, and is printed next to it. The send role is measured twice: in its first seconds (the
bot encodes its pattern loop once, in the background) and once that loop is complete.

Bytecode: the repository is compiled first (`compileall`), as `pip install` does for an
installed pexbot; with PYTHONDONTWRITEBYTECODE set a source checkout would otherwise
compile every module of its own on each start.
"""

from __future__ import annotations

import asyncio
import compileall
import contextlib
import json
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench._chromium import Chromium, PageServer, missing_prerequisites
from bench._proc import cpu_seconds, node_process, stop_process

REPO = Path(__file__).resolve().parents[1]
PAGE = Path(__file__).resolve().parent / "pages" / "chromium_bench.html"
FAKE_30FPS = ("--use-fake-device-for-media-stream=fps=30", "--use-fake-ui-for-media-stream")
WARMUP = 5.0  # s after both are connected
WINDOW = 10.0  # s measured
STEADY_AT = 35.0  # s after both connected: the bot's 30 s pattern loop is complete
CPU_RATIO_TARGET = 0.10
PSS_TARGET_MB = 45.0  # a single recording bot
JOIN_RATIO_TARGET = 1 / 3
CONNECT_TIMEOUT = 40.0


def _rollup(pid: int) -> dict[str, int]:
    """/proc/PID/smaps_rollup in kB (empty when /proc does not say)."""
    try:
        lines = Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]
    except OSError:
        return {}
    return {line.split(":")[0]: int(line.split()[1]) for line in lines}


def pss_mb(pid: int) -> float:
    """Proportional set size of one process (MB; NaN when /proc does not say)."""
    kb = _rollup(pid).get("Pss")
    return kb / 1024 if kb is not None else float("nan")


def uss_mb(pid: int) -> float:
    """Unique set size: the memory only this process holds (MB; NaN when unknown)."""
    roll = _rollup(pid)
    if "Private_Dirty" not in roll:
        return float("nan")
    return (roll["Private_Clean"] + roll["Private_Dirty"]) / 1024


def group_pids(pgid: int) -> list[int]:
    """Every live process of a process group."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:  # field 5 of stat: pgrp
            pids.append(int(entry.name))
    return pids


def _cpu(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        with contextlib.suppress(OSError):  # it ended in between
            total += cpu_seconds(pid)
    return total


@dataclass
class Window:
    chromium_cpu: float  # share of one core
    bot_cpu: float
    chromium_pss: float  # MB
    bot_pss: float
    bot_uss: float


@dataclass
class RoleResult:
    role: str
    windows: dict[str, Window] = field(default_factory=dict)
    chromium_join: float = float("nan")  # s, request_token -> pc connected
    chromium_start: float = float("nan")  # s, browser launch -> pc connected
    bot_join: float = float("nan")  # s, request_token -> ack
    bot_start: float = float("nan")  # s, process start -> ack
    bot_ready: float = float("nan")  # s, the bot's start after its imports -> ack
    bot_start_cpu: float = float("nan")  # s of CPU the bot's process used to get in
    error: str = ""


async def _measure(chromium: Chromium, bot: asyncio.subprocess.Process, seconds: float) -> Window:
    assert chromium.proc is not None
    pgid = chromium.proc.pid
    pids = group_pids(pgid)
    c0, b0, t0 = _cpu(pids), cpu_seconds(bot.pid), time.monotonic()
    await asyncio.sleep(seconds)
    pids = group_pids(pgid)  # (a process that ended in between is not counted)
    wall = time.monotonic() - t0
    window = Window(
        chromium_cpu=(_cpu(pids) - c0) / wall,
        bot_cpu=(cpu_seconds(bot.pid) - b0) / wall,
        chromium_pss=sum(pss_mb(p) for p in pids),
        bot_pss=pss_mb(bot.pid),
        bot_uss=uss_mb(bot.pid),
    )
    return window


def _is_bot(request: Any) -> bool:
    return "mozilla" not in request.request_headers.get("user-agent", "").lower()


async def _wait(predicate: Any, timeout: float, what: str) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():  # noqa: ASYNC110
            await asyncio.sleep(0.05)


async def _log_lines(proc: asyncio.subprocess.Process, seen: dict[str, float]) -> None:
    """Drain the bot's JSON log lines; note when each of its messages was first logged, on
    this process's monotonic clock (from the line's own time stamp, to the millisecond: a
    busy machine may hand over several lines at once)."""
    assert proc.stderr is not None
    offset = time.time() - time.monotonic()
    async for raw in proc.stderr:
        try:
            line = json.loads(raw)
            stamp = datetime.strptime(line["time"], "%Y-%m-%dT%H:%M:%S.%fZ")
            message = str(line["message"])
        except (ValueError, KeyError, TypeError):
            continue
        seen.setdefault(message, stamp.replace(tzinfo=UTC).timestamp() - offset)


def _when(seen: dict[str, float], suffix: str) -> float:
    stamps = [at for message, at in seen.items() if message.endswith(suffix)]
    return min(stamps, default=float("nan"))


async def _bot(server: PageServer, role: str, folder: Path) -> asyncio.subprocess.Process:
    args = ["--node", server.base_url, "--alias", "meet", "--name", f"pexbot-{role}"]
    if role == "send":
        args += ["--audio", "tone:440", "--video", "pattern:640x480@30"]
    else:
        args += ["--audio", "none", "--video", "none", "--plugin", "recorder"]
        args += ["--plugin-config", f"recorder.output_dir={folder}"]
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "agent.cli", "run", *args, "--log-format", "json",
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
        cwd=REPO,
    )  # fmt: skip


async def _stop(proc: asyncio.subprocess.Process | None) -> None:
    if proc is not None:
        await stop_process(proc)


async def _role(server: PageServer, role: str, node_url: str, tmp: Path) -> RoleResult:
    result = RoleResult(role)
    talker: asyncio.subprocess.Process | None = None
    bot: asyncio.subprocess.Process | None = None
    logs: asyncio.Task[None] | None = None
    seen: dict[str, float] = {}
    chromium = Chromium(
        server.url("/bench.html", role=role, name=f"chromium-{role}"),
        log_path=tmp / f"chromium-{role}.log",
        extra_flags=FAKE_30FPS if role == "send" else (),
    )
    server.logs.clear()
    server.requests.clear()
    try:
        if role == "receive":
            talker = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "agent.cli", "run", "--node", node_url, "--alias",
                "meet", "--name", "talker", "--audio", "tone:440", "--video",
                "pattern:640x480@30",
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.DEVNULL,
                cwd=REPO,
            )  # fmt: skip
            await asyncio.sleep(3.0)
        chromium_started = time.monotonic()
        await chromium.start()

        def page_connected() -> bool:
            return any(
                e.get("event") == "pc_state" and (e.get("data") or {}).get("state") == "connected"
                for e in server.logs
            )

        # One after the other: each join is timed without the other's start-up on the CPU
        # (a browser's launch takes both cores for a second).
        try:
            await _wait(page_connected, CONNECT_TIMEOUT, "Chromium connected")
        except TimeoutError:
            result.error = "Chromium not connected: " + server.transcript()[-400:]
            return result
        bot_started = time.monotonic()
        bot = await _bot(server, role, tmp / f"rec-{role}")
        logs = asyncio.create_task(_log_lines(bot, seen))
        try:
            await _wait(
                lambda: any(_is_bot(r) and r.endpoint.endswith("/ack") for r in server.requests),
                CONNECT_TIMEOUT,
                "bot connected",
            )
        except TimeoutError:
            result.error = "bot not connected: " + server.transcript()[-400:]
            return result
        result.bot_start_cpu = cpu_seconds(bot.pid)
        tokens = [r for r in server.requests if r.endpoint == "request_token"]
        page_token = next(r.at for r in tokens if not _is_bot(r))
        bot_token = next(r.at for r in tokens if _is_bot(r))
        page_up = next(
            e["received_at"]
            for e in server.logs
            if e.get("event") == "pc_state" and (e.get("data") or {}).get("state") == "connected"
        )
        bot_ack = next(r.at for r in server.requests if _is_bot(r) and r.endpoint.endswith("/ack"))
        result.chromium_join = page_up - page_token
        result.chromium_start = page_up - chromium_started
        result.bot_join = bot_ack - bot_token
        result.bot_start = bot_ack - bot_started
        result.bot_ready = bot_ack - _when(seen, ": joining meet")
        both_up = max(page_up, bot_ack)
        await asyncio.sleep(max(0.0, both_up + WARMUP - time.monotonic()))
        label = "first" if role == "send" else "steady"
        result.windows[label] = await _measure(chromium, bot, WINDOW)
        if role == "send":
            await asyncio.sleep(max(0.0, both_up + STEADY_AT - time.monotonic()))
            result.windows["steady"] = await _measure(chromium, bot, WINDOW)
    finally:
        await chromium.stop()
        await _stop(bot)
        await _stop(talker)
        if logs is not None:
            logs.cancel()
            await asyncio.gather(logs, return_exceptions=True)
    return result


async def _run(tmp: Path) -> list[RoleResult]:
    results = []
    async with (
        node_process() as (_node, node_url),
        PageServer(node_url, extra_pages={"/bench.html": PAGE}) as server,
    ):
        for role in ("send", "receive"):
            results.append(await _role(server, role, node_url, tmp))
    return results


def _ratio(bot: float, browser: float) -> float:
    return bot / browser if browser > 0 else float("inf")


def bench_vs_chromium() -> bool:
    missing = missing_prerequisites()
    if missing:
        print("  cannot run: " + "; ".join(missing))
        return False
    compileall.compile_dir(REPO / "agent", quiet=1)
    compileall.compile_dir(REPO / "plugins", quiet=1)
    with tempfile.TemporaryDirectory(prefix="bench-vs-chromium-") as tmp:
        print(
            f"  one conference on the local node; measured {WINDOW:g} s from {WARMUP:g} s "
            f"after both connected ({os.cpu_count()} cores, load average "
            f"{os.getloadavg()[0]:.1f}); CPU in % of one core"
        )
        results = asyncio.run(_run(Path(tmp)))
        print(f"  (load average at the end {os.getloadavg()[0]:.1f})")
    ok = True
    joins: list[float] = []
    for r in results:
        if r.error:
            print(f"  {r.role}: {r.error}")
            ok = False
            continue
        for label, w in r.windows.items():
            cpu = _ratio(w.bot_cpu, w.chromium_cpu)
            mem = _ratio(w.bot_pss, w.chromium_pss)
            target = label == "steady"
            line = (
                f"  {r.role:7s} {label:6s}: CPU Chromium {w.chromium_cpu:6.1%}, pexbot "
                f"{w.bot_cpu:5.1%} -> x{cpu:.3f}"
                + (f" (target <= {CPU_RATIO_TARGET:g})" if target else "")
                + f"; PSS Chromium {w.chromium_pss:5.0f} MB, pexbot {w.bot_pss:5.1f} MB -> "
                f"x{mem:.3f} (pexbot private {w.bot_uss:.1f} MB)"
            )
            if r.role == "receive":
                line += f" (pexbot target <= {PSS_TARGET_MB:g} MB)"
                ok = ok and w.bot_pss <= PSS_TARGET_MB
            if target:
                ok = ok and cpu <= CPU_RATIO_TARGET
            print(line)
        joins.append(_ratio(r.bot_start, r.chromium_join))
        print(
            f"  {r.role:7s} join  : Chromium request_token -> connected "
            f"{r.chromium_join * 1000:4.0f} ms (browser launch -> connected "
            f"{r.chromium_start * 1000:4.0f} ms); pexbot request_token -> connected "
            f"{r.bot_join * 1000:4.0f} ms (x{_ratio(r.bot_join, r.chromium_join):.2f}), "
            f"bot start (after imports) -> in call {r.bot_ready * 1000:4.0f} ms "
            f"(x{_ratio(r.bot_ready, r.chromium_join):.2f}), "
            f"`pexbot run` start -> in call {r.bot_start * 1000:4.0f} ms "
            f"(x{_ratio(r.bot_start, r.chromium_join):.2f}, target <= {JOIN_RATIO_TARGET:.2f}; "
            f"{r.bot_start_cpu * 1000:.0f} ms of CPU)"
        )
    if joins:
        ok = ok and statistics.median(joins) <= JOIN_RATIO_TARGET
    return ok


if __name__ == "__main__":
    sys.exit(0 if bench_vs_chromium() else 1)
