"""The node's side of one WebRTC call: an aiortc peer that answers the client's offer.

Media is delegated to a `MediaHandler`: it adds its outgoing tracks in `prepare` (before the
answer is created), gets every incoming track in `on_track`, starts sending on `on_ack`, and
lets go in `on_close`. The node's default handler is the conference mixer (`mixer.py`);
`DiscardMedia` only drains incoming tracks (tests and benchmarks that want no media cost).

ICE host candidates are gathered inside `ice_host_addresses(...)` (see `ice.py`), like the
bots' `MediaPeer` does.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from typing import Any, Protocol

from aiortc import (
    MediaStreamTrack,
    RTCConfiguration,
    RTCPeerConnection,
    RTCSessionDescription,
)
from aiortc.mediastreams import MediaStreamError
from aiortc.sdp import SessionDescription, candidate_from_sdp

from agent.media.demux import install_rtp_demux
from agent.media.ice import close_peer_connection
from agent.media.ratecounter import install_compact_rate_counter
from agent.media.rtpclock import install_fast_clock

from .ice import LOOPBACK, ice_host_addresses

log = logging.getLogger(__name__)


class PeerError(Exception):
    """The offer or candidate could not be used (bad SDP and the like)."""


class MediaHandler(Protocol):
    def prepare(self, peer: NodePeer) -> None: ...

    def on_track(self, peer: NodePeer, track: MediaStreamTrack) -> None: ...

    def on_ack(self, peer: NodePeer) -> None: ...

    async def on_close(self, peer: NodePeer) -> None: ...


class DiscardMedia:
    """Receives and drops everything (until the mixer exists)."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[None]] = set()

    def prepare(self, peer: NodePeer) -> None:
        return None

    def on_track(self, peer: NodePeer, track: MediaStreamTrack) -> None:
        task = asyncio.create_task(drain(peer, track))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def on_ack(self, peer: NodePeer) -> None:
        return None

    async def on_close(self, peer: NodePeer) -> None:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def drain(peer: NodePeer, track: MediaStreamTrack) -> None:
    """Receive and count an incoming track's frames until it ends."""
    with contextlib.suppress(MediaStreamError):
        while True:
            await track.recv()
            peer.counted(track.kind)


class NodePeer:
    def __init__(
        self,
        participant_uuid: str,
        call_uuid: str,
        media: MediaHandler,
        host_addresses: Sequence[str] = LOOPBACK,
        present: str | None = None,
    ) -> None:
        self.participant_uuid = participant_uuid
        self.call_uuid = call_uuid
        # None for a main call, "send"/"receive" for a presentation call.
        self.present = present
        self.media = media
        self.host_addresses = tuple(host_addresses)
        self.frames_received: dict[str, int] = {}
        self.acked = False
        # An explicit empty list: without it aiortc adds Google's public STUN server.
        install_rtp_demux()  # RTP/RTCP skip aioice's STUN parse
        install_fast_clock()  # aiortc's per-packet clock without datetime
        install_compact_rate_counter()  # no 1,000 objects per video receiver
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.pc.on("track", self._on_track)
        self._closed = False

    def counted(self, kind: str) -> None:
        """One more frame of `kind` received (`/_node/state` shows the counts)."""
        self.frames_received[kind] = self.frames_received.get(kind, 0) + 1

    def _on_track(self, track: MediaStreamTrack) -> None:
        self.media.on_track(self, track)

    @property
    def connection_state(self) -> str:
        return str(self.pc.connectionState)

    @property
    def ice_state(self) -> str:
        return str(self.pc.iceConnectionState)

    async def answer(self, offer_sdp: str) -> str:
        """Apply the client's offer and return a complete answer (candidates included)."""
        if not any(line.startswith("m=") for line in offer_sdp.splitlines()):
            # aiortc takes almost any text as an SDP with no media; a node refuses it, and
            # the existing connection must not be touched by it.
            raise PeerError("Invalid SDP offer: no media")
        try:
            await self.pc.setRemoteDescription(RTCSessionDescription(sdp=offer_sdp, type="offer"))
        except Exception as exc:  # aiortc raises ValueError/AssertionError/... on bad SDP
            raise PeerError(f"Invalid SDP offer: {exc}") from exc
        if not self.pc.getTransceivers() and self.pc.sctp is None:
            raise PeerError("Invalid SDP offer: no usable media")
        self.media.prepare(self)
        answer = await self.pc.createAnswer()
        with ice_host_addresses(self.host_addresses):
            await self.pc.setLocalDescription(answer)
        return str(self.pc.localDescription.sdp)

    async def update(self, offer_sdp: str) -> str:
        """Renegotiation: same as the first offer on the existing connection."""
        return await self.answer(offer_sdp)

    async def offer(self) -> str:
        """A server-initiated offer on the existing connection (sent as `new_offer`)."""
        offer = await self.pc.createOffer()
        with ice_host_addresses(self.host_addresses):
            await self.pc.setLocalDescription(offer)
        return str(self.pc.localDescription.sdp)

    @property
    def awaiting_answer(self) -> bool:
        return self.pc.signalingState == "have-local-offer"

    async def apply_answer(self, answer_sdp: str) -> None:
        """The client's answer to our `new_offer`, which arrives in `ack {sdp}`."""
        try:
            await self.pc.setRemoteDescription(RTCSessionDescription(sdp=answer_sdp, type="answer"))
        except Exception as exc:
            raise PeerError(f"Invalid SDP answer: {exc}") from exc

    def ack(self) -> None:
        if not self.acked:
            self.acked = True
            self.media.on_ack(self)

    async def add_candidate(self, candidate: str, mid: str) -> None:
        """Trickle ICE from the client; "" is end-of-candidates."""
        value = candidate.strip()
        if value.startswith("a="):
            value = value[2:]
        if value.startswith("candidate:"):
            value = value[len("candidate:") :]
        if not value:
            await self.pc.addIceCandidate(None)
            return
        try:
            parsed = candidate_from_sdp(value)
        except (AssertionError, ValueError, IndexError) as exc:
            raise PeerError(f"Invalid candidate: {exc}") from exc
        parsed.sdpMid = mid
        await self.pc.addIceCandidate(parsed)

    def negotiated_codecs(self) -> dict[str, tuple[str, str, int]]:
        """mid -> (kind, codec name, clock rate) of our answer: each m-line's first codec,
        the one aiortc sends with."""
        local = self.pc.localDescription
        if local is None:
            return {}
        out: dict[str, tuple[str, str, int]] = {}
        for media in SessionDescription.parse(local.sdp).media:
            if media.rtp.codecs and media.rtp.muxId:
                codec = media.rtp.codecs[0]
                name = codec.mimeType.split("/", 1)[-1]
                out[media.rtp.muxId] = (media.kind, name, int(codec.clockRate))
        return out

    async def stats(self) -> dict[str, Any]:
        report = await self.pc.getStats()
        return {key: vars(value) for key, value in report.items()}

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        await close_peer_connection(self.pc)
        await self.media.on_close(self)
