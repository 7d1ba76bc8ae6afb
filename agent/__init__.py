"""pexbot: headless conference bots for Pexip Infinity.

The public surface for plugin authors and users; everything else is implementation.
Every kind of item a plugin hook can receive is here (see `PluginItem`), with the names
hooks meet (`RosterChange`, `ParticipantInfo`, `FleetEntry`, ...). Names are imported on
first use (PEP 562), so `import agent` stays light and `pexbot node` does not pay for aiortc.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS: dict[str, str] = {
    # -- running bots
    "Bot": "agent.runtime.bot",
    "BotResult": "agent.runtime.outcome",
    "BotConfig": "agent.config",
    "ConfigError": "agent.config",
    "load_bot_config": "agent.config",
    "parse_config": "agent.config",
    "FleetEntry": "agent.runtime.launch",
    "load_fleet": "agent.runtime.launch",
    "run_bot": "agent.runtime.launch",
    "run_fleet": "agent.runtime.launch",
    "LocalNode": "agent.node",
    "Clock": "agent.clock",
    "SystemClock": "agent.clock",
    "Backoff": "agent.backoff",
    # -- the plugin contract
    "Plugin": "agent.runtime.plugin",
    "PluginContextError": "agent.runtime.plugin",
    "PluginLoadError": "agent.runtime.plugin",
    "PluginContext": "agent.runtime.context",
    "HostOnlyError": "agent.runtime.host",
    "Controllable": "agent.runtime.control",
    "PluginEvent": "agent.runtime.control",
    "PluginEventValue": "agent.runtime.control",
    "PluginItem": "agent.runtime.items",
    "DecodedFrame": "agent.runtime.items",
    "PresentationMedia": "agent.runtime.items",
    "InvalidDtmfError": "agent.infinity.models",
    "LayoutTransforms": "agent.infinity.models",
    "ParticipantInfo": "agent.infinity.models",
    # -- what hooks receive: the bot
    "BotState": "agent.runtime.states",
    "FailureReason": "agent.runtime.states",
    "StateChanged": "agent.runtime.states",
    "Gap": "agent.runtime.states",
    "Moved": "agent.runtime.moves",
    # -- the roster
    "Joined": "agent.infinity.roster",
    "Left": "agent.infinity.roster",
    "Changed": "agent.infinity.roster",
    "RosterChange": "agent.infinity.roster",
    # -- media
    "EncodedFrame": "agent.media.tap",
    # -- codec bitstream helpers (for plugins that handle encoded media)
    "opus_duration_ms": "agent.media.codecs",
    "vp8_is_keyframe": "agent.media.codecs",
    "vp8_size": "agent.media.codecs",
    # -- decoded audio as numpy (for plugins that listen: `wants_audio_frames`)
    "frame_to_mono": "agent.media.analysis",
    # -- the management API (for plugins that act through it)
    "ManagementClient": "agent.admin",
    "ManagementError": "agent.admin",
    # -- conference events
    "ConferenceUpdate": "agent.infinity.models.events",
    "MessageReceived": "agent.infinity.models.events",
    "Message": "agent.infinity.models.events",
    "Stage": "agent.infinity.models.events",
    "StageEntry": "agent.infinity.models.events",
    "Layout": "agent.infinity.models.events",
    "PresentationStart": "agent.infinity.models.events",
    "PresentationStop": "agent.infinity.models.events",
    "PresentationEnded": "agent.infinity.models.events",
    "PresentationFrame": "agent.infinity.models.events",
    "CallDisconnected": "agent.infinity.models.events",
    "Disconnect": "agent.infinity.models.events",
    "Refer": "agent.infinity.models.events",
    "CancelRefer": "agent.infinity.models.events",
    "OnHold": "agent.infinity.models.events",
    "Fecc": "agent.infinity.models.events",
    "LiveCaptions": "agent.infinity.models.events",
    "PeerDisconnect": "agent.infinity.models.events",
    "NewOffer": "agent.infinity.models.events",
    "UpdateSdp": "agent.infinity.models.events",
    "NewCandidate": "agent.infinity.models.events",
    "SplashScreen": "agent.infinity.models.events",
    "BreakoutBegin": "agent.infinity.models.events",
    "BreakoutEnd": "agent.infinity.models.events",
    "BreakoutEvent": "agent.infinity.models.events",
    "BreakoutRefer": "agent.infinity.models.events",
    "RawEvent": "agent.infinity.models.events",
    "MalformedEvent": "agent.infinity.models.events",
    "events": "agent.infinity.models.events",
}

__all__ = [
    "Backoff",
    "Bot",
    "BotConfig",
    "BotResult",
    "BotState",
    "BreakoutBegin",
    "BreakoutEnd",
    "BreakoutEvent",
    "BreakoutRefer",
    "CallDisconnected",
    "CancelRefer",
    "Changed",
    "Clock",
    "ConferenceUpdate",
    "ConfigError",
    "Controllable",
    "DecodedFrame",
    "Disconnect",
    "EncodedFrame",
    "FailureReason",
    "Fecc",
    "FleetEntry",
    "Gap",
    "HostOnlyError",
    "InvalidDtmfError",
    "Joined",
    "Layout",
    "LayoutTransforms",
    "Left",
    "LiveCaptions",
    "LocalNode",
    "MalformedEvent",
    "ManagementClient",
    "ManagementError",
    "Message",
    "MessageReceived",
    "Moved",
    "NewCandidate",
    "NewOffer",
    "OnHold",
    "ParticipantInfo",
    "PeerDisconnect",
    "Plugin",
    "PluginContext",
    "PluginContextError",
    "PluginEvent",
    "PluginEventValue",
    "PluginItem",
    "PluginLoadError",
    "PresentationEnded",
    "PresentationFrame",
    "PresentationMedia",
    "PresentationStart",
    "PresentationStop",
    "RawEvent",
    "Refer",
    "RosterChange",
    "SplashScreen",
    "Stage",
    "StageEntry",
    "StateChanged",
    "SystemClock",
    "UpdateSdp",
    "events",
    "frame_to_mono",
    "load_bot_config",
    "load_fleet",
    "opus_duration_ms",
    "parse_config",
    "run_bot",
    "run_fleet",
    "vp8_is_keyframe",
    "vp8_size",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'agent' has no attribute {name!r}")
    imported = importlib.import_module(module)
    value = imported if name == "events" else getattr(imported, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    """The public surface (what `from agent import ...` offers)."""
    return sorted(__all__)


if TYPE_CHECKING:
    from .admin import ManagementClient, ManagementError
    from .backoff import Backoff
    from .clock import Clock, SystemClock
    from .config import BotConfig, ConfigError, load_bot_config, parse_config
    from .infinity.models import InvalidDtmfError, LayoutTransforms, ParticipantInfo, events
    from .infinity.models.events import (
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
        StageEntry,
        UpdateSdp,
    )
    from .infinity.roster import Changed, Joined, Left, RosterChange
    from .media.analysis import frame_to_mono
    from .media.codecs import opus_duration_ms, vp8_is_keyframe, vp8_size
    from .media.tap import EncodedFrame
    from .node import LocalNode
    from .runtime.bot import Bot
    from .runtime.context import PluginContext
    from .runtime.control import Controllable, PluginEvent, PluginEventValue
    from .runtime.host import HostOnlyError
    from .runtime.items import DecodedFrame, PluginItem, PresentationMedia
    from .runtime.launch import FleetEntry, load_fleet, run_bot, run_fleet
    from .runtime.moves import Moved
    from .runtime.outcome import BotResult
    from .runtime.plugin import Plugin, PluginContextError, PluginLoadError
    from .runtime.states import BotState, FailureReason, Gap, StateChanged
