"""Receive-only bots with real media: CPU and RSS of 1 and of 10 bots in one process.

Three processes besides the one measured, all on 127.0.0.1:
- the local node (`python -m agent.cli node`, a TOML config with `[media]` 640x480 at
  15 fps): it re-encodes the active speaker's video for every receiver at that size;
- one sender (this module's `sender` mode): an Opus tone and a 640x480 15 fps moving test
  pattern (`ToneSource`, `TestPatternSource` on a `MediaPeer`; the bot's own `pattern`
  source is 320x240), so the receivers get the sender's video and the node's audio mix;
- the measured process (this module's `receivers` mode, fresh for each case): N
  `agent.runtime.bot.Bot`s with `audio = video = "none"`, `receive_audio = receive_video =
  true`. With no plugin asking for decoded frames (the recorder's case) nothing is decoded:
  the encoded-frame tap counts VP8 frames and Opus packets and drops them. An optional
  case runs one bot with a plugin that wants decoded audio and video frames.

Once every bot receives audio and video, and after a warm-up, the measured process reads
its own CPU (process time of all threads over wall time, in % of one core), its RSS
(/proc/self/status) and the received frame counts (`call.peer.taps[kind].frames`) over
`SECONDS`; it also reads the node's CPU over the same window. Per-bot figures: the whole
process divided by N, and the marginal cost of a bot ((10 bots - 1 bot) / 9), which leaves
out what a process pays once (interpreter, aiortc, codecs).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import select
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench._proc import cpu_seconds, rss_mb

REPO = Path(__file__).resolve().parents[1]
SECONDS = float(os.environ.get("PEXBOT_BENCH_BOTS_MEDIA_SECONDS", "10"))
WARMUP = 2.0
MANY = 10
WIDTH, HEIGHT, FPS = 640, 480, 15.0
AUDIO_FPS = 50.0  # 20 ms Opus packets
# /work/shared/notes/media-facts.md (prototype, 2 cores): receive-only bots per core and
# memory per bot. Passthrough: ~40 per core, ~1.5 MB; decoding A+V: ~14 per core, ~5 MB.
TARGET_CPU_PER_BOT = 100 / 40  # % of one core, marginal, passthrough
TARGET_MB_PER_BOT = 1.5  # marginal, passthrough
REF_DECODE_CPU_PER_BOT = 100 / 14
REF_DECODE_MB_PER_BOT = 5.0
# A receiver that gets less than this share of the nominal frame rate is not "receiving".
MIN_RATE_SHARE = 0.5
NODE_CMD = [sys.executable, "-m", "agent.cli", "node"]


def _status(field: str) -> int:
    """A number from /proc/self/status (kB for memory fields)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise KeyError(field)


# -- the sender process ---------------------------------------------------------------------


async def _send(url: str) -> None:
    from agent.infinity.session import InfinitySession, JoinOptions
    from agent.media.ice import IceSettings
    from agent.media.peer import MediaPeer
    from agent.media.sources import TestPatternSource, ToneSource

    session = InfinitySession.connect(url, "meet", JoinOptions(display_name="bench sender"))
    await session.open()
    tone, pattern = ToneSource(440), TestPatternSource(WIDTH, HEIGHT, fps=FPS)
    peer = MediaPeer(
        IceSettings.loopback(),
        audio="sendonly",
        video="sendonly",
        audio_source=tone,
        video_source=pattern,
        media_timeout=3600,
        name="sender",
    )
    try:
        result = await session.me.calls_webrtc(await peer.create_offer())
        await peer.apply_answer(result.sdp)
        await peer.wait_connected(15)
        await session.me.call(result.call_uuid).ack()
        print("ready", flush=True)
        # Until the benchmark closes our stdin.
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    finally:
        await peer.close()
        tone.stop()
        pattern.stop()
        await session.close()


# -- the measured process -------------------------------------------------------------------


def _counter_plugin() -> Any:
    from agent.runtime.plugins import NoConfig, Plugin

    class DecodedCounter(Plugin[NoConfig]):
        """Asks for decoded audio and video (the bot then decodes both) and counts them."""

        name = "bench-decoded"
        wants_audio_frames = True
        wants_video_frames = True

        def __init__(self) -> None:
            super().__init__()
            self.audio = 0
            self.video = 0
            self.size: tuple[int, int] | None = None

        async def on_audio_frame(self, item: Any) -> None:
            self.audio += 1

        async def on_video_frame(self, item: Any) -> None:
            self.video += 1
            self.size = (item.frame.width, item.frame.height)

    return DecodedCounter()


async def _receive(url: str, bots: int, decode: bool, seconds: float, node_pid: int) -> None:
    from agent.config import parse_config
    from agent.media.codecs import vp8_size
    from agent.runtime.bot import Bot

    base_rss = rss_mb()
    t_start = time.monotonic()
    counters = [_counter_plugin() for _ in range(bots)] if decode else []
    fleet = []
    for i in range(bots):
        config = parse_config(
            {
                "node": url,
                "alias": "meet",
                "display_name": f"bench receiver {i}",
                "media": {
                    "audio": "none",
                    "video": "none",
                    "receive_audio": True,
                    "receive_video": True,
                    "ice_host_addresses": ["127.0.0.1"],
                    "media_timeout": 30,
                },
                "leave": {"alone_seconds": None},
            }
        )
        fleet.append(Bot(config, [counters[i]] if decode else []))
    tasks = [asyncio.create_task(bot.run()) for bot in fleet]
    out: dict[str, Any] = {"bots": bots, "decode": decode, "base_rss": base_rss}
    sizes: list[tuple[int, int]] = []
    unsubscribe: list[Any] = []
    keyframe_asked: set[int] = set()

    def taps(bot: Any) -> dict[str, Any]:
        call = bot.call
        peer = call.peer if call is not None else None
        return dict(peer.taps) if peer is not None else {}

    def frames() -> list[tuple[int, int]]:
        return [(t["audio"].frames, t["video"].frames) for t in map(taps, fleet)]

    def received_bytes() -> int:
        return sum(tap.bytes for t in map(taps, fleet) for tap in t.values())

    try:
        # Until every bot receives both kinds; one VP8 keyframe header gives the size.
        deadline = time.monotonic() + 30
        watched: set[int] = set()
        while True:
            for i, bot in enumerate(fleet):
                video = taps(bot).get("video")
                if i == 0 and video is not None and id(video) not in watched:
                    watched.add(id(video))

                    def seen(frame: Any) -> None:
                        size = vp8_size(frame.data)
                        if size is not None and not sizes:
                            sizes.append(size)

                    unsubscribe.append(video.subscribe(seen))
                if video is not None and video.frames and id(video) not in keyframe_asked:
                    keyframe_asked.add(id(video))
                    await video.request_keyframe()
            if any(t.done() for t in tasks):
                raise RuntimeError("a bot ended before the measurement")
            counts = frames() if all(len(taps(b)) >= 2 for b in fleet) else []
            if counts and all(a and v for a, v in counts) and (sizes or decode):
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"not all bots receive audio and video after 30 s: {counts}")
            await asyncio.sleep(0.1)
        out["setup"] = time.monotonic() - t_start
        for undo in unsubscribe:
            undo()
        await asyncio.sleep(WARMUP)
        f0, b0 = frames(), received_bytes()
        c0, n0, w0 = time.process_time(), cpu_seconds(node_pid), time.monotonic()
        d0 = [(c.audio, c.video) for c in counters]
        await asyncio.sleep(seconds)
        wall = time.monotonic() - w0
        out["cpu"] = 100 * (time.process_time() - c0) / wall
        out["node_cpu"] = 100 * (cpu_seconds(node_pid) - n0) / wall
        out["rss"] = rss_mb()
        f1 = frames()
        out["kbps"] = 8 * (received_bytes() - b0) / wall / bots / 1000
        out["audio_fps"] = [(b[0] - a[0]) / wall for a, b in zip(f0, f1, strict=True)]
        out["video_fps"] = [(b[1] - a[1]) / wall for a, b in zip(f0, f1, strict=True)]
        out["decoded_fps"] = [
            ((c.audio - a) / wall, (c.video - v) / wall)
            for c, (a, v) in zip(counters, d0, strict=True)
        ]
        out["size"] = sizes[0] if sizes else (counters[0].size if counters else None)
        out["threads"] = _status("Threads")
    except (RuntimeError, KeyError) as exc:  # KeyError: a bot's call went away mid-run
        out["error"] = f"{type(exc).__name__}: {exc}"
    finally:
        for bot in fleet:
            bot.request_leave("benchmark done")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 15)
    print(json.dumps(out), flush=True)


# -- the benchmark (parent process) ---------------------------------------------------------


def _first_line(proc: subprocess.Popen[str], timeout: float, what: str) -> str:
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    line = proc.stdout.readline().strip() if ready else ""
    if not line:
        raise RuntimeError(f"{what} did not start (exit code {proc.poll()})")
    return line


def _receivers(url: str, bots: int, decode: bool, node_pid: int) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "bench.bots_media", "receivers", url, str(bots)]
    cmd += ["--seconds", str(SECONDS), "--node-pid", str(node_pid)]
    if decode:
        cmd.append("--decode")
    proc = subprocess.run(
        cmd, cwd=REPO, capture_output=True, text=True, timeout=SECONDS + 90, check=False
    )
    lines = proc.stdout.strip().splitlines()
    if proc.returncode or not lines:
        tail = "\n".join(proc.stderr.strip().splitlines()[-5:])
        return {"bots": bots, "decode": decode, "error": f"exit {proc.returncode}: {tail}"}
    result: dict[str, Any] = json.loads(lines[-1])
    return result


def _received(r: dict[str, Any]) -> tuple[bool, str]:
    if "error" in r:
        return False, f"FAILED: {r['error']}"
    audio, video = r["audio_fps"], r["video_fps"]
    ok = min(audio) >= MIN_RATE_SHARE * AUDIO_FPS and min(video) >= MIN_RATE_SHARE * FPS
    text = (
        f"received per bot: audio {sum(audio) / len(audio):4.1f} pkt/s (min {min(audio):4.1f},"
        f" nominal {AUDIO_FPS:.0f}), video {sum(video) / len(video):4.1f} frames/s"
        f" (min {min(video):4.1f}, nominal {FPS:.0f})"
    )
    text += f", {r['kbps']:.0f} kbit/s of payload"
    if r.get("size"):
        text += f", {r['size'][0]}x{r['size'][1]}"
    if r["decoded_fps"]:
        da, dv = r["decoded_fps"][0]
        ok = ok and dv >= MIN_RATE_SHARE * FPS and da >= MIN_RATE_SHARE * AUDIO_FPS
        text += f"; decoded {da:4.1f} audio + {dv:4.1f} video frames/s"
    if not ok:
        text += " -- NOT RECEIVING at pace"
    elif min(audio) < 0.9 * AUDIO_FPS or min(video) < 0.9 * FPS:
        text += " -- the node fell behind (busy machine?): CPU is for the rate received"
    return ok, text


def bench_bots_media() -> bool:
    with tempfile.TemporaryDirectory(prefix="bench-bots-media-") as tmp:
        node_toml = Path(tmp) / "node.toml"
        node_toml.write_text(
            f"[media]\nvideo_width = {WIDTH}\nvideo_height = {HEIGHT}\nvideo_fps = {FPS}\n"
        )
        node = subprocess.Popen(
            [*NODE_CMD, "--config", str(node_toml), "--port", "0"],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        sender: subprocess.Popen[str] | None = None
        try:
            url = _first_line(node, 20, "the node")
            sender = subprocess.Popen(
                [sys.executable, "-m", "bench.bots_media", "sender", url],
                cwd=REPO,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                text=True,
            )
            _first_line(sender, 30, "the sender")
            one = _receivers(url, 1, False, node.pid)
            many = _receivers(url, MANY, False, node.pid)
            decoding = _receivers(url, 1, True, node.pid)
        finally:
            if sender is not None:
                assert sender.stdin is not None
                sender.stdin.close()
                try:
                    sender.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    sender.kill()
                    sender.wait()
            node.terminate()
            node.wait(timeout=10)
    return _report(one, many, decoding)


def _report(one: dict[str, Any], many: dict[str, Any], decoding: dict[str, Any]) -> bool:
    print(
        f"  node: {WIDTH}x{HEIGHT} VP8 at {FPS:.0f} fps + Opus to each receiver; sender: tone +"
        f" {WIDTH}x{HEIGHT} {FPS:.0f} fps test pattern; measured over {SECONDS:.0f} s after a"
        f" {WARMUP:.0f} s warm-up, one fresh process per case"
    )
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"  machine: {os.cpu_count()} cores, load average {load} (node and sender included)")
    ok = True
    for label, r in (
        ("1 bot, encoded only (passthrough)", one),
        (f"{MANY} bots, encoded only (passthrough)", many),
        ("1 bot, decoding audio + video", decoding),
    ):
        received, text = _received(r)
        ok = ok and received
        if "error" in r:
            print(f"  {label}: {text}")
            continue
        n = r["bots"]
        print(
            f"  {label}: CPU {r['cpu']:5.1f} % of a core ({r['cpu'] / n:4.2f} % per bot),"
            f" RSS {r['rss']:6.1f} MB ({r['rss'] - r['base_rss']:5.1f} MB over the"
            f" {r['base_rss']:.0f} MB idle process, {(r['rss'] - r['base_rss']) / n:4.2f} MB"
            f" per bot), {r['threads']} threads; node at {r['node_cpu']:.0f} % of a core;"
            f" joined in {r['setup']:.1f} s"
        )
        print(f"      {text}")
    if "error" in one or "error" in many:
        print(f"  targets: {TARGET_CPU_PER_BOT:.1f} % of a core and {TARGET_MB_PER_BOT} MB per")
        print("  passthrough bot: not measured")
        return False
    cpu_bot = (many["cpu"] - one["cpu"]) / (MANY - 1)
    mb_bot = (many["rss"] - one["rss"]) / (MANY - 1)
    cpu_ok, mb_ok = cpu_bot <= TARGET_CPU_PER_BOT, mb_bot <= TARGET_MB_PER_BOT
    cpu_x, rss_x = many["cpu"] / one["cpu"], many["rss"] / one["rss"]
    print(f"  {MANY} vs 1 bot: CPU x{cpu_x:.1f}, RSS x{rss_x:.2f}")
    print(
        f"  marginal passthrough bot: {cpu_bot:.2f} % of a core (~{100 / max(cpu_bot, 1e-9):.0f}"
        f" bots per core; target <= {TARGET_CPU_PER_BOT:.1f} %, ~40 per core)"
        f" {'ok' if cpu_ok else 'MISSED'}; {mb_bot:.2f} MB (target <= {TARGET_MB_PER_BOT} MB)"
        f" {'ok' if mb_ok else 'MISSED'}"
    )
    if "error" not in decoding:
        extra_cpu = decoding["cpu"] - one["cpu"]
        extra_mb = decoding["rss"] - one["rss"]
        print(
            f"  decoding A+V vs passthrough, 1 bot: CPU x{decoding['cpu'] / one['cpu']:.1f}"
            f" (+{extra_cpu:.1f} % of a core), RSS +{extra_mb:.1f} MB (reference: decoding bot"
            f" ~{REF_DECODE_CPU_PER_BOT:.0f} % of a core, ~{REF_DECODE_MB_PER_BOT:.0f} MB)"
        )
    return ok and cpu_ok and mb_ok


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.bots_media")
    sub = parser.add_subparsers(dest="mode", required=True)
    send = sub.add_parser("sender", help="tone + 640x480 test pattern until stdin closes")
    send.add_argument("url")
    recv = sub.add_parser("receivers", help="N receive-only bots; prints one JSON line")
    recv.add_argument("url")
    recv.add_argument("bots", type=int)
    recv.add_argument("--seconds", type=float, default=SECONDS)
    recv.add_argument("--node-pid", type=int, required=True)
    recv.add_argument("--decode", action="store_true")
    args = parser.parse_args(argv)
    if args.mode == "sender":
        asyncio.run(_send(args.url))
    else:
        asyncio.run(_receive(args.url, args.bots, args.decode, args.seconds, args.node_pid))


if __name__ == "__main__":
    main()
