"""Sending without encoding: encoded loops and media files sent as packets over real aiortc
peers on 127.0.0.1, checked at the receiver's encoded-frame tap."""

from __future__ import annotations

import asyncio
import itertools
import time
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest

from agent.media.codecs import vp8_is_keyframe
from agent.media.files import FilePacketTrack, FileSource
from agent.media.loops import LoopTrack, VideoLoop, pattern_loop, tone_loop
from agent.media.sources import TestPattern, read_frame_counter
from agent.media.tap import EncodedFrame
from tests.support.loopback import peer_pair
from tests.support.media_files import write_media


def _short_pattern_loop() -> VideoLoop:
    """10 frames at 30 fps (a wrap every 1/3 s), a keyframe every 5."""
    return VideoLoop(
        "test loop",
        lambda: TestPattern(160, 120).picture,
        width=160,
        height=120,
        fps=30,
        length=10,
        key_interval=5,
    )


async def _receive(
    sources: dict[str, Any], seconds: float
) -> tuple[list[EncodedFrame], list[EncodedFrame]]:
    video: list[EncodedFrame] = []
    audio: list[EncodedFrame] = []
    async with peer_pair(sources, {"audio": "recvonly", "video": "recvonly"}) as (_a, b):
        b.tap("video").subscribe(video.append)
        b.tap("audio").subscribe(audio.append)
        await asyncio.sleep(seconds)
    return video, audio


def _steps(frames: list[EncodedFrame]) -> set[int]:
    return {b.timestamp - a.timestamp for a, b in itertools.pairwise(frames)}


async def test_loop_track_packets_carry_continuous_pts_across_the_wrap() -> None:
    loop = tone_loop(440.0)
    assert loop.length == 5  # 440 Hz: 44 periods in 100 ms
    track = LoopTrack(loop)
    try:
        packets = [await track.recv() for _ in range(12)]
    finally:
        track.stop()
    assert all(isinstance(p, av.Packet) for p in packets)
    assert [p.pts for p in packets] == [n * 960 for n in range(12)]
    # frame 5 is loop frame 0 again: same bytes, later timestamp
    assert bytes(packets[5]) == bytes(packets[0]) and bytes(packets[6]) == bytes(packets[1])


@pytest.mark.parametrize("frequency", [440.0, 880.0, 1234.5])
def test_a_tone_loop_decodes_seamlessly_however_often_it_wraps(frequency: float) -> None:
    loop = tone_loop(frequency)
    loop.ensure(0)
    decoder = av.CodecContext.create("opus", "r")
    chunks = [
        frame.to_ndarray()[0]
        for n in range(max(300, 3 * loop.length))
        for frame in decoder.decode(av.Packet(loop.frames[n % loop.length]))
    ]
    samples = np.concatenate(chunks)[4800:]
    # -12 dBFS all along (Opus predicts frame from frame: a loop that does not join up
    # drifts in level and clips), and no step bigger than the sine's own slope.
    peaks = [float(np.abs(samples[i : i + 4800]).max()) for i in range(0, samples.size, 4800)]
    assert max(peaks) < 0.27 and min(peaks) > 0.23, peaks
    slope = 0.25 * 2 * np.pi * frequency / 48000
    assert float(np.abs(np.diff(samples)).max()) < 1.1 * slope


async def test_loop_tracks_are_paced_on_time() -> None:
    track = LoopTrack(_short_pattern_loop())
    clock = asyncio.get_running_loop().time
    try:
        sent = [(await track.recv(), clock())[1] for _ in range(31)]
    finally:
        track.stop()
    start = track.pacer.started_at
    assert start is not None
    late = [at - (start + n / 30) for n, at in enumerate(sent)]
    # Frame 0 is due once encoded (not before), the others every 1/30 s after it: never
    # early (no burst), late only by scheduling.
    assert min(late) > -0.002, late
    assert sorted(late)[len(late) // 2] < 0.03, late


async def test_looped_packets_keep_exact_rtp_spacing_across_wraps_and_a_recall() -> None:
    video_loop, audio_loop = _short_pattern_loop(), tone_loop(440.0)
    calls = []
    for _call in range(2):  # the second call: a re-call with new tracks of the same loops
        video, audio = await _receive(
            {"video_source": LoopTrack(video_loop), "audio_source": LoopTrack(audio_loop)}, 1.2
        )
        calls.append((video, audio))
        # > 2 wraps of the video loop and > 8 of the audio loop in each call
        assert len(video) >= 20 and len(audio) >= 40, (len(video), len(audio))
        assert _steps(video) == {3000}, _steps(video)  # 90 kHz / 30 fps, wraps included
        assert _steps(audio) == {960}, _steps(audio)
        assert video[0].timestamp == 0 and video[0].is_keyframe
        # The receiver saw the loop's own bytes, wrapping: frame k is loop frame k mod 10.
        assert [f.data for f in video[:20]] == [video_loop.frames[k % 10] for k in range(20)]
    # Encoded once: both calls replayed the same loop, nothing was re-encoded.
    assert len(video_loop.frames) == 10 and video_loop.branches_made == 0
    assert calls[0][0][5].data == calls[1][0][5].data


async def test_a_keyframe_request_gets_a_branch_that_rejoins_the_loop() -> None:
    loop = _short_pattern_loop()
    track = LoopTrack(loop)
    frames: list[EncodedFrame] = []
    async with peer_pair({"video_source": track}, {"video": "recvonly"}) as (_a, b):
        tap = b.tap("video")
        tap.subscribe(frames.append)

        def off_loop_keys(since: int) -> list[int]:
            # a keyframe where the loop has none (1 in 5 has one): the branch
            return [i for i, f in enumerate(frames) if f.is_keyframe and i >= since and i % 5]

        async with asyncio.timeout(10):
            while len(frames) < 3:  # noqa: ASYNC110
                await asyncio.sleep(0.02)
            asked = len(frames)
            while not off_loop_keys(asked):
                asked = len(frames)
                await tap.request_keyframe()  # RTCP PLI through aiortc, over the wire
                await asyncio.sleep(0.2)
            await asyncio.sleep(0.2)  # and some frames after it
    assert track.keyframes_requested >= 1 and loop.branches_made >= 1
    # Every frame still decodes in order, branch and loop alike: the counter says so.
    decoder = av.CodecContext.create("vp8", "r")
    counters = [
        read_frame_counter(decoded) for f in frames for decoded in decoder.decode(av.Packet(f.data))
    ]
    assert counters == [k % 10 for k in range(len(frames))], counters


@pytest.mark.parametrize(
    ("name", "kinds"),
    [("clip.webm", ("audio", "video")), ("clip.ivf", ("video",)), ("clip.ogg", ("audio",))],
)
async def test_a_file_sent_without_decoding_arrives_bit_identical(
    tmp_path: Path, name: str, kinds: tuple[str, ...]
) -> None:
    path = tmp_path / name
    written = write_media(path, 3.0, audio="audio" in kinds, video="video" in kinds)
    source = FileSource(path)
    try:
        assert source.passthrough == dict.fromkeys(kinds, True)
        video, audio = await _receive(
            {"video_source": source.video, "audio_source": source.audio}, 1.5
        )
    finally:
        source.stop()
    got = {"video": video, "audio": audio}
    for kind in kinds:
        frames = got[kind]
        assert len(frames) > 10, (kind, len(frames))
        # What the receiver reassembled is exactly what the file holds, in order.
        assert [f.data for f in frames] == written[kind][: len(frames)], kind
    if "video" in kinds:
        assert _steps(video) == {6000}  # 15 fps at 90 kHz
    if "audio" in kinds:
        assert _steps(audio) == {960}


async def _send_times(track: Any, count: int) -> list[tuple[float, float]]:
    """(file time, when recv() returned) for `count` packets."""
    out = []
    for _ in range(count):
        packet = await track.recv()
        out.append((float(packet.pts * packet.time_base), time.monotonic()))
    return out


@pytest.mark.parametrize("interleaved", [True, False])
async def test_a_non_interleaved_file_plays_in_sync(tmp_path: Path, interleaved: bool) -> None:
    path = tmp_path / "clip.mkv"
    write_media(path, 4.0, interleaved=interleaved)
    source = FileSource(path)
    try:
        assert isinstance(source.audio, FilePacketTrack)
        assert isinstance(source.video, FilePacketTrack)
        video, audio = await asyncio.gather(
            _send_times(source.video, 30), _send_times(source.audio, 100)
        )
    finally:
        source.stop()
    # Both streams go out on one clock: file time t leaves at origin + t, for audio and
    # video alike, from the first packet on (no silence while the other stream is read).
    # The origin is the earliest packet's: a wake-up can only be late, and on a loaded
    # machine a few are by tens of ms; a held stream would be late by seconds.
    origin = min(sent - t for t, sent in video + audio)
    late = sorted(sent - origin - t for t, sent in video + audio)
    assert late[int(0.9 * len(late))] < 0.03, late
    assert late[-1] < 0.1, late
    assert audio[-1][0] == pytest.approx(99 * 0.02)


async def test_a_looping_file_keeps_timestamps_monotonic_with_exact_spacing(
    tmp_path: Path,
) -> None:
    path = tmp_path / "clip.webm"
    write_media(path, 0.4)  # 6 video frames, 20 audio packets
    source = FileSource(path)
    try:
        assert source.video is not None and source.audio is not None
        video, audio = await asyncio.gather(
            _send_times(source.video, 20), _send_times(source.audio, 65)
        )
    finally:
        source.stop()
    vts = [round(t * 90000) for t, _ in video]
    ats = [round(t * 48000) for t, _ in audio]
    assert {b - a for a, b in itertools.pairwise(vts)} == {6000}, vts  # three loops
    assert {b - a for a, b in itertools.pairwise(ats)} == {960}, ats


async def test_a_keyframe_request_on_a_file_is_answered_by_transcoding(tmp_path: Path) -> None:
    path = tmp_path / "clip.webm"
    write_media(path, 6.0, gop=60, audio=False)  # one keyframe every 4 s
    source = FileSource(path)
    frames: list[EncodedFrame] = []
    try:
        track = source.video
        assert isinstance(track, FilePacketTrack)
        async with peer_pair({"video_source": track}, {"video": "recvonly"}) as (_a, b):
            tap = b.tap("video")
            tap.subscribe(frames.append)
            await asyncio.sleep(0.7)
            asked = len(frames)
            await tap.request_keyframe()
            await asyncio.sleep(0.5)
    finally:
        source.stop()
    assert track.keyframes_requested == 1
    keys = [i for i, f in enumerate(frames) if vp8_is_keyframe(f.data)]
    assert keys[0] == 0 and any(asked <= i <= asked + 4 for i in keys), (keys, asked)
    decoder = av.CodecContext.create("vp8", "r")
    counters = [
        read_frame_counter(decoded) for f in frames for decoded in decoder.decode(av.Packet(f.data))
    ]
    assert counters == list(range(len(frames))), counters


def test_builtin_loops_are_made_once_per_process() -> None:
    assert pattern_loop(320, 240, 15.0) is pattern_loop(320, 240, 15.0)
    assert tone_loop(440.0) is tone_loop(440.0)
    loop = pattern_loop(320, 240, 15.0)
    assert loop.length % 75 == 0 and loop.length >= 30 * 15  # whole sweeps of the bar


def test_the_pattern_loop_is_lean_and_its_picture_still_correct() -> None:
    loop = pattern_loop(640, 480, 30.0)
    loop.ensure(59)
    decoder = av.CodecContext.create("vp8", "r")
    pattern = TestPattern(640, 480)
    inter_sizes = []
    for n, data in enumerate(loop.frames[:60]):
        (picture,) = decoder.decode(av.Packet(data))
        assert read_frame_counter(picture) == n
        plane = picture.planes[0]
        luma = np.frombuffer(memoryview(plane), np.uint8).reshape(-1, plane.line_size)
        error = luma[:480, :640].astype(float) - pattern.picture(n)[:480].astype(float)
        psnr = 10 * np.log10(255**2 / max(float((error**2).mean()), 1e-9))
        assert psnr > 40, (n, psnr)  # the picture is the pattern
        if not vp8_is_keyframe(data):
            inter_sizes.append(len(data))
    # Few bits, few packets: most inter frames fit one RTP packet (~1,180 bytes of VP8).
    assert sum(size <= 1180 for size in inter_sizes) >= 0.8 * len(inter_sizes)
