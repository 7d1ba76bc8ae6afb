"""HTTP Basic (and OAuth2 bearer) auth and error answers of the management API.

Every admin handler is wrapped by `protected`: a missing or wrong `Authorization` gets 401
with `WWW-Authenticate: Basic` (what a Management Node's Django answers), and `AdminError`s
raised inside leave as their own JSON body, not the client API's `{status, result}`. A
bearer token is accepted when `POST /oauth/token/` handed it out and it has not expired.
"""

from __future__ import annotations

import base64
import binascii
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import hdrs, web

from ..config import ManagementConfig
from ..context import NODE
from .admin_state import ADMIN
from .models import CommandResult
from .tastypie import QueryError

AdminHandler = Callable[[web.Request], Awaitable[web.StreamResponse]]
REALM = 'Basic realm="Pexip Infinity management API"'


class AdminError(Exception):
    def __init__(self, status: int, body: Any) -> None:
        super().__init__(f"{status}: {body}")
        self.status = status
        self.body = body

    def response(self) -> web.Response:
        return web.json_response(self.body, status=self.status)


class NotFound(AdminError):
    def __init__(self, what: str) -> None:
        super().__init__(404, {"error": f"{what} not found"})


class CommandError(AdminError):
    """A command that could not be carried out: `{status: "error", message}`."""

    def __init__(self, message: str, status: int = 400) -> None:
        body = CommandResult(status="error", message=message).model_dump(mode="json")
        super().__init__(status, body)


def basic_credentials(header: str) -> tuple[str, str] | None:
    """(user, password) of a `Basic` Authorization header; None if it is not one."""
    scheme, _, encoded = header.strip().partition(" ")
    if scheme.lower() != "basic" or not encoded:
        return None
    try:
        raw = base64.b64decode(encoded.strip(), validate=True)
    except (binascii.Error, ValueError):
        return None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    user, colon, password = text.partition(":")
    return (user, password) if colon else None


def authorized(request: web.Request, config: ManagementConfig) -> bool:
    header = request.headers.get(hdrs.AUTHORIZATION, "")
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return request.app[ADMIN].oauth.valid(token.strip())
    given = basic_credentials(header)
    if given is None:
        return False
    user_ok = secrets.compare_digest(given[0].encode(), config.username.encode())
    password_ok = secrets.compare_digest(given[1].encode(), config.password.encode())
    return user_ok and password_ok


def unauthorized() -> web.Response:
    return web.Response(status=401, headers={hdrs.WWW_AUTHENTICATE: REALM})


def protected(handler: AdminHandler) -> AdminHandler:
    async def wrapped(request: web.Request) -> web.StreamResponse:
        if not authorized(request, request.app[NODE].config.management):
            return unauthorized()
        try:
            return await handler(request)
        except QueryError as exc:
            return web.json_response({"error": exc.message}, status=400)
        except AdminError as exc:
            return exc.response()

    return wrapped
