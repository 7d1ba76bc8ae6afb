"""Typed errors of the client API.

Every error names the endpoint and what was wrong. None of them ever holds a token or a PIN:
messages are built from the endpoint name, the status and the server's reason string only.
"""

from __future__ import annotations

from typing import Literal

from ._transport import TransportError
from .reasons import ReasonCode, reason_code

__all__ = [
    "BadRequestError",
    "ExtensionNotFoundError",
    "ExtensionRequiredError",
    "ForbiddenError",
    "IdpRequiredError",
    "InfinityError",
    "InfinityHTTPError",
    "InvalidPinError",
    "InvalidTokenError",
    "NotFoundError",
    "NotPexipError",
    "PinRequiredError",
    "PinRetriesExceededError",
    "ResponseValidationError",
    "ServerError",
    "SsoRedirectError",
    "TransportError",
    "UnexpectedStatusError",
]


class InfinityError(Exception):
    """Base of every error raised by `agent.infinity` except `TransportError`."""


class ResponseValidationError(InfinityError):
    """The node answered with something that does not fit the endpoint's contract."""

    def __init__(self, endpoint: str, status: int, detail: str) -> None:
        super().__init__(f"{endpoint}: invalid {status} response: {detail}")
        self.endpoint = endpoint
        self.status = status
        self.detail = detail


class NotPexipError(ResponseValidationError):
    """The server answered, but not as a Pexip client API does (an HTML page, a plain 404
    of some other web server): the node URL is probably wrong."""

    def __init__(self, endpoint: str, status: int, content_type: str, url: str = "") -> None:
        got = content_type.split(";", maxsplit=1)[0].strip() or "no content type"
        where = url or endpoint
        suffix = "" if status == 200 else f" (HTTP {status})"
        InfinityError.__init__(self, f"not a Pexip client API: got {got} from {where}{suffix}")
        self.endpoint = endpoint
        self.status = status
        self.detail = f"got {got}"
        self.content_type = content_type
        self.url = url


class InfinityHTTPError(InfinityError):
    """An error response: `status` and the node's reason string (`reason`)."""

    def __init__(self, endpoint: str, status: int, reason: str) -> None:
        self.endpoint = endpoint
        self.status = status
        self.reason = reason
        self.code = reason_code(reason)
        super().__init__(
            f"{endpoint}: HTTP {status}: {reason}" if reason else f"{endpoint}: HTTP {status}"
        )


class UnexpectedStatusError(InfinityHTTPError):
    """A status the endpoint never answers with (the SDK's "Unexpected status N")."""


class BadRequestError(InfinityHTTPError):
    """400: the node rejected the request (e.g. an SDP it cannot use in `calls`)."""


class NotFoundError(InfinityHTTPError):
    """404: unknown conference alias, participant or call."""


class ServerError(InfinityHTTPError):
    """5xx (or 529): the node is overloaded, in maintenance, or failed."""


class ForbiddenError(InfinityHTTPError):
    """403 with a reason string not covered by a more specific class below."""


class InvalidTokenError(ForbiddenError):
    """403 "Invalid token": the token expired or was released."""


class InvalidPinError(ForbiddenError):
    """403 "Invalid PIN" (#pex101)."""


class PinRetriesExceededError(ForbiddenError):
    """403 "Participant exceeded PIN entry retries" (#pex192)."""


class ExtensionNotFoundError(ForbiddenError):
    """The Virtual Reception does not know the extension (403 string or a 404)."""


class PinRequiredError(ForbiddenError):
    """The conference needs a PIN. `host_pin`/`guest_pin`: which PINs it has."""

    def __init__(self, endpoint: str, *, host_pin: bool, guest_pin: bool) -> None:
        super().__init__(endpoint, 403, "PIN required")
        self.host_pin = host_pin
        self.guest_pin = guest_pin


class ExtensionRequiredError(ForbiddenError):
    """A Virtual Reception: retry `request_token` with `conference_extension`."""

    def __init__(self, endpoint: str, *, extension_type: Literal["standard", "mssip"]) -> None:
        super().__init__(endpoint, 403, "Conference extension required")
        self.extension_type = extension_type


class IdpRequiredError(ForbiddenError):
    """SSO: the conference asks to choose an identity provider (not supported by bots)."""

    def __init__(self, endpoint: str, *, idps: list[str]) -> None:
        super().__init__(endpoint, 403, "Identity provider required")
        self.idps = idps


class SsoRedirectError(ForbiddenError):
    """SSO: the conference redirects to an identity provider (not supported by bots)."""

    def __init__(self, endpoint: str) -> None:
        super().__init__(endpoint, 403, "SSO redirect required")


def forbidden_for_reason(endpoint: str, reason: str) -> ForbiddenError:
    """The most specific 403 error class for a reason string."""
    code = reason_code(reason)
    cls: type[ForbiddenError] = {
        ReasonCode.INVALID_TOKEN: InvalidTokenError,
        ReasonCode.INVALID_PIN: InvalidPinError,
        ReasonCode.PIN_RETRIES_EXCEEDED: PinRetriesExceededError,
        ReasonCode.EXTENSION_NOT_FOUND: ExtensionNotFoundError,
    }.get(code, ForbiddenError)
    return cls(endpoint, 403, reason)
