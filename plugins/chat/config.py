"""The chat plugin's `[plugins.config]` table."""

from __future__ import annotations

import difflib
from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from .table import COMMANDS, Permission

__all__ = ["ChatConfig", "LoopGuardConfig", "RateLimit", "ResponderEntry"]


class RateLimit(BaseModel):
    model_config = ConfigDict(extra="forbid")

    per_second: float = Field(gt=0, le=1000)
    burst: int = Field(ge=1, le=10_000)


class LoopGuardConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    #: A message this soon (s) after the bot's reply to its sender is a quick exchange.
    window: float = Field(default=1.0, ge=0, le=60)
    #: Quick exchanges in a row before the sender is left unanswered ...
    exchanges: int = Field(default=5, ge=1, le=1000)
    #: ... for this many seconds.
    cooldown: float = Field(default=60.0, ge=0)


class ResponderEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    #: A name in the `pexbot.responders` entry-point group, or `module:function`.
    use: str = Field(min_length=1)
    options: dict[str, Any] = Field(default_factory=dict)


class ChatConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    prefix: str = Field(default="!", min_length=1, max_length=8)
    #: Where replies go: privately to the sender, or to the whole conference. Refusals and
    #: answers to private messages are always private.
    reply: Literal["private", "room"] = "private"
    #: Who may use a command (`anyone`, `host`, `nobody`), overriding its default.
    permissions: dict[str, Permission] = Field(default_factory=dict)
    sender_rate: RateLimit = RateLimit(per_second=1.0, burst=5)
    global_rate: RateLimit = RateLimit(per_second=5.0, burst=20)
    loop_guard: LoopGuardConfig = LoopGuardConfig()
    #: Display names (shell patterns, any case) of other bots: never answered.
    ignore: list[str] = Field(default_factory=list)
    #: Tried in order for messages that are not commands; the first answer is sent.
    responders: list[ResponderEntry] = Field(default_factory=list)
    #: Which of those messages go to the responders: all, or only private ones.
    respond_to: Literal["all", "direct"] = "all"
    #: The longest responder answer waited for (s), whatever the responder.
    responder_timeout: float = Field(default=60.0, gt=0, le=600)
    #: Characters per message (default and maximum: what the client API takes).
    max_message_chars: int | None = Field(default=None, ge=50)
    #: Messages one reply may take; the rest is cut.
    max_parts: int = Field(default=5, ge=1, le=50)

    @field_validator("prefix")
    @classmethod
    def _no_space(cls, prefix: str) -> str:
        if prefix != prefix.strip() or any(c.isspace() for c in prefix):
            raise ValueError("the prefix cannot contain spaces")
        return prefix

    @field_validator("permissions")
    @classmethod
    def _known_commands(cls, permissions: dict[str, Permission]) -> dict[str, Permission]:
        for name in permissions:
            if name not in COMMANDS:
                near = difflib.get_close_matches(name, list(COMMANDS), n=1)
                hint = f"; did you mean {near[0]!r}?" if near else ""
                raise ValueError(f"unknown command {name!r}{hint}")
        return permissions

    @model_validator(mode="after")
    def _sane(self) -> Self:
        if self.sender_rate.per_second > self.global_rate.per_second:
            raise ValueError("sender_rate.per_second cannot be above global_rate.per_second")
        return self
