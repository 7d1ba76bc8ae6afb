"""`aioresponses` 0.7.9 (the newest) builds `ClientResponse` without the `stream_writer`
argument that aiohttp 3.14 requires. `mocked()` is `aioresponses()` with a response class
that supplies a finished writer, so the mock works on the aiohttp this project pins."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from unittest import mock

import aiohttp
from aioresponses import aioresponses
from aioresponses import core as aioresponses_core


class _SentWriter:
    """What a response needs of the writer of a request already sent."""

    output_size = 0


class _CompatResponse(aiohttp.ClientResponse):
    def __init__(self, method: str, url: Any, **kwargs: Any) -> None:
        kwargs.setdefault("stream_writer", _SentWriter())
        super().__init__(method, url, **kwargs)


@contextmanager
def mocked() -> Iterator[aioresponses]:
    with (
        mock.patch.object(aioresponses_core, "ClientResponse", _CompatResponse),
        aioresponses() as m,
    ):
        yield m
