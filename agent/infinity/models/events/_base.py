"""The base of every event model, the registry of event names, and the two report types.

Every `EventModel` subclass with a `name` registers itself in `EVENT_TYPES` when its class
is defined, so the parser (`_parse.py`) needs no list of the concept modules.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal, TypeAlias

from pydantic import ConfigDict, Field

from .._base import ApiModel

__all__ = ["EVENT_TYPES", "AnyEvent", "EventModel", "MalformedEvent", "NoPayload", "RawEvent"]

#: SSE event name -> event class, for every event the package types.
EVENT_TYPES: dict[str, type[EventModel]] = {}

PayloadKind = Literal["object", "none", "wrap"]


class EventModel(ApiModel):
    """Base of every event: immutable; unknown payload fields are ignored."""

    model_config = ConfigDict(frozen=True)

    #: The SSE event name this class is parsed from.
    name: ClassVar[str] = ""
    #: How the payload maps onto the model: "object" (payload fields are the model's fields),
    #: "none" (the payload is ignored), "wrap" (the whole payload is the one field `_field`).
    _kind: ClassVar[PayloadKind] = "object"
    _field: ClassVar[str] = ""
    #: An "object" event that also accepts a JSON `null` payload (all fields defaulted).
    _nullable: ClassVar[bool] = False

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        # Registered once the model is complete (the parser reads its fields).
        if cls.name and "name" in vars(cls):
            EVENT_TYPES[cls.name] = cls


class NoPayload(EventModel):
    """An event whose payload is ignored (Pexip's SDK accepts any)."""

    _kind: ClassVar[PayloadKind] = "none"


class _Report(ApiModel):
    model_config = ConfigDict(frozen=True)


class RawEvent(_Report):
    """An event this package does not know. `data` is the decoded JSON payload, or the raw
    text when the payload is not JSON. It may hold secrets: do not log it."""

    name: str
    data: Any = Field(default=None, repr=False)


class MalformedEvent(_Report):
    """A known event whose payload is not JSON or does not fit its model. `error` names the
    fields and problems only (never payload values)."""

    name: str
    error: str


#: What the parser returns, before the package narrows it to its union of known events.
AnyEvent: TypeAlias = EventModel | RawEvent | MalformedEvent
