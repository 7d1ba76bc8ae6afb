"""The encoded-frame tap: VP8 frames and Opus packets, with timestamps, without decoding."""

from __future__ import annotations

import asyncio
import itertools
import threading
from typing import Any

import av

from agent.media.sources import TestPatternSource, ToneSource
from agent.media.tap import AUDIO_PREFETCH, EncodedFrame
from tests.support.loopback import peer_pair


async def test_tap_delivers_vp8_and_opus_without_decoding() -> None:
    async with peer_pair(
        {"audio_source": ToneSource(440), "video_source": TestPatternSource(fps=15)},
        {"audio": "recvonly", "video": "recvonly"},
    ) as (_a, b):
        video: list[EncodedFrame] = []
        audio: list[EncodedFrame] = []
        b.tap("video").subscribe(video.append)
        b.tap("audio").subscribe(audio.append)
        await asyncio.sleep(1.0)
        # Nothing was decoded: the remote tracks' queues stayed empty.
        for kind in ("audio", "video"):
            remote_track: Any = b.tap(kind).receiver.track
            assert remote_track._queue.qsize() == 0
        assert not b.tap("video").decode

    assert len(video) >= 8, len(video)
    assert {f.codec for f in video} == {"vp8"} and {f.kind for f in video} == {"video"}
    assert video[0].clock_rate == 90000
    assert video[0].timestamp == 0 and video[0].is_keyframe  # stream start: a keyframe
    assert video[0].data[0] & 0x01 == 0
    assert any(not f.is_keyframe for f in video[1:])
    stamps = [f.timestamp for f in video]
    assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps)

    assert len(audio) >= 35, len(audio)
    assert {f.codec for f in audio} == {"opus"} and audio[0].clock_rate == 48000
    steps = {b.timestamp - a.timestamp for a, b in itertools.pairwise(audio)}
    assert steps == {960}, steps
    arrivals = [f.arrival for f in audio]
    assert arrivals == sorted(arrivals)
    assert all(not f.is_keyframe for f in audio)


async def test_decoding_can_be_switched_on_and_subscribers_isolated() -> None:
    async with peer_pair({"audio_source": ToneSource(440)}, {"audio": "recvonly"}) as (_a, b):
        tap = b.tap("audio")

        def broken(_frame: EncodedFrame) -> None:
            raise RuntimeError("subscriber bug")

        seen: list[EncodedFrame] = []
        tap.subscribe(broken)
        unsubscribe = tap.subscribe(seen.append)
        track = b.decoded_track("audio")  # decode on
        frame = await asyncio.wait_for(track.recv(), 2)
        assert isinstance(frame, av.AudioFrame) and frame.sample_rate == 48000
        await asyncio.sleep(0.1)
        unsubscribe()
        count = len(seen)
        await asyncio.sleep(0.1)
        assert count > 0 and len(seen) == count
        assert tap.frames > count  # the tap kept counting with the broken subscriber
        await tap.request_keyframe()  # audio: a harmless PLI


async def test_remove_restores_the_original_queue() -> None:
    async with peer_pair({"audio_source": ToneSource(440)}, {"audio": "recvonly"}) as (_a, b):
        tap = b.tap("audio")
        tap.remove()
        # Frames now go straight to the decoder again.
        frame = await asyncio.wait_for(tap.receiver.track.recv(), 2)
        assert isinstance(frame, av.AudioFrame) and frame.samples > 0


async def test_arrivals_are_stamped_on_the_injected_clock() -> None:
    # One clock: the peer hands its clock to every tap, so a test (or the bot) owns time.
    ticks = itertools.count(start=1000.0, step=0.5)
    async with peer_pair(
        {"audio_source": ToneSource(440)},
        {"audio": "recvonly", "clock": lambda: next(ticks)},
    ) as (_a, b):
        audio: list[EncodedFrame] = []
        b.tap("audio").subscribe(audio.append)
        async with asyncio.timeout(5):
            while len(audio) < 3:  # noqa: ASYNC110
                await asyncio.sleep(0.05)
    # Stamped when each packet came: aiortc held it for the 4 Opus packets (80 ms) after it.
    handed_over = [f.arrival + AUDIO_PREFETCH * 0.020 for f in audio[:3]]
    assert all(t >= 1000.0 for t in handed_over), handed_over
    assert all(abs((t - 1000.0) / 0.5 - round((t - 1000.0) / 0.5)) < 1e-9 for t in handed_over)
    assert handed_over == sorted(handed_over)


async def test_no_decoder_thread_runs_until_decoding_is_wanted() -> None:
    def decoders() -> list[str]:
        return [t.name for t in threading.enumerate() if t.name.endswith("-decoder")]

    before = decoders()
    async with peer_pair(
        {"audio_source": ToneSource(440), "video_source": TestPatternSource(fps=15)},
        {"audio": "recvonly", "video": "recvonly"},
    ) as (_a, b):
        frames: list[EncodedFrame] = []
        b.tap("audio").subscribe(frames.append)
        async with asyncio.timeout(5):
            while len(frames) < 5:  # noqa: ASYNC110
                await asyncio.sleep(0.05)
        # Receiving encoded frames (what a recorder does) needs no thread per receiver.
        assert decoders() == before
        track = b.decoded_track("audio")
        frame = await asyncio.wait_for(track.recv(), 2)
        assert isinstance(frame, av.AudioFrame)
        assert decoders() == [*before, "audio-decoder"]
