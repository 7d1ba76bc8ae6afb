"""The node's real media (`agent/node/media/`), proven with measured signals.

Both sides are real aiortc peers (`agent.media.MediaPeer` with tone and test-pattern
sources); signalling is plain HTTP to the node (no `agent.infinity` client code), and every
packet stays on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import time
from collections.abc import AsyncIterator
from typing import Any

import av
import numpy as np
import pytest
from aiortc import MediaStreamTrack
from aiortc.mediastreams import MediaStreamError

from agent.media.analysis import frame_to_mono, has_tone
from agent.media.ice import IceSettings, candidate_addresses
from agent.media.peer import Direction, MediaPeer
from agent.media.sources import SilenceSource, TestPatternSource, ToneSource, read_frame_counter
from agent.node import NodeConfig
from agent.node.media import media_stats

from .conftest import Api, EventStream, Member, fast_config

SIZE = (320, 240)
RECEIVING = ("sendrecv", "recvonly")


@pytest.fixture
def node_config() -> NodeConfig:
    # Small, slow video keeps the re-encoding cheap on a 2-core machine.
    return fast_config(media={"video_width": SIZE[0], "video_height": SIZE[1], "video_fps": 10})


class OffsetPattern(TestPatternSource):
    """A test pattern whose frame counter starts at `offset`, to tell senders apart."""

    def __init__(self, offset: int) -> None:
        super().__init__(*SIZE, fps=10)
        self.offset = offset

    def picture(self, n: int) -> Any:
        return super().picture(n + self.offset)


class Receiver:
    """Collects decoded frames of one remote track, with arrival times."""

    def __init__(self, track: MediaStreamTrack) -> None:
        self.items: list[tuple[float, Any]] = []
        self._task = asyncio.create_task(self._run(track))

    async def _run(self, track: MediaStreamTrack) -> None:
        with contextlib.suppress(MediaStreamError):
            while True:
                frame = await track.recv()
                if isinstance(frame, av.AudioFrame):
                    self.items.append((time.monotonic(), frame_to_mono(frame)))
                elif isinstance(frame, av.VideoFrame):
                    self.items.append((time.monotonic(), read_frame_counter(frame)))

    def audio(self, start: float, end: float) -> Any:
        parts = [x for t, x in self.items if start <= t < end]
        return np.concatenate(parts) if parts else np.zeros(0)

    def counters(self, start: float = 0.0) -> list[int]:
        return [c for t, c in self.items if t >= start and c is not None]

    async def close(self) -> None:
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)


class Party:
    """A participant with one WebRTC call placed through plain HTTP."""

    def __init__(self, member: Member, peer: MediaPeer) -> None:
        self.member = member
        self.peer = peer
        self.call_uuid = ""
        self.receivers: dict[str, Receiver] = {}
        self.receive: list[str] = []

    @classmethod
    async def join(
        cls,
        api: Api,
        name: str,
        *,
        audio_source: MediaStreamTrack | None = None,
        video_source: MediaStreamTrack | None = None,
        audio: Direction | None = "sendrecv",
        video: Direction | None = None,
        present: str | None = None,
        member: Member | None = None,
    ) -> Party:
        member = member or await api.joined("meet", name)
        peer = MediaPeer(
            IceSettings.loopback(),
            audio=audio,
            video=video,
            audio_source=audio_source,
            video_source=video_source,
            name=name,
        )
        party = cls(member, peer)
        party.receive = [k for k, d in (("audio", audio), ("video", video)) if d in RECEIVING]
        await party.call(present)
        return party

    async def call(self, present: str | None) -> None:
        offer = await self.peer.create_offer()
        assert set(candidate_addresses(offer)) == {"127.0.0.1"}
        body: dict[str, Any] = {"call_type": "WEBRTC", "sdp": offer}
        if present is not None:
            body["present"] = present
        reply = await self.member.part("calls_webrtc_participant", self.member.uuid, "calls", body)
        assert reply.status == 200, reply.body
        assert set(candidate_addresses(reply.result["sdp"])) == {"127.0.0.1"}
        self.call_uuid = reply.result["call_uuid"]
        await self.peer.apply_answer(reply.result["sdp"])
        for kind in self.receive:
            self.receivers[kind] = Receiver(self.peer.decoded_track(kind))
        ack = await self.member.call_fn("ack", self.call_uuid, "ack", {})
        assert ack.status == 200
        await self.peer.wait_connected(10)

    async def hang_up(self) -> None:
        await self.member.call_fn("disconnect_call", self.call_uuid, "disconnect")

    async def close(self) -> None:
        for receiver in self.receivers.values():
            await receiver.close()
        await self.peer.close()


@pytest.fixture
async def parties() -> AsyncIterator[list[Party]]:
    created: list[Party] = []
    yield created
    for party in created:
        await party.close()


async def wait_for(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


async def stage_events(stream: EventStream, seconds: float) -> list[list[dict[str, Any]]]:
    stages = []
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        try:
            item = await stream.next(left)
        except TimeoutError:
            break
        if item is not None and item[0] == "stage":
            stages.append(item[1])
    return stages


async def test_mix_minus_stage_and_mute(api: Api, parties: list[Party]) -> None:
    observer = await api.joined("meet", "observer")
    stream = await observer.events()
    await stream.sync()
    a = await Party.join(api, "A", audio_source=ToneSource(440))
    parties.append(a)
    b = await Party.join(api, "B", audio_source=ToneSource(880))
    parties.append(b)
    c = await Party.join(api, "C", audio_source=SilenceSource())
    parties.append(c)
    assert b.member.role == "HOST"  # an open VMR: everyone hosts, so B may mute A

    stages = await stage_events(stream, 2.0)
    now = time.monotonic()
    heard = {p.member.uuid: p.receivers["audio"].audio(now - 1.0, now) for p in (a, b, c)}
    assert all(x.size >= 24000 for x in heard.values()), {k: v.size for k, v in heard.items()}
    assert has_tone(heard[c.member.uuid], 440) and has_tone(heard[c.member.uuid], 880)
    assert has_tone(heard[a.member.uuid], 880) and not has_tone(heard[a.member.uuid], 440)
    assert has_tone(heard[b.member.uuid], 440) and not has_tone(heard[b.member.uuid], 880)

    assert stages, "no stage event"
    speaking = {e["participant_uuid"] for s in stages for e in s if e["vad"] == 100}
    assert speaking == {a.member.uuid, b.member.uuid}
    last = stages[-1]
    assert [e["stage_index"] for e in last] == list(range(len(last)))
    assert {e["participant_uuid"] for e in last} == {p.member.uuid for p in (a, b, c)}
    assert len(stages) <= 2.0 * 4 + 1  # rate-limited

    reply = await b.member.part("mute_participant", a.member.uuid, "mute")
    assert reply.status == 200
    muted_at = time.monotonic()
    await asyncio.sleep(1.0)
    window = (muted_at + 0.5, muted_at + 1.0)
    for party in (b, c):
        samples = party.receivers["audio"].audio(*window)
        assert samples.size >= 12000
        assert not has_tone(samples, 440), f"440 Hz still reaches {party.peer.name}"
    assert has_tone(c.receivers["audio"].audio(*window), 880)
    # A muted: no longer a speaker on stage.
    later = await stage_events(stream, 0.6)
    if later:
        assert all(e["vad"] == 0 for e in later[-1] if e["participant_uuid"] == a.member.uuid)

    conference = api.node.ctx.state.conferences["meet"]
    stats = await media_stats(conference.participants[c.member.uuid].calls[c.call_uuid])
    (audio,) = [s for s in stats if s["stream_type"] == "audio"]
    assert audio["rx_packets_received"] > 50 and audio["tx_packets_sent"] > 50
    await stream.close()


async def test_active_speaker_video(api: Api, parties: list[Party]) -> None:
    # C joins first and sends video but never speaks: without speaker switching it would be
    # everyone's picture. A speaks (a tone) and sends video; B only watches.
    c = await Party.join(
        api,
        "C",
        audio_source=SilenceSource(),
        video="sendrecv",
        video_source=OffsetPattern(5_000_000),
    )
    parties.append(c)
    a = await Party.join(
        api, "A", audio_source=ToneSource(440), video="sendrecv", video_source=OffsetPattern(0)
    )
    parties.append(a)
    b = await Party.join(api, "B", audio_source=SilenceSource(), video="recvonly")
    parties.append(b)
    await asyncio.sleep(1.0)  # A becomes the active speaker
    start = time.monotonic()
    await wait_for(lambda: len(b.receivers["video"].counters(start)) >= 10, 5, "B's video")
    seen_by_b = b.receivers["video"].counters(start)
    # B sees the active speaker A, frames in order (the node may repeat a frame at its pace).
    assert all(n < 5_000_000 for n in seen_by_b), seen_by_b
    assert seen_by_b == sorted(seen_by_b) and seen_by_b[-1] > seen_by_b[0], seen_by_b
    # The active speaker sees the other one with video (C).
    await wait_for(lambda: len(a.receivers["video"].counters(start)) >= 5, 5, "A's video")
    seen_by_a = a.receivers["video"].counters(start)
    assert all(n >= 5_000_000 for n in seen_by_a), seen_by_a
    assert seen_by_a == sorted(seen_by_a)
    conference = api.node.ctx.state.conferences["meet"]
    stats = await media_stats(conference.participants[b.member.uuid].calls[b.call_uuid])
    (video,) = [s for s in stats if s["stream_type"] == "video"]
    assert video["tx_codec"] == "VP8" and video["tx_packets_sent"] > 10


async def test_presentation_reaches_a_receive_call(api: Api, parties: list[Party]) -> None:
    viewer = await api.joined("meet", "viewer")
    stream = await viewer.events()
    await stream.sync()
    presenter = await Party.join(
        api,
        "presenter",
        audio=None,
        video="sendonly",
        video_source=OffsetPattern(0),
        present="send",
    )
    parties.append(presenter)
    started = await stream.until("presentation_start")
    assert started["presenter_uuid"] == presenter.member.uuid
    receiver = await Party.join(
        api, "viewer", audio=None, video="recvonly", present="receive", member=viewer
    )
    parties.append(receiver)
    slides = receiver.receivers["video"]
    await wait_for(lambda: len(slides.counters()) >= 3, 5, "slides")
    counters = slides.counters()
    assert counters == sorted(counters) and counters[-1] > counters[0]
    await stream.until("presentation_frame")
    url = api.url("meet", f"presentation.jpeg?id=1&token={viewer.token}")
    async with api.http.get(url) as resp:
        assert resp.status == 200 and resp.content_type == "image/jpeg"
        jpeg = await resp.read()
    assert jpeg[:2] == b"\xff\xd8" and jpeg[-2:] == b"\xff\xd9"
    with av.open(io.BytesIO(jpeg), mode="r") as image:
        assert next(image.decode(video=0)).width == SIZE[0]

    await presenter.hang_up()
    await stream.until("presentation_stop")
    await asyncio.sleep(0.5)  # frames in flight
    before = len(slides.items)
    await asyncio.sleep(0.6)
    assert len(slides.items) == before  # no slides without a presenter
    async with api.http.get(url) as resp:
        assert resp.status == 404
    await stream.close()


async def test_mix_arithmetic_clips_and_leaves_out_the_muted() -> None:
    """The tick itself, without networking: int32 sum, int16 clip, mix-minus, mute."""
    from types import SimpleNamespace

    from agent.node.config import NodeMediaConfig, ServiceConfig
    from agent.node.media import ConferenceMixer
    from agent.node.media.audio import MixTrack
    from agent.node.state import ConferenceState, ParticipantState

    conference = ConferenceState.from_service(ServiceConfig(name="m"))
    mixer = ConferenceMixer(conference, NodeMediaConfig())
    calls: dict[str, Any] = {}
    for name in ("a", "b", "c"):
        conference.participants[name] = ParticipantState(name, name, "chair", "conference")
        peer: Any = SimpleNamespace(
            participant_uuid=name, call_uuid=f"call-{name}", present=None, frames_received={}
        )
        calls[name] = mixer._call(peer)
    await mixer.close()  # no background tick: this test ticks by hand
    loud = np.full(960, 30000, np.int16)
    outputs: dict[str, MixTrack] = {}
    for name, call in calls.items():
        call.audio.sending = True
        call.audio.out = outputs[name] = MixTrack()
        for _ in range(3):
            call.audio.fifo.push(loud if name != "c" else np.zeros(960, np.int16))

    def peak(name: str) -> int:
        mix = outputs[name]._queue[-1]  # samples: `opus` is off, the tick queues raw mix
        assert isinstance(mix, np.ndarray)
        return int(mix.max())

    mixer.tick(0.0)
    assert peak("c") == 32767  # 60000 clipped, not wrapped around
    assert peak("a") == 30000  # b only: a's own audio is not in it
    conference.participants["a"].is_muted = True
    mixer.tick(0.02)
    assert peak("c") == 30000  # a muted: out of everyone's mix
    assert peak("b") == 0


async def test_video_is_rescaled_off_the_loop_once_per_frame(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Receivers of one source frame share one conversion, made in the mixer's video
    thread, never on the event loop."""
    import threading

    from agent.node.media import video

    threads: list[int] = []
    convert = video.to_yuv

    def spy(frame: av.VideoFrame, size: tuple[int, int] | None) -> Any:
        threads.append(threading.get_ident())
        return convert(frame, size)

    monkeypatch.setattr(video, "to_yuv", spy)
    rescaler = video.Rescaler()
    latest = video.LatestFrame(rescaler, (64, 48))
    try:
        assert await latest.yuv() is None  # nothing received yet
        picture = np.full((240 * 3 // 2, 320), 90, np.uint8)
        latest.put(av.VideoFrame.from_ndarray(picture, format="yuv420p"))
        shown = await asyncio.gather(*(latest.yuv() for _ in range(5)))
        assert all(s is not None and s.shape == (72, 64) for s in shown)
        assert all(s is shown[0] for s in shown)
        assert await latest.yuv() is shown[0]  # cached until the next frame
        latest.put(av.VideoFrame.from_ndarray(picture, format="yuv420p"))
        assert await latest.yuv() is not shown[0]
        assert len(threads) == 2
        assert threading.get_ident() not in threads
    finally:
        rescaler.close()
