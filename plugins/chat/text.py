"""Replies as the client API takes them: split to its message size, never a command."""

from __future__ import annotations

__all__ = ["TRUNCATED", "defuse", "split_message"]

TRUNCATED = " [...]"


def split_message(text: str, limit: int, max_parts: int) -> list[str]:
    """`text` in parts of at most `limit` characters, cut at a line break, else a space,
    else anywhere; at most `max_parts` parts, the last one ending in `TRUNCATED` when text
    was left out. Empty text gives no parts."""
    if limit <= len(TRUNCATED):
        raise ValueError(f"a message limit of {limit} characters is too small")
    parts: list[str] = []
    rest = text.strip()
    while rest:
        if len(parts) == max_parts - 1 and len(rest) > limit:
            cut = _cut(rest, limit - len(TRUNCATED))
            parts.append(rest[:cut].rstrip() + TRUNCATED)
            break
        if len(rest) <= limit:
            parts.append(rest)
            break
        cut = _cut(rest, limit)
        parts.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    return [p for p in parts if p]


def _cut(text: str, limit: int) -> int:
    """Where to cut `text` so the first part has at most `limit` characters."""
    for sep in ("\n", " "):
        at = text.rfind(sep, 0, limit + 1)
        if at > limit // 2:  # not a tiny first part
            return at
    return limit


def defuse(text: str, prefix: str) -> str:
    """A reply never starts with the command prefix: another bot would take it for a
    command (and answer, and loop)."""
    if text.lstrip().startswith(prefix):
        return "» " + text.lstrip()
    return text
