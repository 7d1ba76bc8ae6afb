"""Built-in plugins by name. Imported lazily: a bot loads only the plugins it uses."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .plugins import Plugin


def _webhook() -> type[Plugin[Any]]:
    from .webhook import WebhookPlugin  # noqa: PLC0415

    return WebhookPlugin


BUILTIN_PLUGINS: dict[str, Callable[[], type[Plugin[Any]]]] = {
    "webhook": _webhook,
}
