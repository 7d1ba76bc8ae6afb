"""The node's media plane: one mixer per conference, the `MediaHandler` of all its calls.

Design, and why:

- Audio. A single task per conference ticks every 20 ms (`Pacer`, the loop's monotonic
  clock). Reader tasks move each main call's decoded audio (aiortc decodes in its own
  threads) into a small per-call jitter buffer (`_Fifo`). Each tick takes one 20 ms chunk
  per call, runs the energy VAD on it, adds the chunks of unmuted participants once into an
  int32 total, and gives every acked call `clip(total - own)` as int16 (mix-minus: n
  subtractions instead of n sums of n-1). Calls that contribute nothing share one clipped
  array. The per-tick numpy work is tens of microseconds, so the loop never stalls.
- Mute is read from the conference state on every tick (`ParticipantState.is_muted`, which
  participant `mute`/`unmute` and `muteguests`/`unmuteguests` maintain), so there is no
  second copy of it to keep in sync.
- The tick is the only audio clock: each call's `MixTrack` returns what the tick queued
  (bounded, oldest dropped). With Opus negotiated (always, in practice) the tick hands all
  mixes of that tick to one encoder thread as a single job and queues the packets it
  returns; aiortc then only packetizes them. Letting aiortc encode each frame instead costs
  an event-loop round trip per frame per sender, which capped senders at ~33 frames/s
  with 10 participants on 2 cores (bench/node_media.py).
- Stage. Participants ordered by speech (speaking ones by most recent onset, then by when
  they last stopped, then never-spoke ones in join order), `vad` 100 while speaking.
  Published to everyone when it differs from the last published one, at most every
  `MediaConfig.stage_interval` seconds (a change inside the interval goes out later).
- Video. Readers keep each call's latest decoded frame. Each call's `SpeakerTrack`, paced
  at `video_fps`, picks its source (see `video_source`), scales it with PyAV `reformat` once
  per source frame (cached, shared by all receivers) and sends a fresh frame per receiver:
  aiortc's encoder sets `pict_type` on the frame it encodes, and new frames start with
  `pict_type` NONE (decoded frames may carry `I`, which would make every frame a keyframe).
- Presentation. The send call of `conference.presenter` is the slide source; every
  `present: "receive"` call's `SlideTrack` re-sends its latest frame at `presentation_fps`;
  `slide_jpeg()` serves `presentation.jpeg`; `presentation_frame` events (at most 1/s) tell
  clients a new slide is there. Who presents is conference state (`take_floor`, a send
  call; see `NodeContext.start_presentation`): the mixer only follows it.

Every task (tick loop, readers) is owned by the mixer, cancelled when its call closes or
when the node stops (`NodeMedia.close`).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import fractions
import logging
import time
from collections import deque
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any

import av
import numpy as np
import numpy.typing as npt
from aiortc import MediaStreamTrack
from aiortc.mediastreams import MediaStreamError

from agent.media.sources import (
    AUDIO_PTIME,
    AUDIO_TIME_BASE,
    SAMPLE_RATE,
    SAMPLES_PER_FRAME,
    Pacer,
    audio_frame,
    video_frame,
)
from agent.media.vad import EnergyVad

from ..config import MediaConfig
from ..state import ConferenceState
from .peer import NodePeer

log = logging.getLogger(__name__)

Samples = npt.NDArray[np.int16]
Yuv = npt.NDArray[np.uint8]

SILENCE: Samples = np.zeros(SAMPLES_PER_FRAME, dtype=np.int16)
SPEAKING = 100
FRAME_EVENT_INTERVAL = 1.0  # seconds between `presentation_frame` events
# Encoder-thread jobs (one per tick) allowed in flight; beyond, a tick's audio is dropped
# so that an overloaded node loses audio instead of piling up latency.
MAX_PENDING_ENCODES = 5


def black_yuv(width: int, height: int) -> Yuv:
    yuv = np.full((height * 3 // 2, width), 128, dtype=np.uint8)
    yuv[:height] = 16
    return yuv


def _clip(total: npt.NDArray[np.int32]) -> Samples:
    return np.clip(total, -32768, 32767).astype(np.int16)


class _Fifo:
    """A small jitter buffer of decoded mono samples for one call.

    Output starts once `PRIME` samples are buffered (so network jitter does not turn into
    alternating gaps) and restarts priming after an underflow; beyond `LIMIT` the oldest
    samples are dropped, which bounds latency when the sender's clock runs fast.
    """

    PRIME = 2 * SAMPLES_PER_FRAME
    LIMIT = 6 * SAMPLES_PER_FRAME

    def __init__(self) -> None:
        self._chunks: deque[Samples] = deque()
        self._size = 0
        self._primed = False
        self.dropped = 0

    def push(self, samples: Samples) -> None:
        self._chunks.append(samples)
        self._size += samples.size
        while self._size > self.LIMIT:
            self.dropped += self._chunks[0].size
            self._size -= self._chunks.popleft().size

    def pop(self) -> Samples | None:
        if not self._primed:
            if self._size < self.PRIME:
                return None
            self._primed = True
        if self._size < SAMPLES_PER_FRAME:
            self._primed = False
            return None
        self._size -= SAMPLES_PER_FRAME
        head = self._chunks[0]
        if head.size == SAMPLES_PER_FRAME:  # the usual case: 20 ms Opus frames
            return self._chunks.popleft()
        parts: list[Samples] = []
        need = SAMPLES_PER_FRAME
        while need:
            head = self._chunks[0]
            if head.size <= need:
                parts.append(self._chunks.popleft())
                need -= head.size
            else:
                parts.append(head[:need])
                self._chunks[0] = head[need:]
                need = 0
        return np.concatenate(parts)


class _ToMono:
    """Decoded AudioFrame -> mono int16 at 48 kHz (aiortc's Opus decoder gives s16 stereo)."""

    def __init__(self) -> None:
        self._resampler: av.AudioResampler | None = None

    def __call__(self, frame: av.AudioFrame) -> list[Samples]:
        if frame.format.name == "s16" and frame.sample_rate == SAMPLE_RATE:
            channels = len(frame.layout.channels)
            data = frame.to_ndarray().reshape(-1, channels)
            if channels == 1:
                return [np.ascontiguousarray(data[:, 0])]
            return [(data.astype(np.int32).sum(axis=1) // channels).astype(np.int16)]
        if self._resampler is None:  # other codecs (G.711, G.722): rare, so lazily
            self._resampler = av.AudioResampler(format="s16", layout="mono", rate=SAMPLE_RATE)
        return [
            np.asarray(f.to_ndarray(), np.int16).reshape(-1)
            for f in self._resampler.resample(frame)
        ]


class MixTrack(MediaStreamTrack):
    """One call's outgoing audio: whatever the mixer's tick queued, one item per 20 ms.

    With Opus negotiated (`opus = True`, set on ack) the items are Opus packets the mixer
    encoded in its worker thread (`encode`), returned as `av.Packet`: aiortc then only
    packetizes them. That matters under load: aiortc's sender awaits an executor hop per
    frame it encodes itself, so a busy event loop caps every sender below 50 frames/s,
    whereas queued packets are drained without yielding. Otherwise the items are samples,
    returned as AudioFrames for aiortc to encode.
    """

    kind = "audio"

    def __init__(self) -> None:
        super().__init__()
        # 100 ms: if the sender falls further behind, old mix is dropped rather than delayed.
        self._queue: deque[Samples | av.Packet[Any]] = deque(maxlen=5)
        self._ready = asyncio.Event()
        self._n = 0
        self.opus = False
        self._codec: Any = None  # touched only by the mixer's encoder thread
        self._encoded = 0
        self.dropped = 0

    def push(self, item: Samples | av.Packet[Any]) -> None:
        if len(self._queue) == self._queue.maxlen:
            self.dropped += 1
        self._queue.append(item)
        self._ready.set()

    def encode(self, samples: Samples) -> list[av.Packet[Any]]:
        """Encode one 20 ms mix to Opus (mono: valid in an opus/48000/2 stream, and cheaper).

        Runs in the mixer's single encoder thread, never concurrently for one track.
        """
        if self._codec is None:
            codec = av.CodecContext.create("libopus", "w")
            codec.bit_rate = 64000
            codec.format = "s16"
            codec.layout = "mono"
            codec.sample_rate = SAMPLE_RATE
            codec.time_base = fractions.Fraction(1, SAMPLE_RATE)
            self._codec = codec
        frame = audio_frame(samples, self._encoded * SAMPLES_PER_FRAME)
        self._encoded += 1
        return list(self._codec.encode(frame))

    async def recv(self) -> av.AudioFrame | av.Packet[Any]:
        while not self._queue:
            if self.readyState != "live":
                raise MediaStreamError
            self._ready.clear()
            await self._ready.wait()
        if self.readyState != "live":
            raise MediaStreamError
        item = self._queue.popleft()
        pts = self._n * SAMPLES_PER_FRAME
        self._n += 1
        if isinstance(item, av.Packet):
            # Our own continuous timeline: aiortc takes the RTP timestamp from it.
            item.pts = pts
            item.time_base = AUDIO_TIME_BASE
            return item
        return audio_frame(item, pts)

    def stop(self) -> None:
        super().stop()
        self._ready.set()


Encoded = list[tuple[MixTrack, list["av.Packet[Any]"]]]  # av.Packet is generic for typing only


def _encode_batch(jobs: list[tuple[MixTrack, Samples]]) -> Encoded:
    return [(track, track.encode(samples)) for track, samples in jobs]


class _PacedVideoTrack(MediaStreamTrack):
    """A paced outgoing video track that starts sending once its call is acked."""

    kind = "video"

    def __init__(self, fps: float) -> None:
        super().__init__()
        self._pacer = Pacer(1 / fps)
        self._ticks = round(90000 / fps)
        self.acked = asyncio.Event()

    async def _next(self) -> int:
        await self.acked.wait()
        if self.readyState != "live":
            raise MediaStreamError
        return await self._pacer.next()

    def stop(self) -> None:
        super().stop()
        self.acked.set()


class SpeakerTrack(_PacedVideoTrack):
    """One call's outgoing main video: the source the mixer picks for this receiver."""

    def __init__(self, mixer: ConferenceMixer, call: _MainCall) -> None:
        super().__init__(mixer.config.video_fps)
        self._mixer = mixer
        self._call = call

    async def recv(self) -> av.VideoFrame:
        n = await self._next()
        if self.readyState != "live":
            raise MediaStreamError
        return video_frame(self._mixer.video_for(self._call), n * self._ticks)


class SlideTrack(_PacedVideoTrack):
    """A `present: "receive"` call's video: the current slide, nothing while none."""

    def __init__(self, mixer: ConferenceMixer, participant_uuid: str) -> None:
        super().__init__(mixer.config.presentation_fps)
        self._mixer = mixer
        self._participant_uuid = participant_uuid

    async def recv(self) -> av.VideoFrame:
        while True:
            n = await self._next()
            if self.readyState != "live":
                raise MediaStreamError
            yuv = self._mixer.slide_for(self._participant_uuid)
            if yuv is not None:
                return video_frame(yuv, n * self._ticks)


@dataclass(frozen=True)
class _Shown:
    uuid: str
    since: float
    speaker: bool  # chosen as a speaker (held), or as the fallback picture (not held)


@dataclass(eq=False)
class _Call:
    peer: NodePeer
    tasks: set[asyncio.Task[None]] = field(default_factory=set)

    @property
    def participant_uuid(self) -> str:
        return self.peer.participant_uuid


@dataclass(eq=False)
class _MainCall(_Call):
    """A main call: audio in/out, video in/out."""

    order: int = 0
    fifo: _Fifo = field(default_factory=_Fifo)
    vad: EnergyVad = field(default_factory=EnergyVad)
    acked: bool = False
    has_audio_in: bool = False
    audio_out: MixTrack | None = None
    video_out: SpeakerTrack | None = None
    video: av.VideoFrame | None = None
    video_seq: int = 0
    scaled: Yuv | None = None
    scaled_seq: int = -1


@dataclass(eq=False)
class _SendCall(_Call):
    """A `present: "send"` call: its video is a slide source."""

    frame: av.VideoFrame | None = None
    seq: int = 0
    yuv: Yuv | None = None
    yuv_seq: int = -1


@dataclass(eq=False)
class _ReceiveCall(_Call):
    track: SlideTrack | None = None


@dataclass
class _Speech:
    order: int
    speaking: bool = False
    onset: float = 0.0
    last_spoken: float = 0.0  # 0: never spoke


class ConferenceMixer:
    """The media of one conference (see the module docstring)."""

    def __init__(self, conference: ConferenceState, config: MediaConfig) -> None:
        self.conference = conference
        self.config = config
        self._mains: dict[str, _MainCall] = {}  # by call uuid
        self._senders: dict[str, _SendCall] = {}
        self._receivers: dict[str, _ReceiveCall] = {}
        self._speech: dict[str, _Speech] = {}  # by participant uuid
        self._joins = 0
        self._order: list[str] = []  # participant uuids, stage order
        # receiver participant uuid -> whose video it is shown, since when
        self._shown: dict[str, _Shown] = {}
        self._published: tuple[tuple[str, int], ...] | None = None
        self._published_at = float("-inf")
        self._frame_event_at = float("-inf")
        self._frame_event_seq = -1
        self._black = black_yuv(config.video_width, config.video_height)
        self._loop_task: asyncio.Task[None] | None = None
        # Opus encoding of all mixes, one job per tick, off the event loop (see MixTrack).
        self._encoder: concurrent.futures.ThreadPoolExecutor | None = None
        self._pending_encodes = 0
        self.encode_overruns = 0
        self.ticks = 0
        self.tick_seconds = 0.0  # CPU spent in ticks (for the benchmark and diagnostics)

    # -- MediaHandler ----------------------------------------------------------------------

    def prepare(self, peer: NodePeer) -> None:
        call = self._call(peer)
        if isinstance(call, _MainCall):
            if call.audio_out is None and self._free_transceiver(peer, "audio"):
                call.audio_out = MixTrack()
                peer.pc.addTrack(call.audio_out)
            if call.video_out is None and self._free_transceiver(peer, "video"):
                call.video_out = SpeakerTrack(self, call)
                peer.pc.addTrack(call.video_out)
        elif (
            isinstance(call, _ReceiveCall)
            and call.track is None
            and self._free_transceiver(peer, "video")
        ):
            call.track = SlideTrack(self, peer.participant_uuid)
            peer.pc.addTrack(call.track)

    def on_track(self, peer: NodePeer, track: MediaStreamTrack) -> None:
        call = self._call(peer)
        if isinstance(call, _MainCall) and track.kind == "audio" and not call.has_audio_in:
            call.has_audio_in = True
            self._spawn(call, self._read_audio(call, track), "mixer-audio-in")
        elif isinstance(call, _MainCall) and track.kind == "video":
            self._spawn(call, self._read_video(call, track), "mixer-video-in")
        elif isinstance(call, _SendCall) and track.kind == "video":
            self._spawn(call, self._read_slides(call, track), "mixer-slides-in")
        else:
            self._spawn(call, self._drain(peer, track), "mixer-drain")

    def on_ack(self, peer: NodePeer) -> None:
        call = self._call(peer)
        if isinstance(call, _MainCall):
            if call.audio_out is not None:
                call.audio_out.opus = any(
                    kind == "audio" and name.lower() == "opus"
                    for kind, name, _ in peer.negotiated_codecs().values()
                )
            call.acked = True
            if call.video_out is not None:
                call.video_out.acked.set()
        elif isinstance(call, _ReceiveCall) and call.track is not None:
            call.track.acked.set()

    async def on_close(self, peer: NodePeer) -> None:
        uuid = peer.call_uuid
        call: _Call | None = (
            self._mains.pop(uuid, None)
            or self._senders.pop(uuid, None)
            or self._receivers.pop(uuid, None)
        )
        if call is None:
            return
        for track in (
            getattr(call, "audio_out", None),
            getattr(call, "video_out", None),
            getattr(call, "track", None),
        ):
            if track is not None:
                track.stop()
        await _cancel(call.tasks)
        if not any(c.participant_uuid == call.participant_uuid for c in self._mains.values()):
            self._speech.pop(call.participant_uuid, None)
            self._shown.pop(call.participant_uuid, None)
        if not (self._mains or self._senders or self._receivers):
            await self.close()

    async def close(self) -> None:
        """Stop the tick loop (a new call restarts it) and every call's tasks."""
        task, self._loop_task = self._loop_task, None
        tasks: set[asyncio.Task[None]] = {task} if task is not None else set()
        for call in [*self._mains.values(), *self._senders.values(), *self._receivers.values()]:
            tasks |= call.tasks
        await _cancel(tasks)
        encoder, self._encoder = self._encoder, None
        if encoder is not None:
            # Queued jobs are dropped; a running one (< 1 ms per call) finishes on its own.
            encoder.shutdown(wait=False, cancel_futures=True)
        self._pending_encodes = 0

    # -- calls and tasks -------------------------------------------------------------------

    def _call(self, peer: NodePeer) -> _Call:
        uuid = peer.call_uuid
        existing = self._mains.get(uuid) or self._senders.get(uuid) or self._receivers.get(uuid)
        if existing is not None:
            return existing
        call: _Call
        if peer.present == "send":
            call = self._senders[uuid] = _SendCall(peer)
        elif peer.present == "receive":
            call = self._receivers[uuid] = _ReceiveCall(peer)
        else:
            self._joins += 1
            call = self._mains[uuid] = _MainCall(peer, order=self._joins)
            if peer.participant_uuid not in self._speech:
                self._speech[peer.participant_uuid] = _Speech(order=self._joins)
        if self._loop_task is None:
            self._loop_task = asyncio.create_task(self._run(), name="mixer-tick")
        return call

    @staticmethod
    def _free_transceiver(peer: NodePeer, kind: str) -> bool:
        # Only m-lines the client offered: addTrack would otherwise add a new one, which an
        # answer cannot have.
        return any(
            t.kind == kind and t.sender.track is None and not t.stopped
            for t in peer.pc.getTransceivers()
        )

    @staticmethod
    def _spawn(call: _Call, coro: Coroutine[Any, Any, None], name: str) -> None:
        task = asyncio.create_task(coro, name=f"{name}:{call.peer.call_uuid}")
        call.tasks.add(task)
        task.add_done_callback(call.tasks.discard)

    @staticmethod
    def _count(peer: NodePeer, kind: str) -> None:
        peer.frames_received[kind] = peer.frames_received.get(kind, 0) + 1

    async def _drain(self, peer: NodePeer, track: MediaStreamTrack) -> None:
        with contextlib.suppress(MediaStreamError):
            while True:
                await track.recv()
                self._count(peer, track.kind)

    async def _read_audio(self, call: _MainCall, track: MediaStreamTrack) -> None:
        to_mono = _ToMono()
        with contextlib.suppress(MediaStreamError):
            while True:
                frame = await track.recv()
                self._count(call.peer, "audio")
                if not isinstance(frame, av.AudioFrame):
                    continue
                for samples in to_mono(frame):
                    call.fifo.push(samples)

    async def _read_video(self, call: _MainCall, track: MediaStreamTrack) -> None:
        with contextlib.suppress(MediaStreamError):
            while True:
                frame = await track.recv()
                self._count(call.peer, "video")
                if isinstance(frame, av.VideoFrame):
                    call.video = frame
                    call.video_seq += 1

    async def _read_slides(self, call: _SendCall, track: MediaStreamTrack) -> None:
        with contextlib.suppress(MediaStreamError):
            while True:
                frame = await track.recv()
                self._count(call.peer, "video")
                if isinstance(frame, av.VideoFrame):
                    call.frame = frame
                    call.seq += 1

    # -- the tick: audio mix, stage, presentation_frame ------------------------------------

    async def _run(self) -> None:
        pacer = Pacer(AUDIO_PTIME)
        while True:
            await pacer.next()
            started = time.process_time()
            try:
                self.tick(time.monotonic())
            except Exception:  # one bad tick must not end the conference's media
                log.exception("mixer tick failed")
            self.tick_seconds += time.process_time() - started
            self.ticks += 1

    def tick(self, now: float) -> None:
        participants = self.conference.participants
        total: npt.NDArray[np.int32] | None = None
        own: dict[str, npt.NDArray[np.int32]] = {}
        speaking: dict[str, bool] = {}
        for call in self._mains.values():
            chunk = call.fifo.pop()
            participant = participants.get(call.participant_uuid)
            muted = participant is None or participant.is_muted
            active = call.vad.process(SILENCE if chunk is None else chunk) and not muted
            speaking[call.participant_uuid] = speaking.get(call.participant_uuid, False) or active
            if chunk is None or muted:
                continue
            wide = chunk.astype(np.int32)
            total = wide if total is None else total + wide
            mine = own.get(call.participant_uuid)
            own[call.participant_uuid] = wide if mine is None else mine + wide
        shared = SILENCE if total is None else _clip(total)
        # A test call plays each participant's own media back to it (a loopback check).
        loopback = self.conference.service.kind == "test_call"
        jobs: list[tuple[MixTrack, Samples]] = []
        for call in self._mains.values():
            if not call.acked or call.audio_out is None:
                continue
            mine = own.get(call.participant_uuid)
            if loopback:
                mix = SILENCE if mine is None else _clip(mine)
            else:
                mix = shared if mine is None or total is None else _clip(total - mine)
            if call.audio_out.opus:
                jobs.append((call.audio_out, mix))
            else:
                call.audio_out.push(mix)
        if jobs:
            self._encode(jobs)
        self._update_stage(speaking, now)
        self._frame_event(now)

    def _encode(self, jobs: list[tuple[MixTrack, Samples]]) -> None:
        if self._pending_encodes >= MAX_PENDING_ENCODES:
            self.encode_overruns += 1
            return
        if self._encoder is None:
            self._encoder = concurrent.futures.ThreadPoolExecutor(
                max_workers=1, thread_name_prefix="mixer-opus"
            )
        self._pending_encodes += 1
        future = asyncio.get_running_loop().run_in_executor(self._encoder, _encode_batch, jobs)
        future.add_done_callback(self._encoded)

    def _encoded(self, future: asyncio.Future[Encoded]) -> None:
        self._pending_encodes = max(0, self._pending_encodes - 1)
        if future.cancelled():
            return
        if future.exception() is not None:
            log.error("mixer audio encoding failed", exc_info=future.exception())
            return
        for track, packets in future.result():
            for packet in packets:
                track.push(packet)

    def _update_stage(self, speaking: dict[str, bool], now: float) -> None:
        for uuid, active in speaking.items():
            speech = self._speech.get(uuid)
            if speech is None:
                continue
            if active and not speech.speaking:
                speech.onset = now
            if active or speech.speaking:
                speech.last_spoken = now
            speech.speaking = active

        def rank(uuid: str) -> tuple[int, float]:
            s = self._speech[uuid]
            if s.speaking:
                return (2, s.onset)
            if s.last_spoken:
                return (1, s.last_spoken)
            return (0, -s.order)

        self._order = sorted(self._speech, key=rank, reverse=True)
        stage = tuple((u, SPEAKING if self._speech[u].speaking else 0) for u in self._order)
        if stage == self._published or now - self._published_at < self.config.stage_interval:
            return
        self._published = stage
        self._published_at = now
        self.conference.events.publish(
            "stage",
            [
                {"participant_uuid": uuid, "stage_index": index, "vad": vad}
                for index, (uuid, vad) in enumerate(stage)
            ],
        )

    def stage(self) -> list[tuple[str, bool]]:
        """The current stage order as (participant uuid, speaking)."""
        return [(u, self._speech[u].speaking) for u in self._order if u in self._speech]

    # -- video -----------------------------------------------------------------------------

    def video_source(self, participant_uuid: str) -> _MainCall | None:
        """Whose video `participant_uuid` sees.

        The most recent speaker other than itself (so the active speaker sees the previous
        one) who sends video; if no such speaker, the first other participant with video
        (join order); None (black) if nobody else sends video.
        """
        with_video: dict[str, _MainCall] = {}
        if self.conference.service.kind == "test_call":
            mine = [c for c in self._mains.values() if c.participant_uuid == participant_uuid]
            return next((c for c in mine if c.video is not None), None)
        for call in self._mains.values():
            if call.video is not None and call.participant_uuid != participant_uuid:
                with_video.setdefault(call.participant_uuid, call)
        choice: _MainCall | None = None
        speaker = False
        for uuid in self._order:
            # `_order` is recomputed on the next tick: a call that just closed may linger.
            speech = self._speech.get(uuid)
            if speech is not None and speech.last_spoken and uuid in with_video:
                choice, speaker = with_video[uuid], True
                break
        else:
            choice = next(iter(with_video.values()), None)
        # Hold a speaker's picture for a moment after a switch (see `video_switch_hold`), so
        # two people talking at once do not make it flap. A fallback picture (nobody has
        # spoken yet) gives way to the first speaker at once.
        now = time.monotonic()
        shown = self._shown.get(participant_uuid)
        if (
            shown is not None
            and shown.speaker
            and shown.uuid in with_video
            and choice is not None
            and shown.uuid != choice.participant_uuid
            and now - shown.since < self.config.video_switch_hold
        ):
            return with_video[shown.uuid]
        if choice is not None and (
            shown is None or shown.uuid != choice.participant_uuid or shown.speaker != speaker
        ):
            self._shown[participant_uuid] = _Shown(choice.participant_uuid, now, speaker)
        return choice

    def video_for(self, call: _MainCall) -> Yuv:
        source = self.video_source(call.participant_uuid)
        if source is None or source.video is None:
            return self._black
        if source.scaled_seq != source.video_seq:
            # Once per source frame, shared by every receiver of this source.
            scaled = source.video.reformat(
                width=self.config.video_width,
                height=self.config.video_height,
                format="yuv420p",
            )
            source.scaled = np.asarray(scaled.to_ndarray(), dtype=np.uint8)
            source.scaled_seq = source.video_seq
        assert source.scaled is not None
        return source.scaled

    # -- presentation ----------------------------------------------------------------------

    def _slide_source(self) -> _SendCall | None:
        presenter = self.conference.presenter
        if presenter is None:
            return None
        latest: _SendCall | None = None
        for call in self._senders.values():
            if call.participant_uuid == presenter and call.frame is not None:
                latest = call  # the newest send call of the presenter wins
        return latest

    def slide_frame(self) -> av.VideoFrame | None:
        source = self._slide_source()
        return None if source is None else source.frame

    def slide_for(self, participant_uuid: str) -> Yuv | None:
        """The slide for a receive call of `participant_uuid` (None: send nothing now)."""
        source = self._slide_source()
        participant = self.conference.participants.get(participant_uuid)
        if (
            source is None
            or source.frame is None
            or participant is None
            or not participant.rx_presentation
            or source.participant_uuid == participant_uuid
        ):
            return None
        if source.yuv_seq != source.seq:
            frame = source.frame
            # yuv420p needs even sizes.
            even = frame.reformat(
                width=frame.width & ~1, height=frame.height & ~1, format="yuv420p"
            )
            source.yuv = np.asarray(even.to_ndarray(), dtype=np.uint8)
            source.yuv_seq = source.seq
        return source.yuv

    def _frame_event(self, now: float) -> None:
        source = self._slide_source()
        if source is None or source.seq == self._frame_event_seq:
            return
        if now - self._frame_event_at < FRAME_EVENT_INTERVAL:
            return
        self._frame_event_seq = source.seq
        self._frame_event_at = now
        self.conference.events.publish(
            "presentation_frame", None, exclude=(source.participant_uuid,)
        )

    async def slide_jpeg(self) -> bytes | None:
        """The latest slide as a JPEG (None when nobody presents or no frame arrived yet)."""
        frame = self.slide_frame()
        if frame is None:
            return None
        # A 1080p JPEG takes milliseconds: off the event loop.
        return await asyncio.to_thread(encode_jpeg, frame)


def encode_jpeg(frame: av.VideoFrame) -> bytes:
    width, height = frame.width & ~1, frame.height & ~1
    codec = av.CodecContext.create("mjpeg", "w")
    codec.width = width
    codec.height = height
    codec.pix_fmt = "yuvj420p"
    codec.time_base = fractions.Fraction(1, 1)
    image = frame.reformat(width=width, height=height, format="yuvj420p")
    image.pts = 0
    packets = [*codec.encode(image), *codec.encode(None)]
    return b"".join(bytes(p) for p in packets)


async def _cancel(tasks: set[asyncio.Task[None]]) -> None:
    pending = [t for t in tasks if t is not asyncio.current_task()]
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)


class NodeMedia:
    """The node's media: a `ConferenceMixer` per conference, created on first use."""

    def __init__(self, config: MediaConfig) -> None:
        self.config = config
        self._mixers: dict[str, ConferenceMixer] = {}

    def mixer(self, conference: ConferenceState) -> ConferenceMixer:
        mixer = self._mixers.get(conference.name)
        if mixer is None:
            mixer = self._mixers[conference.name] = ConferenceMixer(conference, self.config)
        return mixer

    def existing(self, conference: ConferenceState) -> ConferenceMixer | None:
        return self._mixers.get(conference.name)

    async def close(self) -> None:
        for mixer in self._mixers.values():
            await mixer.close()
