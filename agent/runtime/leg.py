"""One media leg under the bot's token: the REST handshake and the hang-up.

The main call and the presentation calls are both `calls` legs: offer -> `calls` ->
answer -> ICE/DTLS -> `ack`, and `disconnect` at the end. This is the one place that does
it, so the two cannot drift apart.
"""

from __future__ import annotations

import logging
from typing import Literal

from ..infinity import InfinitySession, TransportError
from ..infinity.errors import InfinityError
from ..media.peer import MediaPeer, SdpError

log = logging.getLogger(__name__)

#: What a failed handshake raises below us; turned into `MediaSetupError`.
_SETUP_ERRORS = (SdpError, InfinityError, TransportError, TimeoutError)


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
    ) -> None:
        self.session = session
        self.peer = peer
        self.present = present
        self.what = what
        self.call_uuid: str | None = None

    async def connect(self) -> None:
        """The handshake; raises `MediaSetupError` naming what failed (hang up after it)."""
        peer, me = self.peer, self.session.me
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
            await self.session.me.call(call_uuid).disconnect()
        except (InfinityError, TransportError, RuntimeError) as exc:
            log.info("%s disconnect failed: %s", self.what, exc)
