"""What a responder gets and gives: a typed chat message in, an optional reply out."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Literal, Protocol

from pydantic import BaseModel, ConfigDict

__all__ = ["ChatMessage", "Responder", "ResponderError", "ResponderTimeout"]


class ChatMessage(BaseModel):
    """A chat message that is not a command, as responders (and the `http` service) see it."""

    model_config = ConfigDict(frozen=True)

    text: str
    sender_uuid: str
    sender_name: str
    sender_role: Literal["host", "guest"]
    #: Sent privately to the bot (else to the whole conference).
    direct: bool
    alias: str
    conference: str | None = None


class Responder(Protocol):
    """An async callable from a message to a reply (None: no answer, let the next try).

    It may also have an async `aclose()`, called when the bot leaves."""

    def __call__(self, message: ChatMessage, /) -> Awaitable[str | None]: ...


class ResponderError(Exception):
    """The responder could not answer; its message (one line, no secrets) is told the
    sender: `sorry, no answer: <message>`."""


class ResponderTimeout(ResponderError):
    """The responder's service did not answer in time (counted as a `timeout`)."""
