"""Everything a plugin can receive, and the hook each kind goes to: the one list.

The bot hands plugins its lifecycle (`StateChanged`, `Gap`, `Moved`), the roster's real
changes (`Joined`, `Left`, `Changed`), media (`EncodedFrame`, `DecodedFrame`,
`PresentationMedia`), what other plugins publish (`PluginEvent`) and the conference events
of the client API as they come (participant events arrive as roster changes instead; token
refreshes are the bot's own business). `HOOKS` maps each kind to its hook; `Plugin` declares
every one of them with its typed argument.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Literal, Protocol, TypeAlias

from ..infinity.models.events import (
    BreakoutBegin,
    BreakoutEnd,
    BreakoutEvent,
    BreakoutRefer,
    CallDisconnected,
    CancelRefer,
    ConferenceUpdate,
    Disconnect,
    EventModel,
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
from .control import PluginEvent
from .moves import Moved
from .states import Gap, StateChanged

__all__ = [
    "CONFERENCE_EVENTS",
    "HOOKS",
    "HOOK_NAMES",
    "DecodedFrame",
    "ItemSink",
    "PluginItem",
    "PresentationMedia",
    "hook_for",
]


@dataclass(frozen=True)
class DecodedFrame:
    """A decoded audio or video frame (PyAV) for plugins that asked for them."""

    kind: Literal["audio", "video"]
    frame: Any
    #: On the bot's clock, like every other stamp.
    arrival: float


@dataclass(frozen=True)
class PresentationMedia:
    """An encoded frame of the presentation (slides) stream."""

    frame: EncodedFrame


#: Client API events handed to plugins as they come, each to `on_<event name>`.
CONFERENCE_EVENTS: tuple[type[EventModel], ...] = (
    ConferenceUpdate,
    MessageReceived,
    Message,
    Stage,
    Layout,
    PresentationStart,
    PresentationStop,
    PresentationEnded,
    PresentationFrame,
    CallDisconnected,
    Disconnect,
    Refer,
    CancelRefer,
    OnHold,
    Fecc,
    LiveCaptions,
    PeerDisconnect,
    NewOffer,
    UpdateSdp,
    NewCandidate,
    SplashScreen,
    BreakoutBegin,
    BreakoutEnd,
    BreakoutEvent,
    BreakoutRefer,
)

PluginItem: TypeAlias = (
    StateChanged
    | Gap
    | Moved
    | Joined
    | Left
    | Changed
    | EncodedFrame
    | DecodedFrame
    | PresentationMedia
    | PluginEvent
    | ConferenceUpdate
    | MessageReceived
    | Message
    | Stage
    | Layout
    | PresentationStart
    | PresentationStop
    | PresentationEnded
    | PresentationFrame
    | CallDisconnected
    | Disconnect
    | Refer
    | CancelRefer
    | OnHold
    | Fecc
    | LiveCaptions
    | PeerDisconnect
    | NewOffer
    | UpdateSdp
    | NewCandidate
    | SplashScreen
    | BreakoutBegin
    | BreakoutEnd
    | BreakoutEvent
    | BreakoutRefer
    | RawEvent
    | MalformedEvent
)


def _event_hook(event_name: str) -> str:
    # `on_hold` is already a hook-shaped name: `on_on_hold` would help nobody.
    return event_name if event_name.startswith("on_") else f"on_{event_name}"


#: Item type -> hook. Decoded frames go to `on_audio_frame` / `on_video_frame` by kind.
HOOKS: Mapping[type, str] = MappingProxyType(
    {
        StateChanged: "on_state_changed",
        Gap: "on_gap",
        Moved: "on_moved",
        Joined: "on_joined",
        Left: "on_left",
        Changed: "on_changed",
        EncodedFrame: "on_encoded_frame",
        PresentationMedia: "on_presentation_media",
        PluginEvent: "on_plugin_event",
        **{cls: _event_hook(cls.name) for cls in CONFERENCE_EVENTS},
        RawEvent: "on_raw_event",
        MalformedEvent: "on_malformed_event",
    }
)
_DECODED_HOOKS: Mapping[str, str] = MappingProxyType(
    {"audio": "on_audio_frame", "video": "on_video_frame"}
)
#: Every hook name; any other `on_*` method on a plugin is a mistake.
HOOK_NAMES: frozenset[str] = frozenset({*HOOKS.values(), *_DECODED_HOOKS.values(), "on_other"})


def hook_for(item: object) -> str:
    """The name of the hook `item` goes to (`on_other` for kinds without one)."""
    if isinstance(item, DecodedFrame):
        return _DECODED_HOOKS[item.kind]
    kind = type(item)
    hook = HOOKS.get(kind)
    if hook is not None:
        return hook
    # A subclass of a known kind goes to its parent's hook.
    return next((HOOKS[c] for c in kind.__mro__ if c in HOOKS), "on_other")


class ItemSink(Protocol):
    """Where the calls put what they receive (the plugin host)."""

    @property
    def wants_audio_frames(self) -> bool: ...

    @property
    def wants_video_frames(self) -> bool: ...

    @property
    def wants_encoded(self) -> bool: ...

    def publish(self, item: PluginItem) -> None: ...

    def publish_media(
        self, item: PluginItem, *, audio: bool = False, video: bool = False
    ) -> None: ...
