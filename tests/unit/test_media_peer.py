"""Real aiortc peers over 127.0.0.1: tones both ways, frame counters, media loss, SDP errors."""

from __future__ import annotations

import asyncio
import time

import av
import pytest
from aiortc import MediaStreamTrack

from agent.media import analysis
from agent.media.ice import IceSettings
from agent.media.peer import MediaLost, MediaPeer, SdpError
from agent.media.sources import TestPatternSource, ToneSource, read_frame_counter
from tests.support.loopback import assert_loopback_only, peer_pair


async def recv_video(track: MediaStreamTrack) -> av.VideoFrame:
    frame = await asyncio.wait_for(track.recv(), 2)
    assert isinstance(frame, av.VideoFrame)
    return frame


async def collect_audio(track: MediaStreamTrack, seconds: float) -> analysis.FloatArray:
    frames = []
    for _ in range(int(seconds / 0.02)):
        frame = await asyncio.wait_for(track.recv(), 2)
        assert isinstance(frame, av.AudioFrame)
        frames.append(frame)
    # skip the first 200 ms (Opus/jitter-buffer start-up)
    return analysis.frames_to_mono(frames[10:])


async def test_tones_cross_both_ways() -> None:
    async with peer_pair({"audio_source": ToneSource(440)}, {"audio_source": ToneSource(880)}) as (
        a,
        b,
    ):
        heard_by_b, heard_by_a = await asyncio.gather(
            collect_audio(b.decoded_track("audio"), 1.2),
            collect_audio(a.decoded_track("audio"), 1.2),
        )
    assert analysis.has_tone(heard_by_b, 440)
    assert not analysis.has_tone(heard_by_b, 880)
    assert analysis.has_tone(heard_by_a, 880)
    assert not analysis.has_tone(heard_by_a, 440)
    assert abs(analysis.dominant_frequencies(heard_by_b, 1)[0].frequency - 440) < 5
    # -12 dBFS peak mono tone; aiortc's mono->stereo upmix lowers it 3 dB: ~ -18 dBFS RMS.
    assert -24 < analysis.level_dbfs(heard_by_b) < -14


async def test_frame_counters_read_back_in_order() -> None:
    async with peer_pair({"video_source": TestPatternSource(fps=30)}, {}) as (_a, b):
        track = b.decoded_track("video")
        counters = []
        for _ in range(30):
            counters.append(read_frame_counter(await recv_video(track)))
    readable = [c for c in counters if c is not None]
    assert len(readable) >= 28, counters
    assert readable == sorted(readable) and len(set(readable)) == len(readable), counters


async def test_recvonly_offer_receives_answerer_media() -> None:
    async with peer_pair(
        {"audio": "recvonly", "video": "recvonly"},
        {"audio_source": ToneSource(1000), "video_source": TestPatternSource()},
    ) as (a, _b):
        assert "a=recvonly" in a.pc.localDescription.sdp
        assert "a=sendrecv" not in a.pc.localDescription.sdp
        heard = await collect_audio(a.decoded_track("audio"), 0.6)
        frame = await recv_video(a.decoded_track("video"))
    assert analysis.has_tone(heard, 1000)
    assert read_frame_counter(frame) is not None


async def test_only_opus_and_vp8_are_offered() -> None:
    peer = MediaPeer(IceSettings.loopback())
    try:
        sdp = await peer.create_offer()
    finally:
        await peer.close()
    rtpmaps = [line.split(" ", 1)[1] for line in sdp.splitlines() if line.startswith("a=rtpmap")]
    assert sorted(r.split("/")[0] for r in rtpmaps) == ["VP8", "opus", "rtx"]


async def test_media_lost_when_sender_stops() -> None:
    tone = ToneSource(440)
    pattern = TestPatternSource()
    async with peer_pair(
        {"audio_source": tone, "video_source": pattern},
        {"audio": "recvonly", "video": "recvonly", "media_timeout": 0.5},
    ) as (_a, b):
        await asyncio.sleep(0.3)
        assert b.media_lost is None
        assert b.last_media_arrival() is not None
        tone.stop()
        pattern.stop()
        started = time.monotonic()
        lost = await asyncio.wait_for(b.wait_media_lost(), 3)
        elapsed = time.monotonic() - started
    assert lost.reason == "no_media"
    assert 0.4 < elapsed < 1.5


async def test_media_lost_when_remote_closes() -> None:
    async with peer_pair({}, {"media_timeout": 30}) as (a, b):
        events: list[MediaLost] = []
        b.on_media_lost(events.append)
        states: list[str] = []
        b.on_state_change(states.append)
        await a.close()
        lost = await asyncio.wait_for(b.wait_media_lost(), 5)
    assert lost.reason == "closed"
    assert events == [lost]
    assert states[-1] == "closed"


async def test_connect_timeout_reported() -> None:
    a = MediaPeer(IceSettings.loopback(), connect_timeout=0.3, name="A")
    b = MediaPeer(IceSettings.loopback(), name="B")
    try:
        offer = await a.create_offer()
        await b.answer(offer)
        await b.close()  # never connects: the answer is not applied by A either
        lost = await asyncio.wait_for(b.wait_media_lost(), 1)
        assert lost.detail == "closed locally"
        # A gets an answer that points nowhere useful: re-use B's SDP after B closed.
        await a.apply_answer(b.pc.localDescription.sdp)
        lost = await asyncio.wait_for(a.wait_media_lost(), 3)
        assert lost.reason in ("connect_timeout", "ice_failed", "connection_failed")
    finally:
        await asyncio.gather(a.close(), b.close())


async def test_server_initiated_renegotiation() -> None:
    async with peer_pair({"audio_source": ToneSource(440)}, {"audio_source": ToneSource(880)}) as (
        a,
        b,
    ):
        # The "server" (B) re-offers; the bot (A) answers as for new_offer/update_sdp.
        offer = await b.create_offer()
        answer = await a.answer(offer)
        assert_loopback_only(answer)
        await b.apply_answer(answer)
        heard = await collect_audio(a.decoded_track("audio"), 0.6)
        assert a.connection_state == "connected"
    assert analysis.has_tone(heard, 880)


async def test_sdp_errors_name_the_problem() -> None:
    peer = MediaPeer(IceSettings.loopback(), name="bot")
    try:
        with pytest.raises(SdpError, match="empty SDP"):
            await peer.answer("")
        with pytest.raises(SdpError, match="v=0"):
            await peer.answer("hello")
        with pytest.raises(SdpError, match="no media section"):
            await peer.answer("v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n")
        with pytest.raises(SdpError, match="signaling state 'stable'"):
            await peer.apply_answer("v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 0\r\n")
        await peer.create_offer()
        broken = (
            "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 0\r\n"
        )
        with pytest.raises(SdpError, match="bot: remote answer rejected"):
            await peer.apply_answer(broken)
    finally:
        await peer.close()


async def test_close_owns_its_tasks() -> None:
    # Nothing else may be left running either: the leak guard of tests/conftest.py.
    async with peer_pair() as (a, b):
        assert a._watchdog is not None and b._watchdog is not None
        watchdogs = [a._watchdog, b._watchdog]
    assert all(t.done() for t in watchdogs)
    await a.close()  # idempotent
