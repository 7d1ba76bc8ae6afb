"""Built-in plugins by name. Imported lazily: a bot loads only the plugins it uses."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .plugins import Plugin

BUILTIN_PLUGINS: dict[str, Callable[[], type[Plugin[Any]]]] = {}
