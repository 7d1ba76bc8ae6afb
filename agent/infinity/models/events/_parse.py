"""SSE message -> event object, through the registry of `_base.py`. Never raises."""

from __future__ import annotations

import json
from typing import Any

from pydantic import TypeAdapter, ValidationError

from ..._sse import SseMessage
from ._base import EVENT_TYPES, AnyEvent, EventModel, MalformedEvent, RawEvent

__all__ = ["parse_any", "parse_any_data"]


class _Parser:
    """Per-class fast path, built on first use: validate the JSON text straight into the model."""

    __slots__ = ("adapter", "cls", "field", "kind")

    def __init__(self, cls: type[EventModel]) -> None:
        self.cls = cls
        self.kind = cls._kind
        self.field = cls._field
        self.adapter: TypeAdapter[Any] | None = None
        if self.kind == "wrap":
            annotation = cls.model_fields[self.field].annotation
            assert annotation is not None
            self.adapter = TypeAdapter(annotation)


_PARSERS: dict[str, _Parser] = {}


def _parser(name: str) -> _Parser | None:
    parser = _PARSERS.get(name)
    if parser is None:
        cls = EVENT_TYPES.get(name)
        if cls is None:
            return None
        parser = _PARSERS[name] = _Parser(cls)
    return parser


def _describe(exc: ValidationError) -> str:
    # Locations and messages only: `input` values could hold a token.
    errors = exc.errors(include_url=False, include_input=False, include_context=False)
    parts = []
    for e in errors[:5]:
        loc = ".".join(str(p) for p in e["loc"])
        parts.append(f"{loc}: {e['msg']}" if loc else str(e["msg"]))
    more = len(errors) - 5
    return "; ".join(parts) + (f" (+{more} more)" if more > 0 else "")


def _no_payload(cls: type[EventModel], msg_id: str | None) -> EventModel:
    # `presentation_frame` carries its frame id in the SSE `id:` line, not in the payload.
    if "frame_id" in cls.model_fields:
        return cls(frame_id=msg_id)
    return cls()


def parse_any(msg: SseMessage) -> AnyEvent:
    """The typed event for one SSE message."""
    name = msg.event
    parser = _parser(name)
    if parser is None:
        try:
            data: object = json.loads(msg.data)
        except ValueError:
            data = msg.data
        return RawEvent(name=name, data=data)
    cls = parser.cls
    try:
        if parser.kind == "wrap":
            assert parser.adapter is not None
            value = parser.adapter.validate_json(msg.data)
            return cls(**{parser.field: value})
        if parser.kind == "none":
            return _no_payload(cls, msg.id)
        if cls._nullable and msg.data.strip() == "null":
            return cls()
        return cls.model_validate_json(msg.data)
    except ValidationError as exc:
        return MalformedEvent(name=name, error=_describe(exc))


def parse_any_data(name: str, data: object) -> AnyEvent:
    """The typed event for an already decoded payload (e.g. inside `breakout_event`)."""
    parser = _parser(name)
    if parser is None:
        return RawEvent(name=name, data=data)
    cls = parser.cls
    try:
        if parser.kind == "wrap":
            assert parser.adapter is not None
            value = parser.adapter.validate_python(data)
            return cls(**{parser.field: value})
        if parser.kind == "none":
            return _no_payload(cls, None)
        if cls._nullable and data is None:
            return cls()
        return cls.model_validate(data)
    except ValidationError as exc:
        return MalformedEvent(name=name, error=_describe(exc))
