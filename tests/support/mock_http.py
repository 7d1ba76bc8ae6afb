"""`aioresponses` for aiohttp 3.14: the released aioresponses (0.7.9) builds responses without
the `stream_writer` argument aiohttp 3.14 requires (pnuckowski/aioresponses#289). `Responses`
supplies it; drop the shim once a fixed aioresponses is released."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import aiohttp
from aioresponses import aioresponses


class _Response(aiohttp.ClientResponse):
    def __init__(self, method: str, url: Any, **kwargs: Any) -> None:
        # The request was "sent" (writer=None): aiohttp only reads the writer's output size.
        kwargs.setdefault("stream_writer", SimpleNamespace(output_size=0))
        super().__init__(method, url, **kwargs)


class Responses(aioresponses):
    """`aioresponses` whose mocked responses construct under aiohttp 3.14."""

    def add(self, url: Any, method: str = "GET", *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("response_class", _Response)
        super().add(url, method, *args, **kwargs)
