"""Every non-breakout endpoint of the client API v2, as `Endpoint` values.

Keys are the schema's `x-endpoints` keys; `ENDPOINTS` maps each key to its descriptor so the
contract tests can walk them all.
"""

from __future__ import annotations

from typing import Any

from pydantic import TypeAdapter

from ._http import Endpoint
from .models.token import (
    RefreshTokenResult,
    ReleaseTokenBody,
    RequestTokenBody,
    RequestTokenResult,
)

_BOOL: TypeAdapter[bool] = TypeAdapter(bool)

REQUEST_TOKEN = Endpoint(
    "request_token",
    "POST",
    "request_token",
    TypeAdapter(RequestTokenResult),
    body=RequestTokenBody,
    statuses=frozenset({200, 403, 404, 415, 502, 503, 504, 529}),
    token_request=True,
)
REFRESH_TOKEN = Endpoint(
    "refresh_token",
    "POST",
    "refresh_token",
    TypeAdapter(RefreshTokenResult),
    statuses=frozenset({200, 403}),
)
RELEASE_TOKEN = Endpoint(
    "release_token",
    "POST",
    "release_token",
    _BOOL,
    body=ReleaseTokenBody,
    statuses=frozenset({200, 403}),
)

ENDPOINTS: dict[str, Endpoint[Any]] = {
    e.key: e for e in (REQUEST_TOKEN, REFRESH_TOKEN, RELEASE_TOKEN)
}
