"""Response envelopes and request-body parsing shared by every route module."""

from __future__ import annotations

import json
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

ModelT = TypeVar("ModelT", bound=BaseModel)


class ApiError(Exception):
    """Raised by handlers; the error middleware turns it into `{status, result}`."""

    def __init__(self, http_status: int, result: Any, status: str = "failed") -> None:
        super().__init__(f"{http_status}: {result}")
        self.http_status = http_status
        self.result = result
        self.status = status


def ok(result: Any) -> web.Response:
    return web.json_response({"status": "success", "result": result})


def error_response(http_status: int, result: Any, status: str = "failed") -> web.Response:
    return web.json_response({"status": status, "result": result}, status=http_status)


async def read_json(request: web.Request, *, bad_status: int = 400) -> dict[str, Any]:
    """The request body as a JSON object; an empty body is `{}`.

    The content type is not checked: the SDK's `sendBeacon` release sends JSON without
    `application/json`.
    """
    raw = await request.read()
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise ApiError(bad_status, "Invalid JSON in request body") from None
    if not isinstance(body, dict):
        raise ApiError(bad_status, "Request body must be a JSON object")
    return body


async def parse_body(request: web.Request, model: type[ModelT], *, bad_status: int = 400) -> ModelT:
    body = await read_json(request, bad_status=bad_status)
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "body"
        raise ApiError(bad_status, f"Invalid request: {where}: {first['msg']}") from None
