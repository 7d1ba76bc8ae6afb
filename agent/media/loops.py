"""Built-in sources sent without encoding: loops encoded once per process, replayed as
packets by every bot that uses them.

- A loop is a deterministic picture or sound encoded once and kept as bytes: `VideoLoop`
  (VP8: the test pattern, black) and `AudioLoop` (Opus: a tone). `pattern_loop`,
  `black_loop` and `tone_loop` return the process's one copy of each. `LoopTrack` replays a
  loop as `av.Packet`s (aiortc only packetizes them, see `agent.media.sender`), paced on
  the event loop's monotonic clock (`Pacer`): track frame n is loop frame n mod length and
  its RTP timestamp comes from n, so timestamps stay monotonic with exact spacing across
  the wrap. A new call gets a new track (and aiortc a new SSRC and sequence).
- Seamless wraps: the pattern loop is a whole number of sweeps of its moving bar and its
  frame 0 is a keyframe; the tone loop holds a whole number of periods and comes from the
  encoder's second pass over it, so the encoder state at its start is what its end leaves.
- Video loops are built progressively, in the event loop's default executor (no thread of
  their own), a couple of seconds ahead of the track that is furthest on: the first frame
  goes out after one small chunk, and the encoding is paid once per process, during the
  first pass. A video loop of the pattern at 640x480@30 holds ~0.7 MB.
- Keyframes: the loop has one every `key_interval` frames (1 s). A receiver's PLI/FIR
  (`request_keyframe`) gets a *branch*: a fresh encoder's keyframe of the current picture
  and inter frames up to the loop's next keyframe, where the track rejoins the loop. A
  branch is made in the executor and shared by every track that asks at the same frame.
- The test pattern's frame counter is the loop frame index: it wraps every `length` frames
  (`LOOP_SECONDS`, rounded up to whole bar sweeps), so loss is counted modulo `length`.
"""

from __future__ import annotations

import asyncio
import fractions
import functools
import logging
import math
import threading
from collections.abc import Callable
from typing import Any

import av
import numpy as np
import numpy.typing as npt

from .codecs import opus_samples, vp8_is_keyframe
from .pacing import (
    AUDIO_PTIME,
    AUDIO_TIME_BASE,
    SAMPLE_RATE,
    SAMPLES_PER_FRAME,
    VIDEO_TIME_BASE,
    PacedTrack,
)
from .sources import (
    TestPattern,
    audio_frame,
    black_yuv,
    check_tone_frequency,
    tone_amplitude,
    tone_samples,
    video_frame,
)

log = logging.getLogger(__name__)

Yuv = npt.NDArray[np.uint8]
Render = Callable[[int], Yuv]

#: How long the test pattern's loop (and so its frame counter's period) is, at least.
LOOP_SECONDS = 30.0
#: Seconds of video a build job encodes ahead of the track that asked.
LOOKAHEAD_SECONDS = 2.0
#: Frames the first build job encodes (the first picture should not wait for more).
FIRST_CHUNK = 3
_PICT_I = av.video.frame.PictureType.I
_PICT_NONE = av.video.frame.PictureType.NONE
_BRANCHES_KEPT = 8
#: Encoder passes over a tone loop at most (it usually settles after ~8).
MAX_PASSES = 30


#: The built-in loops' pictures need few bits: at 0.02 bit per pixel (640x480@30: ~190
#: kbit/s) the counter reads back on every frame at a PSNR above 40 dB, and most inter
#: frames fit one RTP packet (every packet costs the sender and each receiver CPU).
SYNTHETIC_BITS_PER_PIXEL = 0.02
#: Real pictures (what the node re-encodes for its receivers) get the usual ~0.08.
CAMERA_BITS_PER_PIXEL = 0.08


def video_bitrate(
    width: int, height: int, fps: float, bits_per_pixel: float = SYNTHETIC_BITS_PER_PIXEL
) -> int:
    """A VP8 target bitrate (bit/s) for pictures of this size and rate."""
    return int(min(max(width * height * fps * bits_per_pixel, 100_000), 1_500_000))


def vp8_encoder(
    width: int,
    height: int,
    fps: float,
    key_interval: int,
    *,
    bits_per_pixel: float = SYNTHETIC_BITS_PER_PIXEL,
) -> Any:
    """A realtime libvpx encoder (one packet per picture) that makes keyframes only where
    asked (`pict_type = I`) or after 2 * `key_interval` frames without one."""
    enc: Any = av.CodecContext.create("libvpx", "w")
    enc.width, enc.height, enc.pix_fmt = width, height, "yuv420p"
    rate = fractions.Fraction(fps).limit_denominator(1000)
    enc.time_base = 1 / rate
    enc.framerate = rate
    # Keyframes only where we force them (pict_type I), never on the encoder's own timer.
    enc.gop_size = 2 * key_interval + 1
    enc.bit_rate = video_bitrate(width, height, fps, bits_per_pixel)
    # One thread: FFmpeg's default (one per core) makes libvpx cost ten times the CPU here.
    enc.thread_count = 1
    enc.options = {"deadline": "realtime", "cpu-used": "8", "lag-in-frames": "0"}
    return enc


class VideoLoop:
    """`length` VP8 frames of `make_render()`'s pictures, a keyframe every `key_interval`.

    Thread-safe: `ensure` (building) and `branch` run in executor threads; `frames` only
    grows, so the event loop reads it without a lock.
    """

    kind = "video"
    codec = "vp8"
    clock_rate = 90000

    def __init__(
        self,
        name: str,
        make_render: Callable[[], Render],
        *,
        width: int,
        height: int,
        fps: float,
        length: int,
        key_interval: int,
    ) -> None:
        if length < 1 or key_interval < 1:
            raise ValueError("a loop needs at least one frame and a key interval")
        self.name = name
        self.width, self.height, self.fps = width, height, fps
        self.length = length
        self.key_interval = key_interval
        self.ticks = round(90000 / fps)
        self.frames: list[bytes] = []
        self._make_render = make_render
        self._build_lock = threading.Lock()
        self._encoder: Any = None
        self._render: Render | None = None
        self._branch_lock = threading.Lock()
        self._branches: dict[int, Branch] = {}
        self.branches_made = 0

    @property
    def complete(self) -> bool:
        return len(self.frames) >= self.length

    @property
    def lookahead(self) -> int:
        return max(FIRST_CHUNK, round(LOOKAHEAD_SECONDS * self.fps))

    def next_key(self, index: int) -> int:
        """The loop index of the first stored keyframe after `index` (`length`: the wrap)."""
        return min((index // self.key_interval + 1) * self.key_interval, self.length)

    def _encode(self, enc: Any, picture: Yuv, pts: int, key: bool) -> list[bytes]:
        frame = video_frame(picture, pts)
        frame.time_base = enc.time_base
        frame.pict_type = _PICT_I if key else _PICT_NONE
        return [bytes(p) for p in enc.encode(frame)]

    def ensure(self, index: int) -> None:
        """Build (blocking) until frame `index` exists (`index` is clamped to the loop)."""
        index = min(index, self.length - 1)
        while len(self.frames) <= index:
            # One frame per turn of the lock: a track waiting for the next frame gets in
            # between the frames of a longer build job.
            with self._build_lock:
                if len(self.frames) <= index:
                    self._encode_next()

    def _encode_next(self) -> None:
        if self._encoder is None:
            self._encoder = vp8_encoder(self.width, self.height, self.fps, self.key_interval)
            self._render = self._make_render()
        assert self._render is not None
        n = len(self.frames)
        out = self._encode(self._encoder, self._render(n), n, n % self.key_interval == 0)
        if len(out) != 1:  # lag-in-frames 0: one packet per picture
            raise RuntimeError(f"{self.name}: VP8 encoder gave {len(out)} packets")
        self.frames.append(out[0])
        if self.complete:
            self._encoder = self._render = None  # the loop is done: free the encoder

    def branch(self, index: int) -> Branch:
        """The branch starting at `index` (shared: every track asking there gets it)."""
        with self._branch_lock:
            branch = self._branches.get(index)
            if branch is None:
                if len(self._branches) >= _BRANCHES_KEPT:
                    self._branches.pop(next(iter(self._branches)))
                branch = self._branches[index] = Branch(self, index)
                self.branches_made += 1
            return branch


class Branch:
    """A keyframe of loop frame `start`, then inter frames up to the loop's next keyframe
    (`end`), from an encoder of its own; encoded on demand, a frame at a time (blocking,
    thread-safe), so that answering a keyframe request never holds a track up for long."""

    def __init__(self, loop: VideoLoop, start: int) -> None:
        self.loop = loop
        self.start = start
        self.end = loop.next_key(start)
        self.frames: list[bytes] = []
        self._lock = threading.Lock()
        self._encoder: Any = None
        self._render: Render | None = None

    def covers(self, index: int) -> bool:
        return self.start <= index < self.end

    def ensure(self, index: int) -> None:
        loop = self.loop
        with self._lock:
            while self.start + len(self.frames) <= min(index, self.end - 1):
                if self._encoder is None:
                    self._encoder = vp8_encoder(
                        loop.width, loop.height, loop.fps, loop.key_interval
                    )
                    self._render = loop._make_render()
                assert self._render is not None
                n = self.start + len(self.frames)
                out = loop._encode(self._encoder, self._render(n), n, n == self.start)
                if len(out) != 1 or (n == self.start and not vp8_is_keyframe(out[0])):
                    raise RuntimeError(f"{loop.name}: branch at {self.start} went wrong")
                self.frames.append(out[0])
            if self.start + len(self.frames) >= self.end:
                self._encoder = self._render = None


class AudioLoop:
    """`length` 20 ms Opus packets of `samples(n)`, a whole number of periods long."""

    kind = "audio"
    codec = "opus"
    clock_rate = SAMPLE_RATE
    ticks = SAMPLES_PER_FRAME
    fps = 1 / AUDIO_PTIME
    key_interval = 1

    def __init__(self, name: str, samples: Callable[[int], npt.NDArray[np.int16]], length: int):
        self.name = name
        self.length = length
        self.frames: list[bytes] = []
        self._samples = samples
        self._lock = threading.Lock()

    lookahead = 1

    @property
    def complete(self) -> bool:
        return len(self.frames) >= self.length

    def ensure(self, index: int) -> None:
        """Encode the whole loop (blocking; a few ms for a short loop).

        Opus predicts each frame from the previous one (band energies, pitch), so a loop
        is only seamless when its packets were encoded from the state its own end leaves:
        the tone is encoded pass after pass until two passes come out identical (the
        encoder's steady state, ~8 passes), or the last of `MAX_PASSES` is taken."""
        with self._lock:
            if self.complete:
                return
            enc: Any = av.CodecContext.create("libopus", "w")
            enc.sample_rate, enc.layout, enc.format = SAMPLE_RATE, "mono", "s16"
            enc.bit_rate = 48000
            passes = MAX_PASSES if self.length < 25 else MAX_PASSES // 3
            previous: list[bytes] = []
            pts = 0
            for _ in range(passes):
                packets: list[bytes] = []
                for n in range(self.length):
                    frame = audio_frame(self._samples(n), pts)
                    pts += SAMPLES_PER_FRAME
                    packets.extend(bytes(p) for p in enc.encode(frame))
                if packets == previous:
                    break
                previous = packets
            if len(packets) != self.length or any(
                opus_samples(p) != SAMPLES_PER_FRAME for p in packets
            ):
                raise RuntimeError(f"{self.name}: Opus encoder did not give 20 ms packets")
            self.frames[:] = packets

    def next_key(self, index: int) -> int:
        return index + 1


Loop = VideoLoop | AudioLoop


class LoopTrack(PacedTrack):
    """Replays a loop as paced `av.Packet`s; answers keyframe requests with a branch."""

    def __init__(self, loop: Loop) -> None:
        super().__init__(1 / loop.fps)
        self.kind = loop.kind
        self.loop = loop
        self._want_key = False
        self._branch: Branch | None = None
        self._prefetch: asyncio.Future[None] | None = None
        self.keyframes_requested = 0
        self.frames_sent = 0

    def request_keyframe(self) -> None:
        """A receiver asked for a keyframe (PLI/FIR): the next frame is one."""
        self.keyframes_requested += 1
        self._want_key = True

    def _prefetch_from(self, index: int) -> None:
        loop = self.loop
        if loop.complete or self._prefetch is not None:
            return
        if len(loop.frames) - index > loop.lookahead // 2:
            return
        future = asyncio.get_running_loop().run_in_executor(
            None, loop.ensure, index + loop.lookahead
        )
        self._prefetch = future

        def done(f: asyncio.Future[None]) -> None:
            self._prefetch = None
            if not f.cancelled() and f.exception() is not None:
                log.error("%s: encoding failed", loop.name, exc_info=f.exception())

        future.add_done_callback(done)

    async def _built(self, index: int) -> None:
        loop = self.loop
        if index >= len(loop.frames):
            await asyncio.get_running_loop().run_in_executor(
                None, loop.ensure, max(index, FIRST_CHUNK - 1)
            )
        self._prefetch_from(index)

    async def _frame(self, index: int) -> bytes:
        loop = self.loop
        await self._built(index)
        branch = self._branch
        if branch is not None and not branch.covers(index):
            branch = self._branch = None
        if self._want_key:
            self._want_key = False
            # A branch that is already on answers the request (its keyframe went out less
            # than a key interval ago); a loop keyframe now needs none.
            if branch is None and isinstance(loop, VideoLoop) and index % loop.key_interval:
                branch = self._branch = loop.branch(index)
        if branch is None:
            return loop.frames[index]
        executor = asyncio.get_running_loop().run_in_executor
        if index - branch.start >= len(branch.frames):
            await executor(None, branch.ensure, index)
        if index + 1 < branch.end and index + 1 - branch.start >= len(branch.frames):
            self._background(executor(None, branch.ensure, index + 1))
        return branch.frames[index - branch.start]

    def _background(self, future: asyncio.Future[None]) -> None:
        def done(f: asyncio.Future[None]) -> None:
            if not f.cancelled() and f.exception() is not None:
                log.error("%s: encoding failed", self.loop.name, exc_info=f.exception())

        future.add_done_callback(done)

    async def recv(self) -> av.Packet[Any]:
        loop = self.loop
        if not loop.complete:
            # The frame is built before its slot starts: the first one is not late.
            await self._built(self._pacer.upcoming % loop.length)
        n = await self._tick()
        index = n % loop.length
        if loop.complete and self._branch is None and not self._want_key:
            data = loop.frames[index]  # the steady state: no coroutine more per frame
        else:
            data = await self._frame(index)
        packet = av.Packet(data)
        packet.pts = n * self.loop.ticks
        packet.time_base = VIDEO_TIME_BASE if self.kind == "video" else AUDIO_TIME_BASE
        self.frames_sent = n + 1
        return packet


# -- the built-in loops, one per process each -------------------------------------------


def _pattern_length(pattern: TestPattern, fps: float) -> int:
    sweep = pattern.bar_period
    return max(1, math.ceil(LOOP_SECONDS * fps / sweep)) * sweep


@functools.cache
def pattern_loop(width: int = 320, height: int = 240, fps: float = 15.0) -> VideoLoop:
    """The test pattern (counter = loop frame index) as a VP8 loop."""
    probe = TestPattern(width, height)  # validates the size

    def make_render() -> Render:
        pattern = TestPattern(width, height)
        return pattern.picture

    return VideoLoop(
        f"pattern {width}x{height}@{fps:g}",
        make_render,
        width=width,
        height=height,
        fps=fps,
        length=_pattern_length(probe, fps),
        key_interval=max(1, round(fps)),
    )


@functools.cache
def black_loop(width: int = 320, height: int = 240, fps: float = 5.0) -> VideoLoop:
    """Black pictures as a VP8 loop of one second."""
    TestPattern(width, height)  # validates the size
    length = max(1, round(fps))

    def make_render() -> Render:
        yuv = black_yuv(width, height)
        return lambda n: yuv

    return VideoLoop(
        f"black {width}x{height}@{fps:g}",
        make_render,
        width=width,
        height=height,
        fps=fps,
        length=length,
        key_interval=length,
    )


def _tone_length(frequency: float, most: int = 250) -> int:
    """Frames (20 ms) holding the closest to a whole number of periods, at most `most`."""
    periods = [(abs(math.remainder(n * AUDIO_PTIME * frequency, 1.0)), n) for n in range(1, most)]
    best = min(periods)
    exact = next((n for miss, n in periods if miss < 1e-6), None)
    return exact if exact is not None else best[1]


@functools.cache
def tone_loop(frequency: float, level_dbfs: float = -12.0) -> AudioLoop:
    """A sine tone as an Opus loop (phase-continuous across the wrap when the frequency
    fits a whole number of periods in at most 5 s, e.g. any whole number of Hz)."""
    check_tone_frequency(frequency)
    amplitude = tone_amplitude(level_dbfs)
    return AudioLoop(
        f"tone {frequency:g} Hz",
        lambda n: tone_samples(frequency, amplitude, n),
        _tone_length(frequency),
    )


__all__ = [
    "CAMERA_BITS_PER_PIXEL",
    "LOOP_SECONDS",
    "SYNTHETIC_BITS_PER_PIXEL",
    "AudioLoop",
    "LoopTrack",
    "VideoLoop",
    "black_loop",
    "pattern_loop",
    "tone_loop",
    "video_bitrate",
    "vp8_encoder",
]
