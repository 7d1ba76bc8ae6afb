"""The node's media plane: one mixer per conference, the `MediaHandler` of all its calls.

`ConferenceMixer` keeps the calls (`calls.py`) and runs one tick per conference every
20 ms (`Pacer`, the loop's monotonic clock) that drives the rest:

- audio (`audio.py`): each main call's decoded audio goes into a jitter buffer; the tick
  mixes one chunk of each (mix-minus) and hands the mixes to one Opus encoder thread;
- stage (`stage.py`): the tick's VAD results order the participants by speech and publish
  `stage` events;
- video (`fanout.py`, `sourcevideo.py`): the source `video_source` picks for each receiver
  is decoded (only while shown), encoded once per tick at `video_fps` in the conference's
  video thread, and the same packets go to every receiver of it (lip-synced to the
  source's audio path);
- slides (`slides.py`): the presenter's send call feeds every receive call and
  `presentation.jpeg`; the tick announces new slides;
- impairment (`impair.py`): each call's transports are handed to the node's
  `Impairments` when the offer created them (loss, jitter, delay, bandwidth on purpose).
- silent video (`silent.py`): with detection on, the tick marks video whose picture stops
  changing `is_video_silent`, and `video_source` no longer shows it.

A breakout room is a conference of its own, so it has a mixer of its own: whoever is moved
there hears and sees the room only.

Mute is read from the conference state on every tick (`ParticipantState.is_muted`, which
participant `mute`/`unmute` and `muteguests`/`unmuteguests` maintain), so there is no
second copy of it to keep in sync.

Every task (tick loop, readers) is owned by the mixer, cancelled when its call closes or
when the node stops (`NodeMedia.close`); its worker threads stop with it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import cast

from aiortc import MediaStreamTrack, RTCRtpReceiver

from agent.media.pacing import AUDIO_PTIME, Pacer
from agent.media.sender import hook_keyframe_requests

from ..config import NodeMediaConfig
from ..state import ConferenceState
from .audio import AudioMix, MixTrack
from .calls import Call, MainCall, ReceiveCall, SendCall, cancel
from .fanout import VideoFanout
from .impair import Impairments
from .peer import NodePeer, drain
from .silent import SilentVideoWatch
from .slides import Slides
from .sourcevideo import SourceVideo
from .stage import Stage
from .video import LatestFrame, PacedVideoTrack, Rescaler, SpeakerChoice

log = logging.getLogger(__name__)

#: libopus' encoder lookahead (312 samples): the mix comes out of the encoder that late.
OPUS_LOOKAHEAD = 312 / 48000


class ConferenceMixer:
    """The media of one conference (see the module docstring)."""

    def __init__(
        self,
        conference: ConferenceState,
        config: NodeMediaConfig,
        impairments: Impairments | None = None,
    ) -> None:
        self.conference = conference
        self.config = config
        self.impairments = impairments
        self._mains: dict[str, MainCall] = {}  # by call uuid
        self._receivers: dict[str, ReceiveCall] = {}
        self.slides = Slides(conference)
        self._stage = Stage(config.stage_interval)
        self._audio = AudioMix()
        self._rescaler = Rescaler()
        self._choice = SpeakerChoice(config.video_switch_hold)
        self._silent = SilentVideoWatch(conference)
        self._joins = 0
        self.video = VideoFanout(
            (config.video_width, config.video_height),
            config.video_fps,
            self._rescaler,
            self.video_source,
            # The fan-out only shows main calls: every source it hands back is one.
            lambda source: audio_delay(cast(MainCall, source)),
        )
        self._loop_task: asyncio.Task[None] | None = None
        self._video_task: asyncio.Task[None] | None = None
        self.ticks = 0
        self.tick_seconds = 0.0  # CPU spent in ticks (for the benchmark and diagnostics)

    @property
    def encode_overruns(self) -> int:
        return self._audio.encode_overruns

    # -- MediaHandler ----------------------------------------------------------------------

    def prepare(self, peer: NodePeer) -> None:
        call = self._call(peer)
        if self.impairments is not None:  # the offer made the transports: impair them
            self.impairments.track(peer.pc, peer.participant_uuid, self._name_of(peer))
        if isinstance(call, MainCall):
            if call.audio.out is None and self._free_transceiver(peer, "audio"):
                call.audio.out = MixTrack()
                peer.pc.addTrack(call.audio.out)
            if call.video_out is None and self._free_transceiver(peer, "video"):
                call.video_out = self.video.track_for(call)
                # The receiver's PLI/FIR reaches the encoding it is shown.
                hook_keyframe_requests(peer.pc.addTrack(call.video_out))
        elif (
            isinstance(call, ReceiveCall)
            and call.track is None
            and self._free_transceiver(peer, "video")
        ):
            uuid = peer.participant_uuid
            call.track = PacedVideoTrack(
                self.config.presentation_fps, lambda: self.slides.for_receiver(uuid)
            )
            peer.pc.addTrack(call.track)

    def on_track(self, peer: NodePeer, track: MediaStreamTrack) -> None:
        call = self._call(peer)
        if isinstance(call, MainCall) and track.kind == "audio" and not call.audio.reading:
            call.audio.reading = True
            receiver = _receiver_of(peer, track)
            if receiver is not None:
                call.audio.attach(receiver)
            call.spawn(call.audio.read(track, peer.counted), "mixer-audio-in")
        elif isinstance(call, MainCall) and track.kind == "video":
            receiver = _receiver_of(peer, track)
            if receiver is not None:
                call.video.attach(receiver, peer.counted, call.spawn)
            call.spawn(call.video.read(track), "mixer-video-in")
        elif isinstance(call, SendCall) and track.kind == "video":
            call.spawn(call.slide.read(track, peer.counted), "mixer-slides-in")
        else:
            call.spawn(drain(peer, track), "mixer-drain")

    def on_ack(self, peer: NodePeer) -> None:
        call = self._call(peer)
        if isinstance(call, MainCall):
            if call.audio.out is not None:
                call.audio.out.opus = any(
                    kind == "audio" and name.lower() == "opus"
                    for kind, name, _ in peer.negotiated_codecs().values()
                )
            call.audio.sending = True
            if call.video_out is not None:
                call.video_out.acked.set()
        elif isinstance(call, ReceiveCall) and call.track is not None:
            call.track.acked.set()

    def _name_of(self, peer: NodePeer) -> Callable[[], str]:
        uuid = peer.participant_uuid

        def name() -> str:
            participant = self.conference.participants.get(uuid)
            return participant.display_name if participant is not None else ""

        return name

    async def on_close(self, peer: NodePeer) -> None:
        if self.impairments is not None:
            await self.impairments.forget(peer.pc)
        uuid = peer.call_uuid
        call: Call | None = (
            self._mains.pop(uuid, None)
            or self.slides.senders.pop(uuid, None)
            or self._receivers.pop(uuid, None)
        )
        if call is None:
            return
        if isinstance(call, MainCall):
            self.video.remove(call)
        await call.close()
        if not any(c.participant_uuid == call.participant_uuid for c in self._mains.values()):
            self._stage.leave(call.participant_uuid)
            self._choice.forget(call.participant_uuid)
            self._silent.forget(call.participant_uuid)
        if not (self._mains or self.slides.senders or self._receivers):
            await self.close()

    async def close(self) -> None:
        """Stop the tick loop (a new call restarts it), every call's tasks and the worker
        threads."""
        tasks: set[asyncio.Task[None]] = {
            t for t in (self._loop_task, self._video_task) if t is not None
        }
        self._loop_task = self._video_task = None
        for call in self._calls():
            tasks |= call.tasks
        await cancel(tasks)
        self.video.close()
        self._audio.close()
        self._rescaler.close()

    # -- calls -----------------------------------------------------------------------------

    def _calls(self) -> list[Call]:
        return [*self._mains.values(), *self.slides.senders.values(), *self._receivers.values()]

    def _call(self, peer: NodePeer) -> Call:
        uuid = peer.call_uuid
        existing = (
            self._mains.get(uuid) or self.slides.senders.get(uuid) or self._receivers.get(uuid)
        )
        if existing is not None:
            return existing
        call: Call
        if peer.present == "send":
            call = self.slides.senders[uuid] = SendCall(peer, LatestFrame(self._rescaler, None))
        elif peer.present == "receive":
            call = self._receivers[uuid] = ReceiveCall(peer)
        else:
            self._joins += 1
            call = self._mains[uuid] = MainCall(peer, self._joins, SourceVideo(time.monotonic))
            self._stage.join(peer.participant_uuid, self._joins)
        if self._loop_task is None:
            self._loop_task = asyncio.create_task(self._run(), name="mixer-tick")
        if self._video_task is None and self._mains:
            self._video_task = asyncio.create_task(self.video.run(), name="mixer-video-tick")
        return call

    @staticmethod
    def _free_transceiver(peer: NodePeer, kind: str) -> bool:
        # Only m-lines the client offered: addTrack would otherwise add a new one, which an
        # answer cannot have.
        return any(
            t.kind == kind and t.sender.track is None and not t.stopped
            for t in peer.pc.getTransceivers()
        )

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

        def muted(uuid: str) -> bool:
            participant = participants.get(uuid)
            return participant is None or participant.is_muted

        speaking = self._audio.tick(
            (call.audio for call in self._mains.values()),
            muted,
            # A test call plays each participant's own media back to it (a loopback check).
            loopback=self.conference.service.kind == "test_call",
        )
        stage = self._stage.update(speaking, now)
        if stage is not None:
            self.conference.events.publish("stage", stage)
        self.slides.tick(now)
        self._silent.tick(now, self._mains.values())

    def stage(self) -> list[tuple[str, bool]]:
        """The current stage order as (participant uuid, speaking)."""
        return self._stage.current()

    # -- video -----------------------------------------------------------------------------

    def video_source(self, participant_uuid: str) -> MainCall | None:
        """Whose video `participant_uuid` sees.

        The most recent speaker other than itself (so the active speaker sees the previous
        one) who sends video; if no such speaker, the first other participant with video
        (join order); None (black) if nobody else sends video. A test call shows each
        participant its own video.
        """
        if self.conference.service.kind == "test_call":
            mine = [c for c in self._mains.values() if c.participant_uuid == participant_uuid]
            return next((c for c in mine if c.video.active), None)
        with_video: dict[str, MainCall] = {}
        participants = self.conference.participants
        for call in self._mains.values():
            uuid = call.participant_uuid
            sender = participants.get(uuid)
            silent = sender is not None and sender.is_video_silent
            if call.video.active and uuid != participant_uuid and not silent:
                with_video.setdefault(uuid, call)
        return self._choice.choose(
            participant_uuid, with_video, self._stage.speakers(), time.monotonic()
        )

    async def slide_jpeg(self) -> bytes | None:
        """The latest slide as a JPEG (None when nobody presents or no frame arrived yet)."""
        return await self.slides.jpeg()


def _receiver_of(peer: NodePeer, track: MediaStreamTrack) -> RTCRtpReceiver | None:
    return next((t.receiver for t in peer.pc.getTransceivers() if t.receiver.track is track), None)


def audio_delay(call: MainCall) -> float:
    """How long ago the audio of `call` the mixer sends now arrived (s): what the chunk
    mixed last had waited since its packet arrived (measured, `AudioLeg`), and the Opus
    encoder's lookahead."""
    return call.audio.fifo.waited + OPUS_LOOKAHEAD


class NodeMedia:
    """The node's media: a `ConferenceMixer` per conference, created on first use."""

    def __init__(self, config: NodeMediaConfig) -> None:
        self.config = config
        self._mixers: dict[str, ConferenceMixer] = {}
        #: Loss, jitter, delay, bandwidth on the calls' RTP (`impair.py`), live-settable.
        self.impairments = Impairments(config.impairment)

    def mixer(self, conference: ConferenceState) -> ConferenceMixer:
        mixer = self._mixers.get(conference.name)
        if mixer is None:
            mixer = self._mixers[conference.name] = ConferenceMixer(
                conference, self.config, self.impairments
            )
        return mixer

    def existing(self, conference: ConferenceState) -> ConferenceMixer | None:
        return self._mixers.get(conference.name)

    async def forget(self, conference: ConferenceState) -> None:
        """The conference is gone (a closed breakout room): stop and drop its mixer."""
        mixer = self._mixers.pop(conference.name, None)
        if mixer is not None:
            await mixer.close()

    async def close(self) -> None:
        for mixer in self._mixers.values():
            await mixer.close()
        await self.impairments.close()
