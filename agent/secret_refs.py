"""Settings that say where a secret is (an environment variable's name, a file's path).

A plugin marks such a setting with `SecretReference` so that whoever hands it settings from
outside can hold the references to a policy: `pexbot serve` accepts a job's plugin settings
from its API callers, and a caller must not make a worker read any variable or file it
likes and send it to a server of the caller's choosing (see `agent.service`)::

    from typing import Annotated
    from agent import SecretReference

    class Settings(BaseModel):
        token_env: Annotated[str | None, SecretReference("env")] = None
        token_file: Annotated[str | None, SecretReference("file")] = None
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel

__all__ = ["SecretReference", "secret_references"]


@dataclass(frozen=True)
class SecretReference:
    """Marks a setting naming an environment variable (`env`) or a file (`file`) that holds a
    secret (put it in `Annotated[...]`)."""

    kind: Literal["env", "file"]


def secret_references(model: BaseModel, loc: str = "") -> Iterator[tuple[str, str, str]]:
    """(`loc`, kind, value) of every marked setting given in `model` (not defaults), nested models,
    lists and dicts included; `loc` is dotted (`storage.secret_access_key_env`)."""
    for name, info in type(model).model_fields.items():
        value = getattr(model, name)
        where = f"{loc}.{name}" if loc else name
        for mark in info.metadata:
            # A default was chosen by the plugin's author, not by whoever sent the settings.
            given = name in model.model_fields_set
            if isinstance(mark, SecretReference) and isinstance(value, str) and given:
                yield where, mark.kind, value
        yield from _nested(value, where)


def _nested(value: object, loc: str) -> Iterator[tuple[str, str, str]]:
    if isinstance(value, BaseModel):
        yield from secret_references(value, loc)
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _nested(item, f"{loc}.{key}")
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            yield from _nested(item, f"{loc}.{i}")
