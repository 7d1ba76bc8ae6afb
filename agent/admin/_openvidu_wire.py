"""The wire side of the OpenVidu client: documented statuses per operation, error bodies,
response parsing and path/query encoding."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import TypeVar
from urllib.parse import quote

from pydantic import BaseModel, ValidationError

from ..infinity import HttpResponse
from ._openvidu_errors import (
    AutodiscoveryNotPossibleError,
    BadRequestError,
    DuplicateMediaNodeError,
    IllegalTransitionError,
    LaunchFailedError,
    MediaNodeBusyError,
    MediaNodeNotFoundError,
    MediaNodeUnreachableError,
    OpenViduHTTPError,
    OpenViduServerError,
    ResponseValidationError,
    TerminationFailedError,
    UnexpectedStatusError,
    UriRequiredError,
)

ModelT = TypeVar("ModelT", bound=BaseModel)

ErrorTable = Mapping[int, type[OpenViduHTTPError]]

# Per operation, what each documented status means (the seed's "HTTP responses" lists).
GET_ERRORS: ErrorTable = {404: MediaNodeNotFoundError}
ADD_ERRORS: ErrorTable = {
    400: BadRequestError,
    404: MediaNodeUnreachableError,
    409: DuplicateMediaNodeError,
    501: UriRequiredError,
    502: LaunchFailedError,
}
REMOVE_ERRORS: ErrorTable = {
    400: BadRequestError,
    404: MediaNodeNotFoundError,
    409: MediaNodeBusyError,
    502: TerminationFailedError,
}
PATCH_ERRORS: ErrorTable = {400: IllegalTransitionError, 404: MediaNodeNotFoundError}
AUTODISCOVER_ERRORS: ErrorTable = {405: AutodiscoveryNotPossibleError}
RESTART_ERRORS: ErrorTable = {400: BadRequestError}


def bool_param(value: bool) -> str:
    return "true" if value else "false"


def node_path_id(node_id: str) -> str:
    if not node_id or not node_id.strip():
        raise ValueError("media node id must not be empty")
    return quote(node_id, safe="")


def repair_member_list(text: str) -> str:
    """The seed's PUT sample puts object members straight into `content: [ ... ]`; wrap
    them in braces so the documented shape still parses."""
    members = r'"content"\s*:\s*\[\s*("[^"]+"\s*:.*?)\s*\]'
    return re.sub(members, r'"content": [{\1}]', text, count=1, flags=re.S)


def clean_message(text: str, secret: str) -> str:
    """A server message fit for a one-line error: no secret, no newlines, bounded."""
    text = " ".join(text.split())
    if secret:
        text = text.replace(secret, "***")
    return text[:200]


def server_message(resp: HttpResponse, secret: str) -> str:
    """The `message` (or `error`) of a JSON error body, else the text itself."""
    text = resp.text.strip()
    if not text:
        return ""
    try:
        data = json.loads(text)
    except ValueError:
        return clean_message(text, secret)
    if isinstance(data, dict):
        for key in ("message", "error"):
            if isinstance(data.get(key), str) and data[key]:
                return clean_message(data[key], secret)
    return clean_message(text, secret)


def http_error(
    operation: str, resp: HttpResponse, table: ErrorTable, secret: str
) -> OpenViduHTTPError:
    """The typed error for an error status of this operation."""
    cls = table.get(resp.status)
    if cls is None:
        cls = OpenViduServerError if resp.status >= 500 else UnexpectedStatusError
    return cls(operation, resp.status, server_message(resp, secret))


def parse_response(
    operation: str, resp: HttpResponse, model: type[ModelT], *, lenient: bool = False
) -> ModelT:
    """The body as `model`, or a `ResponseValidationError` naming the first bad field.
    `lenient` also accepts the seed's malformed PUT sample."""
    try:
        data = json.loads(resp.text)
    except ValueError:
        if not lenient:
            raise ResponseValidationError(operation, resp.status, "not JSON") from None
        try:
            data = json.loads(repair_member_list(resp.text))
        except ValueError:
            raise ResponseValidationError(operation, resp.status, "not JSON") from None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "(top level)"
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise ResponseValidationError(
            operation, resp.status, f"{where}: {err['msg']}{more}"
        ) from None
