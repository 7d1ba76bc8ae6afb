"""Labelled counters a plugin keeps (`context.count`), exported as Prometheus counters.

`context.count("chat_commands", command="mute", outcome="done")` adds one to the series
`pexbot_plugin_chat_commands_total{bot, plugin, command="mute", outcome="done"}`. A name
keeps the label names of its first use: counting it with others is a bug and raises.
Plain integers on the hot path; the metrics collector reads them when Prometheus scrapes.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field

__all__ = ["CounterFamily", "PluginCounters"]

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
#: Labels every exported series has already.
RESERVED_LABELS = frozenset({"bot", "plugin"})


@dataclass
class CounterFamily:
    labels: tuple[str, ...]
    values: dict[tuple[str, ...], float] = field(default_factory=dict)


class PluginCounters:
    """One plugin's labelled counters."""

    def __init__(self) -> None:
        self._families: dict[str, CounterFamily] = {}

    def inc(self, name: str, amount: float = 1, **labels: str) -> None:
        if amount < 0:
            raise ValueError(f"counter {name}: a counter only goes up (got {amount})")
        family = self._families.get(name)
        keys = tuple(sorted(labels))
        if family is None:
            if not _NAME.match(name):
                raise ValueError(f"counter name {name!r}: use lower-case letters, digits and _")
            bad = [k for k in keys if not _NAME.match(k) or k in RESERVED_LABELS]
            if bad:
                raise ValueError(f"counter {name}: label {bad[0]!r} is reserved or malformed")
            family = self._families[name] = CounterFamily(keys)
        elif keys != family.labels:
            raise ValueError(f"counter {name} has labels {list(family.labels)}, not {list(keys)}")
        key = tuple(str(labels[k]) for k in keys)
        family.values[key] = family.values.get(key, 0) + amount

    def get(self, name: str, **labels: str) -> float:
        """The current value of one series (0 when never counted)."""
        family = self._families.get(name)
        if family is None:
            return 0
        return family.values.get(tuple(str(labels.get(k, "")) for k in family.labels), 0)

    def families(self) -> Iterator[tuple[str, CounterFamily]]:
        yield from self._families.items()
