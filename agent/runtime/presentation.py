"""Presentation: a second call next to the main one.

Receiving: when someone else starts presenting, a receive-only video call with
`present: "receive"` is placed, and its encoded frames go to the plugins as
`PresentationMedia` (so a recorder can keep slides apart from the main video); it is hung
up on `presentation_stop`. Sending: `take_floor`, then a send-only video call with
`present: "send"` from a source; `release_floor` when done.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Set
from typing import Literal

from aiortc import MediaStreamTrack

from ..config import BotMediaConfig
from ..infinity import InfinitySession, TransportError
from ..infinity.errors import InfinityError
from ..infinity.models.events import PresentationStart, PresentationStop
from ..media.peer import MediaPeer
from ..media.tap import EncodedFrame
from .call import ice_settings
from .items import ItemSink, PresentationMedia
from .leg import CallLeg, MediaSetupError

__all__ = ["PresentationCall", "Presentations"]

log = logging.getLogger(__name__)


class PresentationCall:
    def __init__(
        self,
        session: InfinitySession,
        media: BotMediaConfig,
        plugins: ItemSink,
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


class Presentations:
    """The bot's one presentation call at a time: following someone else's presentation
    (receive) or presenting itself (send)."""

    def __init__(
        self,
        media: BotMediaConfig,
        plugins: ItemSink,
        *,
        receive: bool,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.media = media
        self.plugins = plugins
        #: Place a receiving call when someone else presents.
        self.receive = receive
        self.current: PresentationCall | None = None
        self._clock = clock
        self._task: asyncio.Task[None] | None = None

    async def follow(
        self,
        session: InfinitySession,
        event: PresentationStart | PresentationStop,
        own_uuids: Set[str],
    ) -> None:
        """Start receiving when someone else starts presenting; stop when it ends."""
        someone_else = (
            isinstance(event, PresentationStart)
            and bool(event.presenter_uuid)
            and event.presenter_uuid not in own_uuids
        )
        if someone_else and self.receive and self._task is None:
            call = self._call(session, "receive")
            self.current = call
            # In the background: the event stream must not wait for ICE.
            self._task = asyncio.create_task(self._receive(call), name="bot:presentation")
        elif not someone_else:
            await self.stop()

    async def _receive(self, call: PresentationCall) -> None:
        try:
            await call.start()
        except MediaSetupError as exc:
            log.warning("%s", exc)

    async def send(self, session: InfinitySession, source: MediaStreamTrack) -> None:
        """Take the floor and present `source` (replacing any presentation call)."""
        await self.stop()
        call = self._call(session, "send", source)
        await call.start()
        self.current = call

    def _call(
        self,
        session: InfinitySession,
        direction: Literal["receive", "send"],
        source: MediaStreamTrack | None = None,
    ) -> PresentationCall:
        return PresentationCall(
            session, self.media, self.plugins, direction, source, clock=self._clock
        )

    async def stop(self) -> None:
        task, self._task = self._task, None
        call, self.current = self.current, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        if call is not None:
            await call.aclose()
