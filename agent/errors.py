"""Configuration errors shared by every layer (bot, node, OpenVidu): one line per problem,
never echoing a value, because values may be PINs, passwords or tokens."""

from __future__ import annotations

from pydantic import ValidationError


class ConfigError(ValueError):
    """The configuration is invalid; the message lists every problem with its path."""


def format_validation_error(exc: ValidationError, source: str) -> str:
    """One line per problem, `source: path.to.field: message`; input values left out
    because they may be secrets."""
    lines = []
    for err in exc.errors():
        path = ".".join(str(p) for p in err["loc"]) or "(top level)"
        lines.append(f"{source}: {path}: {err['msg']}")
    return "\n".join(lines)
