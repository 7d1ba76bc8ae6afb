"""How `pexbot run`'s flags become configuration: a table shaped like the config file,
merged over it (flags win), then the `--plugin-config NAME.KEY=VALUE` settings."""

from __future__ import annotations

import argparse
import tomllib
from typing import Any

from .config import ConfigError

#: flag destination -> (table, key) in the config file; table "" is the top level.
_FLAG_KEYS: dict[str, tuple[str, str]] = {
    "node": ("", "node"),
    "alias": ("", "alias"),
    "name": ("", "display_name"),
    "pin_env": ("", "pin_env"),
    "extension": ("", "extension"),
    "call_tag": ("", "call_tag"),
    "log_format": ("", "log_format"),
    "audio": ("media", "audio"),
    "video": ("media", "video"),
    "duration": ("leave", "duration"),
    "alone_seconds": ("leave", "alone_seconds"),
    "when_hosts_leave": ("leave", "when_hosts_leave"),
    "waiting_room_timeout": ("leave", "waiting_room_timeout"),
    "metrics_port": ("metrics", "port"),
}

#: What a seconds flag takes to switch its rule off (a config file may have set it).
NONE = "none"


def seconds_or_none(text: str) -> float | str:
    """An argparse type: a positive number of seconds, or `none` (rule off)."""
    if text.lower() == NONE:
        return NONE
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds or none") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r}: must be more than 0 (or none)")
    return value


def run_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The flags given on the command line, shaped like the config file."""
    over: dict[str, Any] = {}
    for dest, (table, key) in _FLAG_KEYS.items():
        value = getattr(args, dest, None)
        if value is None:
            continue
        target = over.setdefault(table, {}) if table else over
        # `--duration none` switches the rule off; `--audio none` is a value.
        target[key] = None if table == "leave" and value == NONE else value
    if args.plugin:
        over["plugins"] = [{"name": name} for name in args.plugin]
    return over


def toml_value(text: str) -> Any:
    """`text` read as a TOML value (`3600`, `true`, `1.5`, `"x"`); anything that is not
    one is taken as a plain string (`recordings`, `/data/rec`)."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def apply_plugin_settings(data: dict[str, Any], settings: list[str]) -> dict[str, Any]:
    """`data` with each `NAME.KEY=VALUE` set in the config of every plugin called NAME
    (`KEY` may be dotted for nested tables)."""
    if not settings:
        return data
    plugins = data.get("plugins")
    entries = [dict(p) for p in plugins] if isinstance(plugins, list) else []
    names = [str(p.get("name", "")) for p in entries if isinstance(p, dict)]
    for setting in settings:
        target, equals, raw = setting.partition("=")
        # The longest configured name that prefixes the target: names hold dots
        # (`./greeter.py:Greeter`), keys may too.
        name = max((n for n in names if target.startswith(n + ".")), key=len, default=None)
        if not equals or "." not in target:
            raise ConfigError(f"--plugin-config {setting}: expected NAME.KEY=VALUE")
        if name is None:
            known = ", ".join(names) or "none"
            raise ConfigError(
                f"--plugin-config {setting}: no configured plugin matches (plugins: {known})"
            )
        path = target[len(name) + 1 :].split(".")
        if not all(path):
            raise ConfigError(f"--plugin-config {setting}: expected NAME.KEY=VALUE")
        for entry in entries:
            if entry.get("name") == name:
                entry["config"] = _set(entry.get("config") or {}, path, toml_value(raw))
    return {**data, "plugins": entries}


def _set(table: dict[str, Any], path: list[str], value: Any) -> dict[str, Any]:
    """A copy of `table` with `value` at the nested `path`."""
    out = dict(table)
    if len(path) == 1:
        out[path[0]] = value
    else:
        inner = out.get(path[0])
        out[path[0]] = _set(inner if isinstance(inner, dict) else {}, path[1:], value)
    return out
