"""The presentation: the presenter's send call is the slide source.

Every `present: "receive"` call's track re-sends the latest slide at `presentation_fps`
(see `ConferenceMixer.prepare`); `jpeg()` serves `presentation.jpeg`; `presentation_frame`
events (at most one per `FRAME_EVENT_INTERVAL`) tell clients a new slide is there. Who
presents is conference state (`take_floor`, a send call; see
`NodeContext.start_presentation`): the slides only follow it.
"""

from __future__ import annotations

import asyncio
import fractions

import av

from ..state import ConferenceState
from .calls import SendCall
from .video import Yuv

FRAME_EVENT_INTERVAL = 1.0  # seconds between `presentation_frame` events


class Slides:
    def __init__(self, conference: ConferenceState) -> None:
        self.conference = conference
        self.senders: dict[str, SendCall] = {}  # by call uuid
        self._frame_event_at = float("-inf")
        self._frame_event_seq = -1

    def source(self) -> SendCall | None:
        presenter = self.conference.presenter
        if presenter is None:
            return None
        latest: SendCall | None = None
        for call in self.senders.values():
            if call.participant_uuid == presenter and call.slide.frame is not None:
                latest = call  # the newest send call of the presenter wins
        return latest

    def frame(self) -> av.VideoFrame | None:
        source = self.source()
        return None if source is None else source.slide.frame

    async def for_receiver(self, participant_uuid: str) -> Yuv | None:
        """The slide for a receive call of `participant_uuid` (None: send nothing now)."""
        source = self.source()
        participant = self.conference.participants.get(participant_uuid)
        if (
            source is None
            or participant is None
            or not participant.rx_presentation
            or source.participant_uuid == participant_uuid
        ):
            return None
        return await source.slide.yuv()

    def tick(self, now: float) -> None:
        """Announce a new slide with `presentation_frame` (to everyone but the presenter)."""
        source = self.source()
        if source is None or source.slide.seq == self._frame_event_seq:
            return
        if now - self._frame_event_at < FRAME_EVENT_INTERVAL:
            return
        self._frame_event_seq = source.slide.seq
        self._frame_event_at = now
        self.conference.events.publish(
            "presentation_frame", None, exclude=(source.participant_uuid,)
        )

    async def jpeg(self) -> bytes | None:
        """The latest slide as a JPEG (None when nobody presents or no frame arrived yet)."""
        frame = self.frame()
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
