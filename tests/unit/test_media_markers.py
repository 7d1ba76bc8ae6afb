"""Round-trip markers without a network: the probe's sources, a loop that delays what they
send by a known amount (through a real Opus decoder for audio, VP8 for video), and the
tracker that must find that delay again."""

from __future__ import annotations

from collections.abc import Callable

import av
import pytest
from aiortc.codecs.vpx import Vp8Decoder
from aiortc.jitterbuffer import JitterFrame

from agent.media.codecs import vp8_is_keyframe
from agent.media.markers import (
    MARKER_FREQUENCIES,
    AudioMarkerDetector,
    AudioMarkerSource,
    MarkerTracker,
    MarkerVideoSource,
)
from agent.media.sources import Pacer


class Clock:
    """Manual time: the sources stamp on it, the loop sets it."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


Sent = list[tuple[float, bytes]]


async def _packets(source: AudioMarkerSource, clock: Clock, count: int) -> Sent:
    out = []
    for n in range(count):
        clock.now = 100.0 + n * 0.02  # frame n leaves at its pacing time
        packet = await source.recv()
        out.append((clock.now, bytes(packet)))
    return out


def _decode(packets: list[tuple[float, bytes]]) -> list[tuple[float, av.AudioFrame]]:
    decoder = av.CodecContext.create("opus", "r")
    decoder.sample_rate = 48000
    decoder.layout = "stereo"
    frames = []
    for sent, data in packets:
        for frame in decoder.decode(av.Packet(data)):
            frames.append((sent, frame))
    return frames


@pytest.fixture
def patched_pacer(monkeypatch: pytest.MonkeyPatch) -> None:
    # The sources pace on the event loop; here frames are pulled as fast as needed.
    async def next_index(self: Pacer) -> int:
        self._n += 1
        return int(self._n)

    monkeypatch.setattr(Pacer, "next", next_index)


@pytest.mark.usefixtures("patched_pacer")
async def test_audio_markers_come_back_with_the_loop_delay() -> None:
    clock = Clock()
    source = AudioMarkerSource(period=1.0, clock=clock)
    sent = await _packets(source, clock, 50 * 10)  # 10 s: 10 markers
    assert source.markers_sent == 10
    tracker = MarkerTracker(source, None)
    delay = 0.237
    for sent_at, frame in _decode(sent):
        # The loop: each frame arrives `delay` after it was sent, complete 20 ms later.
        tracker.audio_frame(frame, sent_at + delay)
    assert [t.marker for t in tracker.audio] == list(range(10))
    for trip in tracker.audio:
        assert trip.latency_ms == pytest.approx(1000 * delay, abs=2.0)


@pytest.mark.usefixtures("patched_pacer")
async def test_markers_longer_than_a_period_apart_are_told_apart_by_frequency() -> None:
    clock = Clock()
    source = AudioMarkerSource(period=1.0, clock=clock)
    sent = await _packets(source, clock, 50 * 12)
    tracker = MarkerTracker(source, None)
    delay = 2.5  # each burst comes back after two more were sent
    for sent_at, frame in _decode(sent):
        if sent_at + delay <= clock.now:
            tracker.audio_frame(frame, sent_at + delay)
    assert [round(t.latency_ms) for t in tracker.audio] == [2500] * len(tracker.audio)
    assert len(tracker.audio) >= 9


def test_the_detector_reads_each_code_frequency() -> None:
    detector = AudioMarkerDetector()
    for code, frequency in enumerate(MARKER_FREQUENCIES):
        assert detector.code(frequency + 20) == code
    assert detector.code(MARKER_FREQUENCIES[0] - 150) is None


@pytest.mark.usefixtures("patched_pacer")
async def test_video_counters_come_back_through_vp8_with_the_loop_delay() -> None:
    clock = Clock()
    source = MarkerVideoSource(320, 240, 15, clock=clock, cycle=30)
    decoder = Vp8Decoder()
    tracker = MarkerTracker(None, source)
    delay = 0.180
    for n in range(45):  # one and a half cycles: counters repeat, frame numbers do not
        clock.now = 100.0 + n / 15
        packet = await source.recv()
        assert packet.pts == n * 6000
        for picture in decoder.decode(JitterFrame(bytes(packet), n * 6000)):
            assert isinstance(picture, av.VideoFrame)
            assert tracker.video_frame(picture, clock.now + delay) == n % 30
            tracker.video_frame(picture, clock.now + delay + 0.05)  # a repeat: no new trip
    assert sorted(tracker.video) == list(range(45))
    for trip in tracker.video.values():
        assert trip.latency_ms == pytest.approx(180.0, abs=0.01)


def test_the_video_cycle_starts_and_repeats_on_keyframes() -> None:
    source = MarkerVideoSource(160, 120, 15, clock=Clock(), cycle=60)
    keys = [i for i, data in enumerate(source._frames) if vp8_is_keyframe(data)]
    assert keys == [0, 30]
    with pytest.raises(ValueError, match="multiple of 30"):
        MarkerVideoSource(160, 120, 15, clock=Clock(), cycle=45)


@pytest.mark.usefixtures("patched_pacer")
async def test_lip_sync_is_audio_latency_minus_video_latency() -> None:
    clock = Clock()
    audio = AudioMarkerSource(period=1.0, clock=clock)
    video = MarkerVideoSource(160, 120, 50, clock=clock)  # one frame per audio frame
    tracker = MarkerTracker(audio, video)
    sent: list[tuple[float, bytes]] = []
    decoder = Vp8Decoder()
    for n in range(100):
        clock.now = 100.0 + n * 0.02
        sent.append((clock.now, bytes(await audio.recv())))
        packet = await video.recv()
        for picture in decoder.decode(JitterFrame(bytes(packet), n)):
            assert isinstance(picture, av.VideoFrame)
            tracker.video_frame(picture, clock.now + 0.100)
    for at, frame in _decode(sent):
        trip = tracker.audio_frame(frame, at + 0.160)
        if trip is not None:
            assert tracker.lip_sync_ms(trip) == pytest.approx(60.0, abs=21.0)
    assert tracker.audio  # at least one marker matched


def test_sources_refuse_a_bad_size() -> None:
    clock: Callable[[], float] = Clock()
    with pytest.raises(ValueError, match="even and at least 64x48"):
        MarkerVideoSource(63, 48, clock=clock)
