"""Presentation: a second call next to the main one.

Receiving: when someone else starts presenting, a receive-only video call with
`present: "receive"` is placed, and its encoded frames go to the plugins as
`PresentationMedia` (so a recorder can keep slides apart from the main video); it is hung
up on `presentation_stop`. Sending: `take_floor`, then a send-only video call with
`present: "send"` from a source; `release_floor` when done.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Literal

from aiortc import MediaStreamTrack

from ..config import MediaConfig
from ..infinity import InfinitySession, TransportError
from ..infinity.errors import InfinityError
from ..media.peer import MediaPeer
from ..media.tap import EncodedFrame
from .call import ice_settings
from .items import PresentationMedia
from .leg import CallLeg, MediaSetupError
from .plugins import PluginHost

__all__ = ["PresentationCall"]

log = logging.getLogger(__name__)


class PresentationCall:
    def __init__(
        self,
        session: InfinitySession,
        media: MediaConfig,
        plugins: PluginHost,
        direction: Literal["receive", "send"],
        source: MediaStreamTrack | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if direction == "send" and source is None:
            raise ValueError("sending a presentation needs a video source")
        self.session = session
        self.media = media
        self.plugins = plugins
        self.direction = direction
        self.source = source
        self.peer: MediaPeer | None = None
        self._leg: CallLeg | None = None
        self._clock = clock
        self._unsubscribe: list[Callable[[], None]] = []

    @property
    def call_uuid(self) -> str | None:
        return self._leg.call_uuid if self._leg is not None else None

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
            clock=self._clock,
        )
        self.peer = peer
        self._leg = CallLeg(
            self.session, peer, present=self.direction, what=f"presentation {self.direction}"
        )
        try:
            if sending:
                try:
                    await self.session.me.take_floor()
                except (InfinityError, TransportError) as exc:
                    raise MediaSetupError(f"presentation send: take_floor failed: {exc}") from exc
            await self._leg.connect()
        except MediaSetupError:
            await self.aclose()
            raise
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
        if self._leg is not None:
            await self._leg.hangup()
        if self.direction == "send":
            try:
                await self.session.me.release_floor()
            except (InfinityError, TransportError) as exc:
                log.info("release_floor failed: %s", exc)
        if self.peer is not None:
            await self.peer.close()
            self.peer = None
