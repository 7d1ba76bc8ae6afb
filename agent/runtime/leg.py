"""One media leg under the bot's token: the REST handshake and the hang-up.

The main call and the presentation calls are both `calls` legs: offer -> `calls` ->
answer -> ICE/DTLS -> `ack`, and `disconnect` at the end. This is the one place that does
it, so the two cannot drift apart.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Literal, Protocol

from ..infinity import InfinitySession, TransportError
from ..infinity.errors import InfinityError
from ..infinity.models.participant_functions import CallsWebrtcResult
from ..media.peer import MediaPeer, SdpError

log = logging.getLogger(__name__)

#: What a failed handshake raises below us; turned into `MediaSetupError`.
_SETUP_ERRORS = (SdpError, InfinityError, TransportError, TimeoutError)


class CallFunctions(Protocol):
    """What a leg does on its call: `participants/<uuid>/calls/<call>/...`, in the main
    room or in a breakout room."""

    async def ack(self, *, sdp: str | None = None, offer_ignored: bool | None = None) -> bool: ...

    async def update(
        self, *, sdp: str | None = None, fecc_supported: bool | None = None
    ) -> str: ...

    async def disconnect(self) -> None: ...


class Seat(Protocol):
    """Where the bot places its calls: itself in the main room (`session.me`) or, for a host
    in a breakout room, its participant there (`breakouts.room(r).participant(uuid)`)."""

    async def calls_webrtc(
        self, sdp: str, *, present: Literal["send", "receive"] | None = None
    ) -> CallsWebrtcResult: ...

    def call(self, call_uuid: str) -> CallFunctions: ...


class MediaSetupError(Exception):
    """The call could not be set up (bad SDP, node refused `calls`, ICE never connected)."""


class CallLeg:
    """A `calls` leg of `peer`; `call_uuid` is set as soon as the node assigned one."""

    def __init__(
        self,
        session: InfinitySession,
        peer: MediaPeer,
        *,
        present: Literal["send", "receive"] | None = None,
        what: str = "call",
        seat: Callable[[], Seat] | None = None,
    ) -> None:
        self.session = session
        self.peer = peer
        self.present = present
        self.what = what
        self.call_uuid: str | None = None
        # Chosen once per leg: its call lives (and is hung up) where it was placed.
        self.seat: Seat = seat() if seat is not None else session.me

    async def connect(self) -> None:
        """The handshake; raises `MediaSetupError` naming what failed (hang up after it)."""
        peer, me = self.peer, self.seat
        try:
            offer = await peer.create_offer()
            result = await me.calls_webrtc(offer, present=self.present)
            self.call_uuid = result.call_uuid
            await peer.apply_answer(result.sdp)
            await peer.wait_connected(peer.connect_timeout)
            await me.call(result.call_uuid).ack()
        except _SETUP_ERRORS as exc:
            raise MediaSetupError(f"{self.what} setup failed: {exc}") from exc

    async def hangup(self) -> None:
        """`disconnect` the leg at the node (once; a failure is logged, not raised)."""
        call_uuid, self.call_uuid = self.call_uuid, None
        if call_uuid is None:
            return
        try:
            await self.seat.call(call_uuid).disconnect()
        except (InfinityError, TransportError, RuntimeError) as exc:
            log.info("%s disconnect failed: %s", self.what, exc)
