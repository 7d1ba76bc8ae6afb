"""Presentation: a second call next to the main one.

Receiving: when someone else starts presenting, a receive-only video call with
`present: "receive"` is placed, and its encoded frames go to the plugins as
`PresentationMedia` (so a recorder can keep slides apart from the main video); it is hung
up on `presentation_stop`. Sending: `take_floor`, then a send-only video call with
`present: "send"` from a source; `release_floor` when done.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from aiortc import MediaStreamTrack

from ..config import MediaConfig
from ..infinity import TransportError
from ..infinity.errors import InfinityError
from ..infinity.session import InfinitySession
from ..media.peer import MediaPeer, SdpError
from ..media.tap import EncodedFrame
from .call import MediaSetupError, ice_settings
from .plugins import PluginHost

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PresentationMedia:
    """An encoded frame of the presentation (slides) stream."""

    frame: EncodedFrame

    hook = "on_presentation_media"


class PresentationCall:
    def __init__(
        self,
        session: InfinitySession,
        media: MediaConfig,
        plugins: PluginHost,
        direction: Literal["receive", "send"],
        source: MediaStreamTrack | None = None,
    ) -> None:
        if direction == "send" and source is None:
            raise ValueError("sending a presentation needs a video source")
        self.session = session
        self.media = media
        self.plugins = plugins
        self.direction = direction
        self.source = source
        self.peer: MediaPeer | None = None
        self.call_uuid: str | None = None
        self._unsubscribe: list[Callable[[], None]] = []

    async def start(self) -> None:
        sending = self.direction == "send"
        peer = MediaPeer(
            ice_settings(self.session, self.media),
            audio=None,
            video="sendonly" if sending else "recvonly",
            video_source=self.source,
            # Slides can be still for minutes: never call that a media loss.
            media_timeout=24 * 3600,
            name=f"presentation-{self.direction}",
        )
        self.peer = peer
        me = self.session.me
        try:
            if sending:
                await me.take_floor()
            offer = await peer.create_offer()
            result = await me.calls_webrtc(offer, present=self.direction)
            self.call_uuid = result.call_uuid
            await peer.apply_answer(result.sdp)
            await peer.wait_connected(peer.connect_timeout)
            await me.call(result.call_uuid).ack()
        except (SdpError, InfinityError, TransportError, TimeoutError) as exc:
            await self.aclose()
            raise MediaSetupError(f"presentation {self.direction} failed: {exc}") from exc
        if not sending and self.plugins.wants_encoded:
            for tap in peer.taps.values():
                self._unsubscribe.append(tap.subscribe(self._frame))
        log.info("presentation %s call %s up", self.direction, self.call_uuid)

    def _frame(self, frame: EncodedFrame) -> None:
        self.plugins.publish_media(PresentationMedia(frame))

    async def aclose(self) -> None:
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe.clear()
        me = self.session.me
        if self.call_uuid is not None:
            call_uuid, self.call_uuid = self.call_uuid, None
            try:
                await me.call(call_uuid).disconnect()
            except (InfinityError, TransportError) as exc:
                log.info("presentation call disconnect failed: %s", exc)
        if self.direction == "send":
            try:
                await me.release_floor()
            except (InfinityError, TransportError) as exc:
                log.info("release_floor failed: %s", exc)
        if self.peer is not None:
            await self.peer.close()
            self.peer = None
