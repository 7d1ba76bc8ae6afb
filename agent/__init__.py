"""pexbot: headless conference bots for Pexip Infinity.

The public surface for plugin authors and users; everything else is implementation.
Names are imported on first use (PEP 562), so `pexbot node` does not pay for aiortc.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS: dict[str, str] = {
    "Bot": "agent.runtime.bot",
    "BotResult": "agent.runtime.bot",
    "BotConfig": "agent.config",
    "ConfigError": "agent.config",
    "load_config": "agent.config",
    "parse_config": "agent.config",
    "Plugin": "agent.runtime.plugins",
    "PluginContext": "agent.runtime.context",
    "HostOnlyError": "agent.runtime.context",
    "BotState": "agent.runtime.states",
    "FailureReason": "agent.runtime.states",
    "StateChanged": "agent.runtime.states",
    "Gap": "agent.runtime.states",
    "DecodedFrame": "agent.runtime.items",
    "PresentationMedia": "agent.runtime.items",
    "EncodedFrame": "agent.media.tap",
    "Joined": "agent.infinity.roster",
    "Left": "agent.infinity.roster",
    "Changed": "agent.infinity.roster",
    "ParticipantInfo": "agent.infinity.models.participant",
    "events": "agent.infinity.models.events",
    "run_bot": "agent.runtime.launch",
    "run_fleet": "agent.runtime.launch",
    "load_fleet": "agent.runtime.launch",
    "LocalNode": "agent.node",
}

__all__ = [
    "Bot",
    "BotConfig",
    "BotResult",
    "BotState",
    "Changed",
    "ConfigError",
    "DecodedFrame",
    "EncodedFrame",
    "FailureReason",
    "Gap",
    "HostOnlyError",
    "Joined",
    "Left",
    "LocalNode",
    "ParticipantInfo",
    "Plugin",
    "PluginContext",
    "PresentationMedia",
    "StateChanged",
    "events",
    "load_config",
    "load_fleet",
    "parse_config",
    "run_bot",
    "run_fleet",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'agent' has no attribute {name!r}")
    imported = importlib.import_module(module)
    value = imported if name == "events" else getattr(imported, name)
    globals()[name] = value
    return value


if TYPE_CHECKING:
    from .config import BotConfig, ConfigError, load_config, parse_config
    from .infinity.models import events
    from .infinity.models.participant import ParticipantInfo
    from .infinity.roster import Changed, Joined, Left
    from .media.tap import EncodedFrame
    from .node import LocalNode
    from .runtime.bot import Bot, BotResult
    from .runtime.context import HostOnlyError, PluginContext
    from .runtime.items import DecodedFrame, PresentationMedia
    from .runtime.launch import load_fleet, run_bot, run_fleet
    from .runtime.plugins import Plugin
    from .runtime.states import BotState, FailureReason, Gap, StateChanged
