"""Responders: what answers chat messages that are not commands.

A responder is named in the config (`use`) by its name in the `pexbot.responders`
entry-point group (`faq`, `http`, or a package's own) or as `module:attribute`. The object
found is either the async callable itself (then it takes no options), or a factory (a class,
usually) called with the entry's `options`, validated first against its `Options` pydantic
model when it has one, that returns the async callable.
"""

from __future__ import annotations

import importlib
import inspect
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any, cast

from pydantic import BaseModel, ValidationError

from ..message import Responder

__all__ = ["RESPONDER_GROUP", "LoadedResponder", "ResponderLoadError", "load_responder"]

RESPONDER_GROUP = "pexbot.responders"


class ResponderLoadError(ValueError):
    """A responder cannot be found, built or configured (one line, naming what is wrong)."""


@dataclass(frozen=True)
class LoadedResponder:
    use: str
    respond: Responder


def _find(use: str) -> object:
    if ":" in use:
        module_name, _, attr = use.partition(":")
        try:
            return getattr(importlib.import_module(module_name), attr)
        except (ImportError, AttributeError) as exc:
            raise ResponderLoadError(f"cannot load {use!r}: {exc}") from None
        except Exception as exc:  # the module itself failed to import
            raise ResponderLoadError(f"cannot load {use!r}: {type(exc).__name__}: {exc}") from None
    matches = [ep for ep in entry_points(group=RESPONDER_GROUP) if ep.name == use]
    if not matches:
        known = sorted({ep.name for ep in entry_points(group=RESPONDER_GROUP)})
        raise ResponderLoadError(
            f"{use!r} is not in entry-point group {RESPONDER_GROUP!r} "
            f"(known: {', '.join(known) or 'none'}) and not module:function"
        )
    try:
        return matches[0].load()
    except Exception as exc:
        raise ResponderLoadError(f"loading {use!r} failed: {exc}") from None


def _problems(exc: ValidationError) -> str:
    return "; ".join(
        f"options.{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" if e["loc"] else e["msg"]
        for e in exc.errors()
    )


def load_responder(use: str, options: dict[str, Any]) -> LoadedResponder:
    """The responder `use` names, built with `options` (raises `ResponderLoadError`)."""
    obj = _find(use)
    if inspect.iscoroutinefunction(obj):
        if options:
            raise ResponderLoadError(f"{use!r} is a function and takes no options")
        return LoadedResponder(use, cast(Responder, obj))
    if not callable(obj):
        raise ResponderLoadError(f"{use!r} is not callable")
    model = getattr(obj, "Options", None)
    try:
        if isinstance(model, type) and issubclass(model, BaseModel):
            built = obj(model.model_validate(options))
        else:
            built = obj(**options)
    except ValidationError as exc:
        raise ResponderLoadError(f"{use!r}: {_problems(exc)}") from None
    except (TypeError, ValueError) as exc:
        raise ResponderLoadError(
            f"{use!r}: cannot build it with these options ({exc}); a responder is an async "
            "function, or a factory that takes the options and returns one"
        ) from None
    call = getattr(built, "__call__", None)  # noqa: B004 - an instance with an async __call__
    if not (inspect.iscoroutinefunction(built) or inspect.iscoroutinefunction(call)):
        raise ResponderLoadError(f"{use!r} did not give an async callable")
    return LoadedResponder(use, cast(Responder, built))
