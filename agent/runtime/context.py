"""What a plugin can see and do: the roster, host controls, chat, DTMF, media out, metrics,
and the bot's other plugins (`controllable`, `publish`).

A plugin gets its `PluginContext` from the bot before `start()` (`self.context`). The
context works through the bot's narrow `BotPort`, never through the bot's internals.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from types import MappingProxyType
from typing import ClassVar, cast

from aiortc import MediaStreamTrack

from ..clock import Clock
from ..config import BotConfig
from ..infinity.models import MessageType, ParticipantInfo, validate_dtmf
from ..infinity.models.call import StreamStatistics
from ..media.rtpstats import MediaSnapshot, snapshot
from .breakout_controls import BreakoutControls
from .call import BotCall
from .control import Controllable, PluginEvent, PluginEventValue, is_controllable
from .counters import PluginCounters
from .host import HostOnlyError
from .port import BotPort
from .states import BotState, FailureReason

__all__ = ["HostOnlyError", "PluginContext"]


class PluginContext(BreakoutControls):
    """One plugin's handle on its bot (host controls: see `HostControls` and
    `BreakoutControls`)."""

    #: The longest chat message the client API takes, in characters: the local node's
    #: limit (`agent/node/limits.py`, a test keeps the two equal); the schema sets none.
    max_message_chars: ClassVar[int] = 16 * 1024

    def __init__(self, bot: BotPort, plugin_name: str) -> None:
        self._bot = bot
        self.plugin_name = plugin_name
        #: Counters the plugin owns; exported with the bot's metrics.
        self.metrics: Counter[str] = Counter()
        #: Labelled counters (`count()`), exported as Prometheus counters.
        self.counters = PluginCounters()

    # -- what is going on ------------------------------------------------------------

    @property
    def state(self) -> BotState:
        return self._bot.state.state

    @property
    def is_host(self) -> bool:
        return self._bot.is_host

    @property
    def roster(self) -> Mapping[str, ParticipantInfo]:
        """Everyone else in the place the bot is in: its conference, or the breakout room a
        host bot's call is in (from the moment it moves there; `main_roster` is still the
        main room's), as Pexip's SDK lists the participants of its current room."""
        here = self._bot.room_roster()
        return here if here is not None else self.main_roster

    @property
    def main_roster(self) -> Mapping[str, ParticipantInfo]:
        """Everyone else in the conference the bot is joined to, where its chat and host
        controls act: the main room, also while a host bot's call is in a breakout room (a
        guest moved into a room is joined to that room: it sees only that room)."""
        own = self._bot.own_uuids
        return {u: p for u, p in self._bot.roster.participants.items() if u not in own}

    @property
    def bot_config(self) -> BotConfig:
        """The bot's configuration (read it, do not change it)."""
        return self._bot.config

    @property
    def alias(self) -> str:
        """The alias the bot is joined through (after a transfer: the new conference's)."""
        return self._bot.alias

    @property
    def room(self) -> str | None:
        """The breakout room the bot is in (None in a main room)."""
        return self._bot.room

    @property
    def conference_name(self) -> str | None:
        """The name of the conference joined, a breakout room's when the bot is in one (None
        until the bot is in)."""
        session = self._bot.session
        return session.joined.conference_name if session is not None else None

    @property
    def display_name(self) -> str:
        return self._bot.config.display_name

    @property
    def own_uuid(self) -> str | None:
        session = self._bot.session
        return session.participant_uuid if session is not None else None

    # -- the other plugins -------------------------------------------------------------

    def controllables(self) -> list[Controllable]:
        """The bot's other plugins that implement `Controllable`, in load order."""
        found: list[Controllable] = []
        for plugin in self._bot.plugins.plugins:
            own = getattr(plugin, "has_context", False) and getattr(plugin, "context", None)
            if own is not self and is_controllable(plugin):
                found.append(cast(Controllable, plugin))
        return found

    def controllable(self, name: str) -> Controllable | None:
        """The bot's other plugin called `name` (any case) if it implements `Controllable`."""
        wanted = name.casefold()
        return next((p for p in self.controllables() if p.name.casefold() == wanted), None)

    def publish(self, kind: str, **data: PluginEventValue) -> None:
        """Tell the bot's other plugins (and the recorder's timeline) what this one did:
        a `PluginEvent` named after this plugin, with `kind` and `data`."""
        event = PluginEvent(self.plugin_name, kind, MappingProxyType(dict(data)))
        self._bot.plugins.publish(event, source=self)

    def count(self, name: str, amount: float = 1, **labels: str) -> None:
        """Add to the counter `pexbot_plugin_<name>_total{bot, plugin, **labels}`."""
        self.counters.inc(name, amount, **labels)

    # -- leaving -----------------------------------------------------------------------
    @property
    def clock(self) -> Clock:
        """The bot's clock: every stamp a plugin receives is on its `monotonic()`."""
        return self._bot.clock

    @property
    def service_type(self) -> str | None:
        """`conference`, `lecture`, `test_call`, `waiting_room`, ... (None before joining)."""
        session = self._bot.session
        return session.service_type if session is not None else None

    # -- the call's media statistics -------------------------------------------------

    @property
    def call_uuid(self) -> str | None:
        """The node's UUID of the bot's current call (None between calls)."""
        call = self._bot.call
        return call.call_uuid if call is not None else None

    @property
    def client_stats_update_interval(self) -> float | None:
        """Seconds between statistics reports the node asked for in `request_token`
        (`client_stats_update_interval`, milliseconds on the wire); None if it did not."""
        session = self._bot.session
        interval = session.joined.client_stats_update_interval if session is not None else None
        return interval / 1000 if interval else None

    async def media_snapshot(self) -> MediaSnapshot | None:
        """Cumulative RTP figures of the call now, in explicit units (None without a call)."""
        call = self._bot.call
        if call is None or call.peer is None:
            return None
        return await snapshot(call.peer)

    async def report_statistics(
        self, *, audio: StreamStatistics | None = None, video: StreamStatistics | None = None
    ) -> None:
        """POST the bot's own view of its media to the call's `statistics` endpoint."""
        call = self._require_call()
        if call.call_uuid is None:
            raise RuntimeError("no call to report statistics on yet (wait for the in_call state)")
        await call.session.me.call(call.call_uuid).statistics(audio=audio, video=video)

    def leave(self, reason: str = "Plugin asked to leave") -> None:
        self._bot.request_leave(reason)

    def fail(self, reason: FailureReason, detail: str) -> None:
        """End the bot as `failed` with `reason` (it still leaves cleanly)."""
        self._bot.request_leave(detail, failure=reason)

    # -- chat and DTMF (guests may too) ----------------------------------------------

    async def send_message(self, text: str, *, content_type: MessageType = "text/plain") -> None:
        """Chat to everyone in the conference."""
        await self._conference().send_message(text, content_type=content_type)

    async def send_private_message(
        self, participant_uuid: str, text: str, *, content_type: MessageType = "text/plain"
    ) -> None:
        """Chat to one participant."""
        p = self._conference().participant(participant_uuid)
        await p.send_message(text, content_type=content_type)

    async def dtmf(self, digits: str, participant_uuid: str | None = None) -> None:
        """DTMF to a participant (host only), or on the bot's own call when none is given."""
        digits = validate_dtmf(digits)
        if participant_uuid is not None:
            await self._participant("dtmf to a participant", participant_uuid).dtmf(digits)
            return
        call = self._bot.call
        if call is None or call.call_uuid is None:
            raise RuntimeError("no call to send DTMF on yet (wait for the in_call state)")
        await call.session.me.call(call.call_uuid).dtmf(digits)

    # -- media out -------------------------------------------------------------------

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

    async def request_keyframe(self) -> None:
        """Ask the sender for a video keyframe (e.g. when a recording starts mid-stream)."""
        call = self._bot.call
        if call is not None and call.peer is not None and "video" in call.peer.taps:
            await call.peer.tap("video").request_keyframe()

    async def request_presentation_keyframe(self) -> None:
        """Ask the presenter for a keyframe on the presentation call (if one is up)."""
        call = self._bot.presentation
        if call is not None and call.peer is not None and "video" in call.peer.taps:
            await call.peer.tap("video").request_keyframe()

    async def present(self, source: MediaStreamTrack) -> None:
        """Take the floor and send `source` as the presentation until `stop_presenting()`."""
        await self._bot.present(source)

    async def stop_presenting(self) -> None:
        await self._bot.stop_presentation()
