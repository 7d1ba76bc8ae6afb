"""Plugins driving plugins: the `Controllable` interface and the `PluginEvent` item.

A plugin never imports another (`plugins/` import only `agent`). A plugin that can be
driven (the recorder: `start|stop|pause|resume`; the moderator: `on|off|dry-run`)
implements `Controllable`; another plugin finds it by name through its context
(`context.controllable("recorder")`), checked structurally. A plugin that wants the others
(and the recorder's timeline) to know what it did publishes a `PluginEvent`
(`context.publish(kind, **data)`).
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol, TypeAlias, runtime_checkable

__all__ = ["Controllable", "PluginEvent", "PluginEventValue", "is_controllable"]


@runtime_checkable
class Controllable(Protocol):
    """A plugin other plugins can drive by name.

    `name` is read-only here (a property) so that a plugin's `name` class attribute
    satisfies it; any object with a `name` string does."""

    @property
    def name(self) -> str: ...

    async def control(self, command: str, args: list[str]) -> str:
        """Do `command` with `args`; return a one-line reply for a person to read.
        Raise `ValueError("one-line reason")` when the command is refused or invalid."""
        ...

    def status(self) -> dict[str, object]:
        """What state the plugin is in (JSON-able values), e.g. `{"mode": "dry-run"}`."""
        ...


def is_controllable(obj: object) -> bool:
    """`obj` implements `Controllable`: a string `name`, an async `control`, a `status`."""
    return (
        isinstance(obj, Controllable)
        and isinstance(getattr(obj, "name", None), str)
        and inspect.iscoroutinefunction(obj.control)
        and callable(obj.status)
    )


#: A value of a `PluginEvent`'s data: what a JSON line can hold without nesting.
PluginEventValue: TypeAlias = str | int | float | bool | None


@dataclass(frozen=True)
class PluginEvent:
    """Something a plugin did, published to the bot's other plugins (`on_plugin_event`).

    `plugin` is the publisher's name, `kind` what happened (`"command"`), `data` the details.
    The recorder writes each one to `timeline.jsonl`."""

    plugin: str
    kind: str
    data: Mapping[str, PluginEventValue]
