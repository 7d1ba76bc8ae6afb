"""Outgoing sources: pacing, tone, silence, test pattern counter, file playback."""

from __future__ import annotations

import asyncio
import fractions
import time
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest

from agent.media import analysis
from agent.media.files import FileAudioTrack, FileSource, FileVideoTrack
from agent.media.sources import (
    OPUS_SILENCE,
    BlackVideoSource,
    Pacer,
    SilenceSource,
    TestPatternSource,
    ToneSource,
    draw_frame_counter,
    read_frame_counter,
)


async def test_audio_is_paced_at_20ms_with_continuous_pts() -> None:
    tone = ToneSource(440)
    start = time.monotonic()
    frames = [await tone.recv() for _ in range(26)]
    elapsed = time.monotonic() - start
    assert 0.45 < elapsed < 0.9, elapsed  # 25 periods after the first frame
    assert [f.pts for f in frames[:3]] == [0, 960, 1920]
    assert all(f.samples == 960 and f.sample_rate == 48000 for f in frames)


async def test_pacer_resyncs_after_a_stall() -> None:
    pacer = Pacer(0.01)
    await pacer.next()
    await asyncio.sleep(0.4)  # a stalled loop
    start = time.monotonic()
    for _ in range(5):
        await pacer.next()
    assert pacer.resyncs == 1
    assert time.monotonic() - start > 0.03  # no burst of the 40 missed frames


def test_tone_is_phase_continuous_sine() -> None:
    tone = ToneSource(1000, level_dbfs=-6)
    samples = np.concatenate([tone.samples(n) for n in range(10)])
    peaks = analysis.dominant_frequencies(samples, 1)
    assert abs(peaks[0].frequency - 1000) < 5
    assert abs(20 * np.log10(peaks[0].magnitude) + 6) < 0.5
    # no click at frame boundaries: sample-to-sample steps stay below the sine's slope
    assert np.abs(np.diff(samples.astype(np.int32))).max() < 32767 * 0.5 * 2 * np.pi / 48 + 2
    with pytest.raises(ValueError):
        ToneSource(30000)


async def test_silence_packets_decode_to_zero() -> None:
    source = SilenceSource()
    packet = await source.recv()
    assert isinstance(packet, av.Packet) and bytes(packet) == OPUS_SILENCE
    decoder = av.CodecContext.create("libopus", "r")
    decoder.format, decoder.layout, decoder.sample_rate = "s16", "stereo", 48000
    frames = decoder.decode(packet)
    assert frames and not np.any(frames[0].to_ndarray())
    raw = await SilenceSource(opus_packets=False).recv()
    assert isinstance(raw, av.AudioFrame) and not np.any(raw.to_ndarray())


async def test_video_frames_have_no_forced_picture_type() -> None:
    for source in (TestPatternSource(), BlackVideoSource(fps=30)):
        frame = await source.recv()
        assert frame.pict_type == av.video.frame.PictureType.NONE
        assert frame.format.name == "yuv420p"
        source.stop()


def test_counter_roundtrip_raw_and_rescaled() -> None:
    pattern = TestPatternSource(640, 480)
    for n in (0, 1, 2, 255, 4096, 123456, (1 << 24) - 1):
        yuv = pattern.picture(n)
        frame = av.VideoFrame.from_ndarray(yuv, format="yuv420p")
        assert read_frame_counter(frame) == n
        small = frame.reformat(width=176, height=144)
        assert read_frame_counter(small) == n
        assert read_frame_counter(frame.reformat(format="rgb24")) == n


def test_counter_absent_or_corrupt_is_none() -> None:
    black = np.full((240, 320), 16, dtype=np.uint8)
    assert read_frame_counter(black) is None
    y = np.full((240, 320), 128, dtype=np.uint8)
    draw_frame_counter(y, 77)
    assert read_frame_counter(y) == 77
    y[:24, 100:110] = 235 - y[:24, 100:110] + 16  # flip one bit
    assert read_frame_counter(y) is None


def test_counter_survives_low_bitrate_vp8() -> None:
    pattern = TestPatternSource(320, 240)
    encoder = av.CodecContext.create("libvpx", "w")
    encoder.width, encoder.height, encoder.pix_fmt = 320, 240, "yuv420p"
    encoder.bit_rate = 150_000
    encoder.time_base = fractions.Fraction(1, 15)
    decoder = av.CodecContext.create("libvpx", "r")
    read = []
    for n in range(30):
        frame = av.VideoFrame.from_ndarray(pattern.picture(n), format="yuv420p")
        frame.pts = n
        for packet in encoder.encode(frame):
            for decoded in decoder.decode(packet):
                read.append(read_frame_counter(decoded))
    assert read and read == list(range(len(read))), read


def _write_media(path: Path, seconds: float = 1.0) -> None:
    with av.open(str(path), "w") as out:
        vstream = out.add_stream("libvpx", rate=10)
        vstream.width, vstream.height, vstream.pix_fmt = 160, 120, "yuv420p"
        astream = out.add_stream("libopus", rate=48000)
        astream.layout = "mono"
        pattern = TestPatternSource(160, 120)
        tone = ToneSource(660)
        for n in range(int(seconds * 10)):
            frame = av.VideoFrame.from_ndarray(pattern.picture(n), format="yuv420p")
            frame.pts = n
            frame.time_base = fractions.Fraction(1, 10)
            out.mux(vstream.encode(frame))
        for n in range(int(seconds * 50)):
            aframe = av.AudioFrame.from_ndarray(
                tone.samples(n).reshape(1, -1), format="s16", layout="mono"
            )
            aframe.sample_rate = 48000
            aframe.pts = n * 960
            out.mux(astream.encode(aframe))
        out.mux(vstream.encode(None))
        out.mux(astream.encode(None))


async def test_file_source_plays_once_then_fills(tmp_path: Path) -> None:
    path = tmp_path / "clip.webm"
    _write_media(path, 0.6)
    source = FileSource(path, loop=False, passthrough=False)  # decoded to frames
    try:
        assert source.audio is not None and source.video is not None
        audio_track, video_track = source.audio, source.video

        async def take(track: Any, n: int) -> list[Any]:
            return [await track.recv() for _ in range(n)]

        # As a sender does: both at once, on the file's one clock (0.8 s each).
        audio, video = await asyncio.gather(take(audio_track, 40), take(video_track, 8))
        await asyncio.to_thread(source.finished.wait, 5)
    finally:
        source.stop()
    assert source.error is None
    samples = analysis.frames_to_mono(audio)
    assert analysis.has_tone(samples[: 960 * 20], 660)
    assert isinstance(source.audio, FileAudioTrack)
    assert source.audio.underflows > 0  # the clip ended: silence fill
    assert analysis.level_dbfs(samples[-960 * 5 :]) == float("-inf")
    assert all(f.width == 160 and f.pict_type == av.video.frame.PictureType.NONE for f in video)
    counters = [read_frame_counter(f) for f in video]
    assert counters[:6] == [0, 1, 2, 3, 4, 5], counters  # then the last picture again
    assert [f.pts for f in audio[:2]] == [0, 960]


async def test_file_source_loops(tmp_path: Path) -> None:
    path = tmp_path / "clip.webm"
    _write_media(path, 0.3)
    source = FileSource(path, loop=True, audio=False, fps=30)  # re-timed: decoded
    try:
        assert source.audio is None and isinstance(source.video, FileVideoTrack)
        counters = [read_frame_counter(await source.video.recv()) for _ in range(12)]
    finally:
        source.stop()
    assert source.error is None
    assert 0 in counters[3:], counters  # wrapped around to the first frame again
