"""The bot's WebRTC call under its token: `calls`, answer, ICE, `ack`, server offers,
re-calls on media loss, hang-up.

This is the glue between the REST signalling (`agent.infinity`) and the media plane
(`agent.media`), so it lives in the runtime, which may import both. The call publishes what
the plugins asked for: encoded frames when a plugin wants them (cheap: no decoding) and
decoded frames only when a plugin wants samples or pixels.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any, Literal

from aiortc import MediaStreamTrack
from aiortc.mediastreams import MediaStreamError

from ..config import BotMediaConfig
from ..infinity import TransportError
from ..infinity.errors import InfinityError
from ..infinity.session import InfinitySession
from ..media.fileinfo import MediaSourceError, check_media_file
from ..media.ice import IceSettings, ice_servers_from_node
from ..media.peer import Direction, MediaLost, MediaPeer, SdpError
from ..media.tap import EncodedFrame
from .items import DecodedFrame, ItemSink
from .leg import CallLeg, MediaSetupError, Seat
from .states import Gap, GapCause

__all__ = ["BotCall", "MediaSetupError", "build_sources", "ice_settings", "source_modules"]

log = logging.getLogger(__name__)

#: How long a call lost in a breakout room waits for the room's end to be told (s).
ROOM_END_GRACE = 2.0


def _direction(send: bool, receive: bool) -> Direction | None:
    if send and receive:
        return "sendrecv"
    if send:
        return "sendonly"
    if receive:
        return "recvonly"
    return None


def _pattern(spec: str) -> MediaStreamTrack:
    """`pattern`, `pattern:640x480` or `pattern:640x480@30` (validated by the config), sent
    without encoding (the process's one encoded loop of it)."""
    from ..media.loops import LoopTrack, pattern_loop  # noqa: PLC0415

    _, _, size = spec.partition(":")
    if not size:
        return LoopTrack(pattern_loop())
    dims, _, fps = size.partition("@")
    width, height = (int(v) for v in dims.split("x"))
    return LoopTrack(pattern_loop(width, height, float(fps) if fps else 15.0))


def check_sources(media: BotMediaConfig) -> None:
    """Before joining: every `file:` source opens and has the stream it is sent as.

    Raises `MediaSourceError` (one line naming the file). Blocking file I/O: run it in a
    thread."""
    if media.audio.startswith("file:"):
        check_media_file(media.audio.removeprefix("file:"), audio=True)
    if media.video.startswith("file:"):
        check_media_file(media.video.removeprefix("file:"), video=True)


def source_modules(media: BotMediaConfig) -> list[str]:
    """The modules `build_sources` imports for `media`'s sources (the built-in loops bring
    numpy). `pexbot run` loads them before the bot joins, as it loads its plugins, so the
    join does not wait for them and a broken install fails before the bot is seen."""
    modules: list[str] = []
    for spec in (media.audio, media.video):
        if spec.startswith("file:"):
            modules.append("agent.media.files")
        elif spec == "silence":
            modules.append("agent.media.pacing")
        elif spec.startswith(("tone:", "pattern")) or spec == "black":
            modules.append("agent.media.loops")
    return modules


def build_sources(
    media: BotMediaConfig,
) -> tuple[MediaStreamTrack | None, MediaStreamTrack | None, list[Any]]:
    """Audio and video tracks for the configured sources, plus what must be stopped later.

    Nothing here encodes: built-in sources replay the process's encoded loops, files send
    their VP8/Opus packets (other codecs are decoded and encoded by aiortc off the loop).
    The modules behind them (numpy, encoders) are imported only by a bot that sends
    (hence the imports inside)."""
    owned: list[Any] = []
    audio: MediaStreamTrack | None = None
    video: MediaStreamTrack | None = None
    # One FileSource per file: audio and video from the same file stay in step.
    files: dict[str, set[str]] = {}
    for kind, spec in (("audio", media.audio), ("video", media.video)):
        if spec.startswith("file:"):
            files.setdefault(spec.removeprefix("file:"), set()).add(kind)
    for path, kinds in files.items():
        from ..media.files import FileSource  # noqa: PLC0415

        source = FileSource(path, audio="audio" in kinds, video="video" in kinds)
        owned.append(source)
        if "audio" in kinds:
            audio = source.audio
        if "video" in kinds:
            video = source.video
    if media.audio == "silence":
        from ..media.pacing import SilenceSource  # noqa: PLC0415

        audio = SilenceSource()
    elif media.audio.startswith("tone:"):
        from ..media.loops import LoopTrack, tone_loop  # noqa: PLC0415

        audio = LoopTrack(tone_loop(float(media.audio.removeprefix("tone:"))))
    if media.video == "black":
        from ..media.loops import LoopTrack, black_loop  # noqa: PLC0415

        video = LoopTrack(black_loop())
    elif media.video.startswith("pattern"):
        video = _pattern(media.video)
    owned.extend(t for t in (audio, video) if t is not None)
    return audio, video, owned


def ice_settings(session: InfinitySession, media: BotMediaConfig) -> IceSettings:
    """Exactly the STUN/TURN servers the node returned, and the configured host addresses."""
    joined = session.joined
    servers = ice_servers_from_node(joined.stun or [], joined.turn or [])
    return IceSettings(
        servers=tuple(servers),
        host_addresses=tuple(media.ice_host_addresses) or None,
        relay_only=bool(joined.use_relay_candidates_only),
    )


class BotCall:
    """One logical call that survives media loss by placing new `calls` (bounded)."""

    def __init__(
        self,
        session: InfinitySession,
        media: BotMediaConfig,
        plugins: ItemSink,
        *,
        clock: Callable[[], float] = time.monotonic,
        seat: Callable[[], Seat] | None = None,
        in_room: Callable[[], bool] = lambda: False,
        placed: Callable[[], None] = lambda: None,
        move_failed: Callable[[str], bool] = lambda why: False,
    ) -> None:
        self.session = session
        #: Where each new call is placed (None: the bot itself in the main room), and
        #: whether that is a breakout room.
        self._seat = seat
        self._in_room = in_room
        #: Told each time a call is up where `seat` says (no move pending): a host's move
        #: is done only then.
        self._placed = placed
        #: Told why the call could not be placed after a move; True when the seat was put
        #: back where the call was (it is placed there again), False to re-call.
        self._move_failed = move_failed
        self._placed_in_room = False
        self._relocating = False
        self._relocated = asyncio.Event()
        self.media = media
        self.plugins = plugins
        self.recalls = 0
        self.peer: MediaPeer | None = None
        self._leg: CallLeg | None = None
        self._clock = clock
        self._readers: list[asyncio.Task[None]] = []
        self._unsubscribe: list[Callable[[], None]] = []
        self._owned: list[Any] = []
        #: Sources a plugin set; they survive re-calls.
        self._overrides: dict[str, MediaStreamTrack] = {}
        self._closed = False

    @property
    def call_uuid(self) -> str | None:
        """The node's UUID of the current call (None between calls)."""
        return self._leg.call_uuid if self._leg is not None else None

    # -- setup -----------------------------------------------------------------------

    def _ice(self) -> IceSettings:
        return ice_settings(self.session, self.media)

    async def start(self) -> None:
        """Place the first call; raises `MediaSetupError` when it cannot be set up."""
        await self._place()
        self._report_placed()

    def _report_placed(self) -> None:
        if not self._relocating:  # else it moves on at once: it is not there yet
            self._placed()

    async def _place_again(self) -> None:
        """Hang up and drop the current call's media, then place a new call."""
        await self._hangup()
        await self._teardown()
        await self._place()

    async def _place(self) -> None:
        media = self.media
        try:
            audio_src, video_src, owned = build_sources(media)
        except MediaSourceError as exc:  # checked before joining; gone since (a re-call)
            raise MediaSetupError(str(exc)) from exc
        self._owned = owned
        audio_src = self._overrides.get("audio", audio_src)
        video_src = self._overrides.get("video", video_src)
        peer = MediaPeer(
            self._ice(),
            audio=_direction(audio_src is not None, media.receive_audio),
            video=_direction(video_src is not None, media.receive_video),
            audio_source=audio_src,
            video_source=video_src,
            media_timeout=media.media_timeout,
            name=f"bot:{self.session.options.display_name}",
            clock=self._clock,
        )
        self.peer = peer
        self._leg = CallLeg(self.session, peer, seat=self._seat)
        self._placed_in_room = self._in_room()
        try:
            await self._leg.connect()
        except MediaSetupError:
            await self._teardown()
            raise
        self._attach(peer)
        log.info("call %s connected", self.call_uuid)

    def _attach(self, peer: MediaPeer) -> None:
        plugins = self.plugins
        if plugins.wants_encoded:
            for tap in peer.taps.values():
                self._unsubscribe.append(tap.subscribe(self._encoded))
        wants: tuple[tuple[Literal["audio", "video"], bool], ...] = (
            ("audio", plugins.wants_audio_frames),
            ("video", plugins.wants_video_frames),
        )
        for kind, wanted in wants:
            if wanted and kind in peer.taps:
                track = peer.decoded_track(kind)
                self._readers.append(
                    asyncio.create_task(self._read(kind, track), name=f"call:decode:{kind}")
                )

    def _encoded(self, frame: EncodedFrame) -> None:
        self.plugins.publish_media(frame)

    async def _read(self, kind: Literal["audio", "video"], track: MediaStreamTrack) -> None:
        audio = kind == "audio"
        with contextlib.suppress(MediaStreamError):
            while True:
                frame = await track.recv()
                self.plugins.publish_media(
                    DecodedFrame(kind, frame, self._clock()), audio=audio, video=not audio
                )

    # -- staying up ------------------------------------------------------------------

    async def answer_server_offer(self, sdp: str) -> None:
        """`new_offer`/`update_sdp`: answer on the current peer, through `ack {sdp}`."""
        if self.peer is None or self.call_uuid is None:
            return
        try:
            answer = await self.peer.answer(sdp)
            assert self._leg is not None
            await self._leg.seat.call(self.call_uuid).ack(sdp=answer)
        except (SdpError, InfinityError, TransportError) as exc:
            # A renegotiation we cannot follow: replace the call rather than limp on.
            log.warning("server offer not answered: %s", exc)
            self.peer.report_lost(MediaLost("connection_failed", f"server offer: {exc}"))

    def set_source(self, kind: str, track: MediaStreamTrack) -> None:
        """Send `track` as the `kind` media from now on, also after re-calls."""
        if self.peer is not None:
            self.peer.replace_source(kind, track)
        self._overrides[kind] = track

    async def renegotiate(self) -> None:
        """Client-side renegotiation through `update` (e.g. after a media change)."""
        if self.peer is None or self.call_uuid is None:
            raise RuntimeError("no call to renegotiate")
        offer = await self.peer.create_offer()
        assert self._leg is not None
        answer = await self._leg.seat.call(self.call_uuid).update(sdp=offer)
        await self.peer.apply_answer(answer)
        # Pexip's SDK refreshes the token after a successful update; so do we.
        self.session.request_refresh()

    def server_disconnected_call(self, call_uuid: str) -> None:
        """`call_disconnected` for our call: treat it as media loss (a re-call follows)."""
        if self.peer is not None and call_uuid == self.call_uuid:
            self.peer.report_lost(MediaLost("closed", "call_disconnected by the node"))

    def relocate(self) -> None:
        """Hang up and place the call again where `seat` says now (a host entering or
        leaving a breakout room); not a re-call, and no `max_recalls` is spent on it."""
        if self.peer is not None and not self._closed:
            self._relocating = True
            self._relocated.set()
            self.peer.report_lost(MediaLost("closed", "moving the call"))

    async def wait_failed(self) -> str:
        """Re-call on media loss until `max_recalls` is spent; then say why it failed."""
        while True:
            assert self.peer is not None
            why = "moving the call"
            if not self._relocating:  # (a move asked for while this call was placed: go on)
                lost = await self.peer.wait_media_lost()
                why = f"{lost.reason}: {lost.detail}"
            if self._closed:
                return "closed"
            lost_at = self._clock()
            if self._placed_in_room and not self._relocating:
                # A room's calls end with the room, and the main stream's `breakout_end`
                # (which moves the call back) is only moments behind: no re-call for that.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._relocated.wait(), ROOM_END_GRACE)
            self._relocated.clear()
            moving, self._relocating = self._relocating, False
            cause: GapCause = "move" if moving else "recall"
            if moving:
                log.info("moving the call")
                failed = await self._move()
                if failed is not None:  # a re-call where the seat is now
                    gave_up = await self._recall(failed)
                    if gave_up is not None:
                        return gave_up
            else:
                log.warning("media lost (%s)", why)
                gave_up = await self._recall(why)
                if gave_up is not None:
                    return gave_up
            self.plugins.publish(Gap("media", lost_at, self._clock(), cause))

    async def _move(self) -> str | None:
        """Place the call where the seat says now; if it cannot be placed there, once more
        where the bot puts it back (`move_failed`). None when placed, else why not."""
        try:
            await self._place_again()
        except MediaSetupError as exc:
            if not self._move_failed(str(exc)):
                return str(exc)
            try:
                await self._place_again()
            except MediaSetupError as again:
                return str(again)
        self._report_placed()
        return None

    async def _recall(self, why: str) -> str | None:
        """Place the call again until it is up (None) or `max_recalls` is spent (why)."""
        while True:
            if self.recalls >= self.media.max_recalls:
                return f"{why} (after {self.recalls} re-calls)"
            self.recalls += 1
            try:
                await self._place_again()
            except MediaSetupError as exc:
                why = str(exc)
                log.warning("re-call %d failed: %s", self.recalls, exc)
                continue
            self._report_placed()
            return None

    # -- teardown --------------------------------------------------------------------

    async def _hangup(self) -> None:
        if self._leg is not None:
            await self._leg.hangup()

    async def _teardown(self) -> None:
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe.clear()
        for task in self._readers:
            task.cancel()
        await asyncio.gather(*self._readers, return_exceptions=True)
        self._readers.clear()
        if self.peer is not None:
            await self.peer.close()
        for owned in self._owned:
            with contextlib.suppress(Exception):
                owned.stop()
        self._owned = []

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        await self._hangup()
        await self._teardown()
