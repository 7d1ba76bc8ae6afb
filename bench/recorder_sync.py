"""A/V sync over a long recording: the writer fed simulated media (no real time) from a
sender whose clock drifts against the bot's, with arrival jitter, network stalls, lost
media and a re-call, then the file read back: the audio click and the video flash sent at
the same instant every minute must land within 40 ms of each other, and every gap must
keep its length (within 50 ms).

`simulate()` runs the whole hour in `bench/recorder.py` and ten minutes in
tests/unit/test_recorder_sync.py.
Packets are pre-encoded once and reused cyclically: one minute of Opus (silence with a
click at 1.0 s) and two 2 s VP8 cycles that start with a keyframe (the pattern, and the
pattern with a white frame at 1.0 s, used for the first cycle of each minute).
"""

from __future__ import annotations

import heapq
import itertools
import random
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import av
import numpy as np

from agent.media.clips import PTIME, RATE, VIDEO_CLOCK, opus_clip, vp8_clip
from agent.media.tap import EncodedFrame
from plugins.recorder.items import Control, Media
from plugins.recorder.writer import Writer, WriterSettings

FPS = 15
MINUTE_PACKETS = 60 * RATE // PTIME  # 3000
CYCLE = 30  # video frames per pre-encoded cycle (2 s), each starting with a keyframe
MARK = 1.0  # the click / flash, seconds into every sender minute
T0 = 1000.0  # bot clock at the sender's start
BASE_DELAY = 0.05


@dataclass(frozen=True)
class Gap:
    start: float  # sender seconds: nothing sent from here ...
    length: float  # ... for this long
    recall: bool  # RTP timestamps restart at 0 afterwards (a new call)


@dataclass
class SyncResult:
    offsets: list[float]  # per minute: click - flash in the file (s)
    gap_errors: list[float]  # per gap: measured - true length (s), audio and video
    summary_gaps: list[dict[str, Any]]
    resyncs: dict[str, int]
    seconds: float  # wall time: simulate + write + read back
    frames: int
    missing: list[int] = field(default_factory=list)  # minutes without click or flash

    @property
    def max_offset(self) -> float:
        return max((abs(o) for o in self.offsets), default=float("inf"))

    @property
    def max_gap_error(self) -> float:
        return max((abs(e) for e in self.gap_errors), default=0.0)


def _media() -> tuple[list[bytes], list[bytes], list[bytes]]:
    audio = [d for _, d in opus_clip(60.0, clicks=(MARK,), tone=False).frames][:MINUTE_PACKETS]
    plain = [d for _, d in vp8_clip(CYCLE, width=160, height=120, gop=CYCLE).frames]
    flash = [
        d
        for _, d in vp8_clip(
            CYCLE, width=160, height=120, gop=CYCLE, flashes=(round(MARK * FPS),)
        ).frames
    ]
    assert len(audio) == MINUTE_PACKETS and len(plain) == len(flash) == CYCLE
    return audio, plain, flash


class _Network:
    """Arrival times: bot time of sending + base delay + jitter, stalls held back."""

    def __init__(self, rng: random.Random, stalls: list[tuple[float, float]]) -> None:
        self.rng = rng
        self.stalls = stalls  # (bot time, length): everything in it arrives at its end
        self.last = 0.0

    def arrival(self, sent: float) -> float:
        t = sent + BASE_DELAY + self.rng.uniform(0.0, 0.030)
        for start, length in self.stalls:  # few stalls: a linear scan is fine
            if start <= t < start + length:
                t = start + length + self.rng.uniform(0.0, 0.005)
                break
        self.last = max(self.last, t)  # a stream is delivered in order
        return self.last


def _stream(
    kind: str,
    seconds: float,
    ppm: float,
    gaps: list[Gap],
    media: tuple[list[bytes], list[bytes], list[bytes]],
    net: _Network,
) -> Iterator[EncodedFrame]:
    audio, plain, flash = media
    rate, step = (RATE, PTIME / RATE) if kind == "audio" else (VIDEO_CLOCK, 1 / FPS)
    rtp_start = 0.0  # sender time where the current call's RTP timestamps are 0
    n = 0
    while (s := n * step) < seconds:
        gap = next((g for g in gaps if g.start <= s < g.start + g.length), None)
        if gap is not None:
            if gap.recall:
                rtp_start = gap.start + gap.length
            n += 1
            continue
        if kind == "audio":
            codec, data = "opus", audio[n % MINUTE_PACKETS]
        else:
            cycle = n // CYCLE
            clip = flash if cycle % (60 * FPS // CYCLE) == 0 else plain
            codec, data = "vp8", clip[n % CYCLE]
        sent = T0 + s / (1 + ppm * 1e-6)  # the sender's clock runs fast by ppm
        yield EncodedFrame(
            codec, data, round((s - rtp_start) * rate), net.arrival(sent), rate, kind
        )
        n += 1


def _stalls(rng: random.Random, seconds: float) -> list[tuple[float, float]]:
    """A 200 ms stall every ~40 s on average (some longer: up to 300 ms)."""
    out: list[tuple[float, float]] = []
    t = T0 + rng.uniform(5, 40)
    while t < T0 + seconds:
        out.append((t, rng.uniform(0.2, 0.3)))
        t += rng.uniform(10, 70)
    return out


def feed_writer(
    folder: Path, seconds: float, ppm: float, gaps: list[Gap], seed: int = 1
) -> tuple[Writer, int]:
    rng = random.Random(seed)
    media = _media()
    shared = _stalls(rng, seconds)
    # Stalls on the shared path delay both streams; a few hit only one of them.
    nets = {
        kind: _Network(random.Random(rng.random()), shared + _stalls(rng, seconds)[::3])
        for kind in ("audio", "video")
    }
    streams = [_stream(kind, seconds, ppm, gaps, media, nets[kind]) for kind in ("audio", "video")]
    now = [T0]
    writer = Writer(
        WriterSettings(folder, max_backlog=10**9),
        request_keyframe=lambda: None,
        clock=lambda: now[0],
    )
    writer.start()
    writer.put(Control("start", T0))
    count = 0
    for f in heapq.merge(*streams, key=lambda f: f.arrival):
        now[0] = f.arrival
        writer.put(Media(f))
        count += 1
        if count % 2000 == 0:
            writer.flush()
    writer.close()
    assert writer.join(600)
    assert writer.stats.dropped_backlog == 0
    return writer, count


# -- reading the file back -------------------------------------------------------------


def _packets(path: Path) -> dict[str, list[tuple[float, Any]]]:
    """Every packet's (time, packet) per kind, demuxed (not decoded)."""
    out: dict[str, list[tuple[float, Any]]] = {"audio": [], "video": []}
    with av.open(str(path)) as f:
        for p in f.demux():
            if p.pts is None or p.size == 0:
                continue
            out[p.stream.type].append((float(p.pts * p.time_base), p))
    return out


def _click(packets: list[tuple[float, Any]], around: float, pre_skip: float) -> float | None:
    """The first loud sample's time, decoding only the audio packets within 2 s.

    A decoder started mid-stream does not drop the encoder's look-ahead (`pre_skip`, which
    one decoding from the start drops once): it is taken off here."""
    dec: Any = av.CodecContext.create("opus", "r")
    lo = bisect_left(packets, around - 2.0)
    for t, p in packets[lo:]:
        if t > around + 2.0:
            break
        for frame in dec.decode(p):
            x = frame.to_ndarray()
            x = np.abs(x.astype(np.float64)).max(axis=0)
            loud = np.flatnonzero(x > 0.4)
            if len(loud):
                start = float(frame.pts * frame.time_base) if frame.pts is not None else t
                return float(start + loud[0] / frame.sample_rate - pre_skip)
    return None


def _flash(packets: list[tuple[float, Any]], around: float) -> float | None:
    """The first white frame's time, decoding from the keyframe before `around` - 2 s."""
    dec: Any = av.CodecContext.create("vp8", "r")
    lo = bisect_left(packets, around - 2.0)
    while lo > 0 and not packets[lo][1].is_keyframe:
        lo -= 1
    for t, p in packets[lo:]:
        if t > around + 2.0:
            break
        for frame in dec.decode(p):
            y = frame.to_ndarray(format="gray")
            if t >= around - 2.0 and float(y[y.shape[0] // 2 :].mean()) > 200:
                return t
    return None


def bisect_left(packets: list[tuple[float, Any]], t: float) -> int:
    lo, hi = 0, len(packets)
    while lo < hi:
        mid = (lo + hi) // 2
        if packets[mid][0] < t:
            lo = mid + 1
        else:
            hi = mid
    return lo


def _gap_lengths(packets: list[tuple[float, Any]], step: float) -> list[float]:
    """Lengths of the holes (> 1 s) between packets that should be `step` apart."""
    return [(b - a) - step for (a, _), (b, _) in itertools.pairwise(packets) if b - a - step > 1.0]


def simulate(
    folder: Path, minutes: float, ppm: float, gaps: list[Gap], seed: int = 1
) -> SyncResult:
    t0 = time.perf_counter()
    seconds = minutes * 60
    writer, count = feed_writer(folder, seconds, ppm, gaps, seed)
    assert len(writer.files) == 1, writer.files
    path = folder / writer.files[0]["file"]
    packets = _packets(path)
    audio, video = packets["audio"], packets["video"]
    # File time of sender time s: the first audio packet is sender time 0.
    first = audio[0][0]
    offsets: list[float] = []
    missing: list[int] = []
    with av.open(str(path)) as f:
        head = bytes(f.streams.audio[0].codec_context.extradata or b"")
    pre_skip = int.from_bytes(head[10:12], "little") / RATE  # OpusHead
    for m in range(int(seconds // 60)):
        expected = first + (60 * m + MARK) / (1 + ppm * 1e-6)
        click = _click(audio, expected, pre_skip)
        flash = _flash(video, expected)
        if click is None or flash is None:
            missing.append(m)
            continue
        offsets.append(click - flash)
    errors: list[float] = []
    true = [g.length / (1 + ppm * 1e-6) for g in gaps if g.start < seconds]
    for found in (_gap_lengths(audio, PTIME / RATE), _gap_lengths(video, 1 / FPS)):
        if len(found) != len(true):
            errors.append(float("inf"))
            continue
        errors += [a - b for a, b in zip(found, true, strict=True)]
    summary = writer.summary or {}
    return SyncResult(
        offsets=offsets,
        gap_errors=errors,
        summary_gaps=list(summary.get("gaps", [])),
        resyncs=dict(summary.get("clock_resyncs", {})),
        seconds=time.perf_counter() - t0,
        frames=count,
        missing=missing,
    )


# -- A/V sync over an hour ------------------------------------------------------------------

SYNC_MINUTES = 60
SYNC_PPM = (200.0, -200.0, 50.0, -50.0)
SYNC_TARGET = 0.040  # s, |click - flash| at every minute
GAP_TARGET = 0.050  # s, |measured - true| gap length
#: Sender seconds: lost 3 s (RTP timestamps run on) and re-calls (timestamps restart at 0).
SYNC_GAPS = [
    Gap(620.0, 3.0, recall=False),
    Gap(1520.0, 3.0, recall=True),
    Gap(2420.0, 3.0, recall=False),
    Gap(3140.0, 5.0, recall=True),
]


def bench_recorder_sync() -> bool:
    """One simulated hour per drift through the writer (injected clock, no real time):
    jitter 0-30 ms, 200-300 ms stalls, the gaps above; the file read back."""
    ok = True
    gaps = ", ".join(f"{g.length:.0f} s" + (" re-call" if g.recall else "") for g in SYNC_GAPS)
    print(
        f"  {SYNC_MINUTES} min of Opus + VP8 (15 fps) per run, jitter 0-30 ms, 200-300 ms "
        f"stalls, gaps {gaps}"
    )
    for ppm in SYNC_PPM:
        with tempfile.TemporaryDirectory(prefix="bench-sync-") as tmp:
            r = simulate(Path(tmp), SYNC_MINUTES, ppm, SYNC_GAPS)
        ms = sorted(o * 1000 for o in r.offsets)
        errors = ", ".join(f"{e * 1000:+.1f}" for e in r.gap_errors)
        run_ok = (
            not r.missing
            and len(r.offsets) == SYNC_MINUTES
            and r.max_offset <= SYNC_TARGET
            and r.max_gap_error <= GAP_TARGET
        )
        ok = ok and run_ok
        print(
            f"  {ppm:+5.0f} ppm: A/V offset per minute ({len(ms)} of {SYNC_MINUTES}) "
            f"min {ms[0]:+.1f} / median {ms[len(ms) // 2]:+.1f} / max {ms[-1]:+.1f} ms, "
            f"max |offset| {r.max_offset * 1000:.1f} ms (target <= {SYNC_TARGET * 1000:.0f} ms); "
            f"gap errors (audio, then video) [{errors}] ms (target <= {GAP_TARGET * 1000:.0f} ms); "
            f"clock resyncs {r.resyncs}; {r.frames} frames in {r.seconds:.1f} s"
            f"{'' if run_ok else '  MISSED'}"
            + (f"; minutes without click/flash: {r.missing}" if r.missing else "")
        )
    return ok
