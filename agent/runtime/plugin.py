"""The plugin contract: the `Plugin` base class, its hooks and its context.

Every hook is declared here with its typed argument, so a type checker checks a plugin's
overrides, and a plugin class with an `on_*` method that is not a hook (`on_joind`) is
refused when the class is defined, naming the nearest real hook. A hook a plugin does not
override hands the item to `on_other`. The context (`PluginContext`) is given by the bot
before `start()`; reading it earlier fails with `PluginContextError`.
"""

from __future__ import annotations

import inspect
from typing import Any, ClassVar, Generic, TypeVar, cast

from pydantic import BaseModel, ConfigDict

from ..infinity.models.events import (
    BreakoutBegin,
    BreakoutEnd,
    BreakoutEvent,
    BreakoutRefer,
    CallDisconnected,
    CancelRefer,
    ConferenceUpdate,
    Disconnect,
    Fecc,
    Layout,
    LiveCaptions,
    MalformedEvent,
    Message,
    MessageReceived,
    NewCandidate,
    NewOffer,
    OnHold,
    PeerDisconnect,
    PresentationEnded,
    PresentationFrame,
    PresentationStart,
    PresentationStop,
    RawEvent,
    Refer,
    SplashScreen,
    Stage,
    UpdateSdp,
)
from ..infinity.roster import Changed, Joined, Left
from ..media.tap import EncodedFrame
from .context import PluginContext
from .control import PluginEvent
from .items import HOOK_NAMES, DecodedFrame, PresentationMedia, hook_for
from .moves import Moved
from .states import Gap, StateChanged

__all__ = ["ConfigT", "NoConfig", "Plugin", "PluginContextError", "PluginLoadError"]


class PluginLoadError(Exception):
    """A plugin cannot be loaded: unknown name, bad class, bad hook or invalid config."""


class PluginContextError(RuntimeError):
    """The plugin's context was read before the bot gave it one."""


class NoConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")


ConfigT = TypeVar("ConfigT", bound=BaseModel)


def check_hooks(cls: type) -> None:
    """Raise `PluginLoadError` for an `on_*` attribute of `cls` that is not an async hook."""
    label = f"{cls.__module__}.{cls.__qualname__}"
    for name, value in vars(cls).items():
        if not name.startswith("on_"):
            continue
        if name not in HOOK_NAMES:
            import difflib  # noqa: PLC0415 (only for this message: ~7 ms at every start)

            nearest = difflib.get_close_matches(name, sorted(HOOK_NAMES), n=1, cutoff=0.0)
            raise PluginLoadError(
                f"plugin {label}: {name} is not a hook; did you mean {nearest[0]}? "
                "(on_* names are reserved for hooks)"
            )
        if not inspect.iscoroutinefunction(value):
            raise PluginLoadError(f"plugin {label}: hook {name} must be an 'async def' method")


class Plugin(Generic[ConfigT]):
    """Base class of every plugin.

    Override the hooks you need; declare what media you consume with the class flags so
    the bot decodes nothing that nobody needs. `Config` is the pydantic model of the
    plugin's own `[plugins.config]` table. `self.context` is the bot's `PluginContext`
    from `start()` on.
    """

    name: ClassVar[str] = ""
    Config: ClassVar[type[BaseModel]] = NoConfig
    wants_audio_frames: ClassVar[bool] = False
    wants_video_frames: ClassVar[bool] = False
    wants_encoded: ClassVar[bool] = False
    #: Receive the presentation in a second call (its frames come as `PresentationMedia`).
    wants_presentation: ClassVar[bool] = False
    #: Media items waiting beyond this are dropped (and counted).
    media_queue_size: ClassVar[int] = 64
    #: Media reaches the plugin in batches at most this often (s): waking its task once per
    #: frame costs more than most hooks. Each item keeps its own arrival time; 0: at once.
    media_batch_seconds: ClassVar[float] = 0.05
    #: Events waiting beyond this are dropped with a warning: the plugin is stuck.
    event_queue_size: ClassVar[int] = 10_000

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        check_hooks(cls)

    def __init__(self, context: PluginContext | None = None, config: ConfigT | None = None) -> None:
        self._context = context
        # Without a config the plugin's defaults apply (a Config with required fields fails).
        self.config: ConfigT = config if config is not None else cast(ConfigT, self.Config())

    @property
    def label(self) -> str:
        return self.name or type(self).__name__

    @property
    def context(self) -> PluginContext:
        """What the plugin can see and do; given by the bot before `start()`."""
        if self._context is None:
            raise PluginContextError(
                f"plugin {self.label}: no context yet; the bot gives it before start() "
                "(use self.context from start() on)"
            )
        return self._context

    @property
    def has_context(self) -> bool:
        return self._context is not None

    def bind_context(self, context: PluginContext) -> None:
        """Give the plugin its context (the bot does this once, before `start()`)."""
        if self._context is not None and self._context is not context:
            raise PluginContextError(f"plugin {self.label} already has a context")
        self._context = context

    async def prepare(self) -> None:
        """Called once before the bot joins (and before `start()`): check what the plugin
        needs, e.g. that its folder is writable; keep it short.

        To keep the bot from joining, call `self.context.fail(reason, detail)` (the bot ends
        `failed` with that reason) or raise (it ends `failed (config)` naming the plugin).
        """

    async def start(self) -> None:
        """Called once before any other hook."""

    async def stop(self) -> None:
        """Called once at the end; flush and close here."""

    async def handle(self, item: object) -> None:
        """Every item the bot delivers; the default calls the item's hook."""
        await getattr(self, hook_for(item))(item)

    async def on_other(self, item: object) -> None:
        """Items whose hook the plugin does not override (and kinds without a hook)."""

    # -- the bot ---------------------------------------------------------------------

    async def on_state_changed(self, change: StateChanged) -> None:
        """Every lifecycle transition (joining, connected, in_call, ..., left, failed)."""
        await self.on_other(change)

    async def on_gap(self, gap: Gap) -> None:
        """A stretch without events or media, once it is over (`kind`, `start`, `end` on the
        bot's clock, and its `cause`: `stream`, `recall`, `rejoin` or `move`)."""
        await self.on_other(gap)

    async def on_moved(self, moved: Moved) -> None:
        """The bot followed a move (into a breakout room, back, or a transfer); it is in
        again, in `moved.conference`."""
        await self.on_other(moved)

    # -- the roster (real changes only; the bot itself never shows) --------------------

    async def on_joined(self, change: Joined) -> None:
        await self.on_other(change)

    async def on_left(self, change: Left) -> None:
        await self.on_other(change)

    async def on_changed(self, change: Changed) -> None:
        """A participant's fields changed (`change.fields` names them)."""
        await self.on_other(change)

    # -- media (set the `wants_*` flags) -----------------------------------------------

    async def on_encoded_frame(self, frame: EncodedFrame) -> None:
        """A received Opus packet or VP8 frame, not decoded (`wants_encoded`)."""
        await self.on_other(frame)

    async def on_audio_frame(self, frame: DecodedFrame) -> None:
        """Decoded audio (`wants_audio_frames`)."""
        await self.on_other(frame)

    async def on_video_frame(self, frame: DecodedFrame) -> None:
        """Decoded video (`wants_video_frames`)."""
        await self.on_other(frame)

    async def on_presentation_media(self, media: PresentationMedia) -> None:
        """An encoded frame of someone else's presentation (`wants_presentation`)."""
        await self.on_other(media)

    # -- other plugins -------------------------------------------------------------------

    async def on_plugin_event(self, event: PluginEvent) -> None:
        """What another plugin of the bot published (`context.publish`)."""
        await self.on_other(event)

    # -- conference events of the client API, as they come -----------------------------

    async def on_conference_update(self, event: ConferenceUpdate) -> None:
        await self.on_other(event)

    async def on_message_received(self, event: MessageReceived) -> None:
        """A chat message (`event.direct` for a private one)."""
        await self.on_other(event)

    async def on_message(self, event: Message) -> None:
        """A chat message under the older `message` event name."""
        await self.on_other(event)

    async def on_stage(self, event: Stage) -> None:
        """Who is on stage and speaking, in stage order."""
        await self.on_other(event)

    async def on_layout(self, event: Layout) -> None:
        await self.on_other(event)

    async def on_presentation_start(self, event: PresentationStart) -> None:
        await self.on_other(event)

    async def on_presentation_stop(self, event: PresentationStop) -> None:
        await self.on_other(event)

    async def on_presentation_ended(self, event: PresentationEnded) -> None:
        await self.on_other(event)

    async def on_presentation_frame(self, event: PresentationFrame) -> None:
        await self.on_other(event)

    async def on_call_disconnected(self, event: CallDisconnected) -> None:
        await self.on_other(event)

    async def on_disconnect(self, event: Disconnect) -> None:
        """The node ended the bot's participation (the bot leaves after this)."""
        await self.on_other(event)

    async def on_refer(self, event: Refer) -> None:
        await self.on_other(event)

    async def on_cancel_refer(self, event: CancelRefer) -> None:
        await self.on_other(event)

    async def on_hold(self, event: OnHold) -> None:
        await self.on_other(event)

    async def on_fecc(self, event: Fecc) -> None:
        await self.on_other(event)

    async def on_live_captions(self, event: LiveCaptions) -> None:
        await self.on_other(event)

    async def on_peer_disconnect(self, event: PeerDisconnect) -> None:
        await self.on_other(event)

    async def on_new_offer(self, event: NewOffer) -> None:
        """A server offer; the bot has answered it already."""
        await self.on_other(event)

    async def on_update_sdp(self, event: UpdateSdp) -> None:
        """A server offer; the bot has answered it already."""
        await self.on_other(event)

    async def on_new_candidate(self, event: NewCandidate) -> None:
        await self.on_other(event)

    async def on_splash_screen(self, event: SplashScreen) -> None:
        await self.on_other(event)

    async def on_breakout_begin(self, event: BreakoutBegin) -> None:
        await self.on_other(event)

    async def on_breakout_end(self, event: BreakoutEnd) -> None:
        await self.on_other(event)

    async def on_breakout_event(self, event: BreakoutEvent) -> None:
        await self.on_other(event)

    async def on_breakout_refer(self, event: BreakoutRefer) -> None:
        """A host bot is asked to join a breakout room; `self.context.join_breakout(
        event.breakout_uuid)` accepts (the bot does so itself with `breakouts.follow_refer`)."""
        await self.on_other(event)

    async def on_raw_event(self, event: RawEvent) -> None:
        """An event this version does not know (kept, never dropped)."""
        await self.on_other(event)

    async def on_malformed_event(self, event: MalformedEvent) -> None:
        """A known event whose payload did not fit its model (`event.error` says why)."""
        await self.on_other(event)
