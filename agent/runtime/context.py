"""What a plugin can see and do: the roster, host controls, chat, DTMF, media out, metrics.

Host-only actions from a bot that joined as a guest fail with `HostOnlyError` before any
request is sent: the node would refuse them anyway, and a clear local error beats a 403.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import TYPE_CHECKING

from aiortc import MediaStreamTrack

from ..infinity.models.participant import ParticipantInfo
from ..media.dtmf import validate_dtmf
from .call import BotCall
from .presentation import PresentationCall
from .states import FailureReason

if TYPE_CHECKING:
    from .bot import Bot


class HostOnlyError(PermissionError):
    """The action needs the host (chair) role and the bot is a guest."""


class PluginContext:
    def __init__(self, bot: Bot, plugin_name: str) -> None:
        self._bot = bot
        self.plugin_name = plugin_name
        #: Counters the plugin owns; exported with the bot's metrics.
        self.metrics: Counter[str] = Counter()

    # -- what is going on ------------------------------------------------------------

    @property
    def state(self) -> str:
        return str(self._bot.state.state)

    @property
    def is_host(self) -> bool:
        return self._bot.is_host

    @property
    def roster(self) -> Mapping[str, ParticipantInfo]:
        """Everyone in the conference except the bot itself."""
        own = self._bot.own_uuids
        return {u: p for u, p in self._bot.roster.participants.items() if u not in own}

    @property
    def alias(self) -> str:
        return self._bot.config.alias

    @property
    def conference_name(self) -> str | None:
        """The name of the conference joined (None until the bot is in one)."""
        session = self._bot.session
        return session.joined.conference_name if session is not None else None

    @property
    def display_name(self) -> str:
        return self._bot.config.display_name

    @property
    def own_uuid(self) -> str | None:
        session = self._bot.session
        return session.participant_uuid if session is not None else None

    def leave(self, reason: str = "Plugin asked to leave") -> None:
        self._bot.request_leave(reason)

    def fail(self, reason: FailureReason, detail: str) -> None:
        """End the bot as `failed` with `reason` (it still leaves cleanly)."""
        self._bot.request_leave(detail, failure=reason)

    async def request_presentation_keyframe(self) -> None:
        """Ask the presenter for a keyframe on the presentation call (if one is up)."""
        call = self._bot.presentation
        if call is not None and call.peer is not None and "video" in call.peer.taps:
            await call.peer.tap("video").request_keyframe()

    async def request_keyframe(self) -> None:
        """Ask the sender for a video keyframe (e.g. when a recording starts mid-stream)."""
        call = self._bot.call
        if call is not None and call.peer is not None and "video" in call.peer.taps:
            await call.peer.tap("video").request_keyframe()

    # -- acting ----------------------------------------------------------------------

    def _host(self, action: str) -> None:
        if not self._bot.is_host:
            raise HostOnlyError(f"{action} needs the host role; {self.alias} was joined as guest")

    async def send_message(self, text: str) -> None:
        await self._bot.conference.send_message(text)

    async def send_private_message(self, participant_uuid: str, text: str) -> None:
        await self._bot.conference.participant(participant_uuid).send_message(text)

    async def dtmf(self, digits: str, participant_uuid: str | None = None) -> None:
        """DTMF to a participant (host only), or on the bot's own call when none is given."""
        digits = validate_dtmf(digits)
        if participant_uuid is not None:
            self._host("dtmf to a participant")
            await self._bot.conference.participant(participant_uuid).dtmf(digits)
            return
        call = self._bot.call
        if call is None or call.call_uuid is None:
            raise RuntimeError("no call to send DTMF on yet")
        await call.session.me.call(call.call_uuid).dtmf(digits)

    def set_audio_source(self, track: MediaStreamTrack) -> None:
        """What the bot sends as audio from now on (the call must send audio)."""
        self._require_call().set_source("audio", track)

    def set_video_source(self, track: MediaStreamTrack) -> None:
        """What the bot sends as video from now on (the call must send video)."""
        self._require_call().set_source("video", track)

    def _require_call(self) -> BotCall:
        call = self._bot.call
        if call is None:
            raise RuntimeError("the bot has no call yet (wait for the in_call state)")
        return call

    async def present(self, source: MediaStreamTrack) -> None:
        """Take the floor and send `source` as the presentation until `stop_presenting()`."""
        bot = self._bot
        session = bot._require_session()
        await bot.stop_presentation()
        call = PresentationCall(session, bot.config.media, bot.plugins, "send", source)
        await call.start()
        bot.presentation = call

    async def stop_presenting(self) -> None:
        await self._bot.stop_presentation()

    async def mute(self, participant_uuid: str, muted: bool = True) -> None:
        self._host("mute")
        p = self._bot.conference.participant(participant_uuid)
        await (p.mute() if muted else p.unmute())

    async def mute_guests(self, muted: bool = True) -> None:
        self._host("mute guests")
        c = self._bot.conference
        await (c.mute_guests() if muted else c.unmute_guests())

    async def lock(self, locked: bool = True) -> None:
        self._host("lock")
        c = self._bot.conference
        await (c.lock() if locked else c.unlock())

    async def admit(self, participant_uuid: str) -> None:
        self._host("admit")
        await self._bot.conference.participant(participant_uuid).unlock()

    async def spotlight(self, participant_uuid: str, on: bool = True) -> None:
        self._host("spotlight")
        p = self._bot.conference.participant(participant_uuid)
        await (p.spotlight_on() if on else p.spotlight_off())

    async def disconnect(self, participant_uuid: str) -> None:
        self._host("disconnect")
        await self._bot.conference.participant(participant_uuid).disconnect()
