"""MediaPeer: the bot's side of one WebRTC call, over aiortc's RTCPeerConnection.

It speaks SDP strings only (the REST signalling lives elsewhere):

- `create_offer()` returns a complete offer: aiortc gathers every candidate inside
  `setLocalDescription`, so the SDP already holds them (non-trickle). Gathering runs inside
  the peer's ICE host-address scope (see `agent.media.ice`).
- `apply_answer(sdp)` for the `calls`/`update` answer; `answer(offer_sdp)` for
  server-initiated `new_offer`/`update_sdp`.
- Codecs are restricted to Opus and VP8: the encoded tap, the recorder (WebM) and the
  pre-encoded sources (`agent.media.loops`, `agent.media.files`) rely on them, and
  Infinity supports both. Every sender passes the receiver's keyframe requests on to a
  pre-encoded source (`agent.media.sender`).
- Every receiver gets an `EncodedTap` with decoding off; `decoded_track(kind)` turns
  decoding on for consumers that want samples/pixels (aiortc otherwise decodes every
  frame into a queue nobody reads).
- Media loss: a watchdog reports once, through `wait_media_lost()` and `on_media_lost`
  callbacks, when ICE/connection failed, the remote closed the connection, the connection
  was not established within `connect_timeout`, or no encoded frame arrived on any
  receiver for `media_timeout` seconds after connecting.
- `close()` cancels and awaits the watchdog, closes the RTCPeerConnection and stops the
  fill sources the peer created itself (caller-provided sources belong to the caller).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from aiortc import (
    MediaStreamTrack,
    RTCPeerConnection,
    RTCRtpReceiver,
    RTCRtpSender,
    RTCRtpTransceiver,
    RTCSessionDescription,
)
from aiortc.rtcrtpparameters import RTCRtpCodecCapability

from .demux import install_rtp_demux
from .ice import IceSettings, close_peer_connection
from .inbound import HandlerTasks, check_inbound_seam, deliver_srtp_directly
from .pacing import SilenceSource
from .ratecounter import install_compact_rate_counter
from .rtpclock import install_fast_clock
from .sender import hook_keyframe_requests
from .tap import EncodedTap

log = logging.getLogger(__name__)

Kind = Literal["audio", "video"]
Direction = Literal["sendrecv", "sendonly", "recvonly", "inactive"]
PREFERRED_CODECS: dict[str, str] = {"audio": "audio/opus", "video": "video/VP8"}


class SdpError(ValueError):
    """An SDP could not be created or applied; the message says which and why."""


@dataclass(frozen=True)
class MediaLost:
    reason: Literal["no_media", "ice_failed", "connection_failed", "closed", "connect_timeout"]
    detail: str


def _preferred(kind: str) -> list[RTCRtpCodecCapability]:
    caps = RTCRtpSender.getCapabilities(kind)
    wanted = PREFERRED_CODECS[kind].lower()
    codecs = [c for c in caps.codecs if c.mimeType.lower() == wanted]
    # keep RTX for video so NACK retransmissions still work
    codecs += [c for c in caps.codecs if c.mimeType.lower().endswith("/rtx")]
    return codecs


def _check_sdp_text(sdp: str, what: str) -> None:
    if not isinstance(sdp, str) or not sdp.strip():
        raise SdpError(f"{what}: empty SDP")
    if not sdp.lstrip().startswith("v=0"):
        raise SdpError(f"{what}: does not start with 'v=0' (got {sdp[:20]!r})")
    if "\nm=" not in sdp.replace("\r\n", "\n"):
        raise SdpError(f"{what}: no media section (m= line)")


class MediaPeer:
    """One WebRTC peer with an audio and/or a video transceiver."""

    def __init__(
        self,
        ice: IceSettings | None = None,
        *,
        audio: Direction | None = "sendrecv",
        video: Direction | None = "sendrecv",
        audio_source: MediaStreamTrack | None = None,
        video_source: MediaStreamTrack | None = None,
        media_timeout: float = 5.0,
        connect_timeout: float = 15.0,
        name: str = "peer",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ice = ice or IceSettings()
        #: Stamps arrivals and measures silence (the bot's clock; tests may drive it).
        self.clock = clock
        self.name = name
        self.media_timeout = media_timeout
        self.connect_timeout = connect_timeout
        self._directions: dict[str, Direction] = {}
        if audio is not None:
            self._directions["audio"] = audio
        if video is not None:
            self._directions["video"] = video
        self._sources: dict[str, MediaStreamTrack | None] = {
            "audio": audio_source,
            "video": video_source,
        }
        self._owned_sources: list[MediaStreamTrack] = []
        install_rtp_demux()  # RTP/RTCP skip aioice's STUN parse (`agent.media.demux`)
        install_fast_clock()  # aiortc's per-packet clock without datetime
        install_compact_rate_counter()  # no 1,000 objects per video receiver
        check_inbound_seam()  # a moved seam fails here, not once connected
        self.pc = RTCPeerConnection(self.ice.configuration())
        self.taps: dict[str, EncodedTap] = {}
        self._tapped: set[int] = set()
        self._state_callbacks: list[Callable[[str], None]] = []
        self._lost_callbacks: list[Callable[[MediaLost], None]] = []
        self._lost: asyncio.Future[MediaLost] | None = None
        self._connected = asyncio.Event()
        self._connected_at: float | None = None
        self._watchdog: asyncio.Task[None] | None = None
        #: Received-packet handlers that suspended (`agent.media.inbound`; none in aiortc 1.16).
        self._handlers = HandlerTasks()
        self._closing = False
        self._transceivers_ready = False
        self.pc.on("connectionstatechange", self._on_connection_state)
        self.pc.on("iceconnectionstatechange", self._on_ice_state)

    # -- state -------------------------------------------------------------------------

    @property
    def connection_state(self) -> str:
        return str(self.pc.connectionState)

    @property
    def ice_connection_state(self) -> str:
        return str(self.pc.iceConnectionState)

    @property
    def connected_at(self) -> float | None:
        """When the connection (ICE + DTLS) first reached `connected`, on `clock`."""
        return self._connected_at

    def on_state_change(self, callback: Callable[[str], None]) -> Callable[[], None]:
        """`callback(connection_state)` on every change; returns an unsubscribe function."""
        self._state_callbacks.append(callback)
        return lambda: self._state_callbacks.remove(callback)

    def on_media_lost(self, callback: Callable[[MediaLost], None]) -> None:
        self._lost_callbacks.append(callback)

    async def wait_connected(self, timeout: float | None = None) -> None:
        async with asyncio.timeout(timeout):
            await self._connected.wait()

    async def wait_media_lost(self) -> MediaLost:
        return await asyncio.shield(self._lost_future())

    @property
    def media_lost(self) -> MediaLost | None:
        if self._lost is not None and self._lost.done():
            return self._lost.result()
        return None

    def _lost_future(self) -> asyncio.Future[MediaLost]:
        if self._lost is None:
            self._lost = asyncio.get_running_loop().create_future()
        return self._lost

    def report_lost(self, reason: MediaLost) -> None:
        """Declare the media lost from outside (e.g. the node said `call_disconnected`)."""
        self._report_lost(reason)

    def _report_lost(self, reason: MediaLost) -> None:
        if self._closing:
            return
        future = self._lost_future()
        if future.done():
            return
        log.info("%s: media lost (%s: %s)", self.name, reason.reason, reason.detail)
        future.set_result(reason)
        for callback in list(self._lost_callbacks):
            try:
                callback(reason)
            except Exception:
                log.exception("media-lost callback failed")

    def _on_connection_state(self) -> None:
        state = self.connection_state
        if state == "connected":
            # Received SRTP from the datagram callback, without aioice's queue hop.
            for transceiver in self.pc.getTransceivers():
                deliver_srtp_directly(transceiver.receiver.transport, self._handlers)
        if state == "connected" and not self._connected.is_set():
            self._connected_at = self.clock()
            self._connected.set()
        elif state == "failed":
            self._report_lost(MediaLost("connection_failed", "connection state failed"))
        elif state == "closed":
            self._report_lost(MediaLost("closed", "connection closed by the remote side"))
        for callback in list(self._state_callbacks):
            try:
                callback(state)
            except Exception:
                log.exception("state callback failed")

    def _on_ice_state(self) -> None:
        if self.ice_connection_state == "failed":
            self._report_lost(MediaLost("ice_failed", "ICE connection state failed"))

    # -- transceivers and taps -----------------------------------------------------------

    def _source_for(self, kind: str) -> MediaStreamTrack:
        source = self._sources.get(kind)
        if source is None:
            if kind == "audio":
                source = SilenceSource()
            else:
                from .loops import LoopTrack, black_loop  # noqa: PLC0415 (numpy: senders only)

                source = LoopTrack(black_loop())
            self._owned_sources.append(source)
            self._sources[kind] = source
        return source

    def replace_source(self, kind: str, track: MediaStreamTrack) -> None:
        """Send `track` instead of the current `kind` source (no renegotiation needed)."""
        for transceiver in self.pc.getTransceivers():
            if transceiver.kind == kind and transceiver.direction in ("sendrecv", "sendonly"):
                old = self._sources.get(kind)
                transceiver.sender.replaceTrack(track)
                self._sources[kind] = track
                if old is not None and old in self._owned_sources:
                    self._owned_sources.remove(old)
                    old.stop()
                return
        raise ValueError(
            f"{self.name}: this call does not send {kind}; "
            f"place it with a {kind} source (media.{kind}) to replace it later"
        )

    def _ensure_transceivers(self) -> None:
        if self._transceivers_ready:
            return
        self._transceivers_ready = True
        for kind, direction in self._directions.items():
            transceiver = self.pc.addTransceiver(kind, direction=direction)
            self._setup(transceiver)

    def _setup(self, transceiver: RTCRtpTransceiver) -> None:
        kind = transceiver.kind
        transceiver.setCodecPreferences(_preferred(kind))
        # Pre-encoded sources (packet tracks) hear the receiver's PLI/FIR through this.
        hook_keyframe_requests(transceiver.sender)
        if transceiver.direction in ("sendrecv", "sendonly"):
            transceiver.sender.replaceTrack(self._source_for(kind))
        self._tap(transceiver.receiver, kind)

    def _tap(self, receiver: RTCRtpReceiver, kind: str) -> None:
        if id(receiver) in self._tapped:
            return
        self._tapped.add(id(receiver))
        tap = EncodedTap(receiver, clock=self.clock)
        # The first receiver of a kind is the main one; later ones (e.g. slides) by index.
        key = kind if kind not in self.taps else f"{kind}{len(self._tapped)}"
        self.taps[key] = tap

    def _tap_new_transceivers(self) -> None:
        for transceiver in self.pc.getTransceivers():
            if id(transceiver.receiver) not in self._tapped:
                transceiver.setCodecPreferences(_preferred(transceiver.kind))
                hook_keyframe_requests(transceiver.sender)
                self._tap(transceiver.receiver, transceiver.kind)

    def tap(self, kind: str = "audio") -> EncodedTap:
        """The encoded-frame tap of the main receiver of `kind`."""
        try:
            return self.taps[kind]
        except KeyError:
            raise KeyError(f"{self.name}: no {kind} receiver") from None

    def decoded_track(self, kind: str = "audio") -> MediaStreamTrack:
        """Turn decoding on for `kind` and return the remote track to `recv()` from."""
        tap = self.tap(kind)
        tap.decode = True
        track = tap.receiver.track
        if track is None:
            raise RuntimeError(f"{self.name}: no remote {kind} track yet (apply SDP first)")
        return track

    # -- SDP ---------------------------------------------------------------------------

    async def create_offer(self) -> str:
        """A complete offer (all candidates included), set as the local description."""
        self._ensure_transceivers()
        try:
            offer = await self.pc.createOffer()
            with self.ice.scope():
                await self.pc.setLocalDescription(offer)
        except Exception as exc:
            raise SdpError(f"{self.name}: creating the local offer failed: {exc}") from exc
        return str(self.pc.localDescription.sdp)

    async def apply_answer(self, sdp: str) -> None:
        """Apply the remote answer to our offer."""
        _check_sdp_text(sdp, f"{self.name}: remote answer")
        if self.pc.signalingState != "have-local-offer":
            raise SdpError(
                f"{self.name}: remote answer arrived in signaling state "
                f"{self.pc.signalingState!r}, expected 'have-local-offer'"
            )
        try:
            await self.pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="answer"))
        except Exception as exc:
            raise SdpError(
                f"{self.name}: remote answer rejected: {type(exc).__name__}: {exc}"
            ) from exc
        self._start_watchdog()

    async def answer(self, offer_sdp: str) -> str:
        """Answer a remote offer (first offer or renegotiation); returns the complete answer."""
        _check_sdp_text(offer_sdp, f"{self.name}: remote offer")
        self._ensure_transceivers()
        try:
            await self.pc.setRemoteDescription(RTCSessionDescription(sdp=offer_sdp, type="offer"))
        except Exception as exc:
            raise SdpError(
                f"{self.name}: remote offer rejected: {type(exc).__name__}: {exc}"
            ) from exc
        self._tap_new_transceivers()
        try:
            answer = await self.pc.createAnswer()
            with self.ice.scope():
                await self.pc.setLocalDescription(answer)
        except Exception as exc:
            raise SdpError(f"{self.name}: creating the local answer failed: {exc}") from exc
        self._start_watchdog()
        return str(self.pc.localDescription.sdp)

    # -- watchdog ----------------------------------------------------------------------

    def _start_watchdog(self) -> None:
        self._lost_future()
        if self._watchdog is None and not self._closing:
            self._watchdog = asyncio.create_task(self._watch(), name=f"media-watchdog:{self.name}")

    def last_media_arrival(self) -> float | None:
        arrivals = [t.last_arrival for t in self.taps.values() if t.last_arrival is not None]
        return max(arrivals) if arrivals else None

    async def _watch(self) -> None:
        interval = max(0.05, min(self.media_timeout, self.connect_timeout) / 5)
        try:
            await asyncio.wait_for(self._connected.wait(), self.connect_timeout)
        except TimeoutError:
            self._report_lost(
                MediaLost("connect_timeout", f"not connected after {self.connect_timeout:g} s")
            )
            return
        while self.media_lost is None:
            await asyncio.sleep(interval)
            if not any(d in ("sendrecv", "recvonly") for d in self._directions.values()):
                continue  # send-only: nothing to watch
            now = self.clock()
            last = self.last_media_arrival() or self._connected_at or now
            silent = now - last
            if silent >= self.media_timeout:
                self._report_lost(MediaLost("no_media", f"no media received for {silent:.1f} s"))

    # -- teardown ----------------------------------------------------------------------

    async def close(self) -> None:
        """Stop the watchdog, close the connection, stop owned fill sources. Idempotent."""
        self._closing = True
        if self._watchdog is not None:
            self._watchdog.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watchdog
            self._watchdog = None
        await close_peer_connection(self.pc)
        await self._handlers.aclose()  # after the connection: no packet can start one now
        for source in self._owned_sources:
            source.stop()
        if self._lost is not None and not self._lost.done():
            # Waiters get an answer instead of a CancelledError they could mistake for theirs.
            self._lost.set_result(MediaLost("closed", "closed locally"))

    async def __aenter__(self) -> MediaPeer:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
