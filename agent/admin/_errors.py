"""Typed errors of the management API client. Messages never carry credentials."""

from __future__ import annotations

from typing import Any


class ManagementError(Exception):
    """Base class of every management API client error."""


class ManagementTransportError(ManagementError):
    """The request produced no HTTP response (refused, reset, timed out)."""


class ManagementHTTPError(ManagementError):
    """The manager answered with an error status.

    `status` is the HTTP status, `message` what the body said (Tastypie's `error`, a
    command's `message`, a field error), `body` the parsed body (or text), `attempts` how
    many times the request was sent before giving up.
    """

    def __init__(
        self, status: int, message: str, *, path: str, body: Any = None, attempts: int = 1
    ) -> None:
        tries = f" after {attempts} attempts" if attempts > 1 else ""
        super().__init__(f"{path}: HTTP {status}{tries}: {message}")
        self.status = status
        self.message = message
        self.path = path
        self.body = body
        self.attempts = attempts


class ManagementAuthError(ManagementHTTPError):
    """401/403: wrong credentials, an expired bearer token, or no permission."""


class ManagementNotFoundError(ManagementHTTPError):
    """404: no such resource or object."""


class ManagementBadRequestError(ManagementHTTPError):
    """400: a filter, ordering or body the manager refused (`message` says which)."""


class ManagementRateLimitedError(ManagementHTTPError):
    """429 that the retry budget could not wait out."""


class ManagementServerError(ManagementHTTPError):
    """5xx that the retry budget could not wait out."""


class CommandError(ManagementError):
    """A command the manager refused: `{status: "error"|"failed", message}` or a 4xx."""

    def __init__(self, action: str, message: str, *, status: int, body: Any = None) -> None:
        super().__init__(f"command {action}: {message} (HTTP {status})")
        self.action = action
        self.message = message
        self.status = status
        self.body = body


class ManagementResponseError(ManagementError):
    """A 2xx answer whose body is not what the resource should return."""


class PageLimitError(ManagementError):
    """Paging stopped at the page cap before `meta.next` ran out.

    `fetched` objects were delivered; `total_count` is what the manager said exists.
    """

    def __init__(self, path: str, pages: int, fetched: int, total_count: int | None) -> None:
        total = "?" if total_count is None else str(total_count)
        super().__init__(
            f"{path}: stopped after {pages} pages ({fetched} of {total} objects); "
            "narrow the filters or raise max_pages"
        )
        self.path = path
        self.pages = pages
        self.fetched = fetched
        self.total_count = total_count


class ReadOnlyError(ManagementError):
    """A write to the configuration API: the client is read-only there by design."""


__all__ = [
    "CommandError",
    "ManagementAuthError",
    "ManagementBadRequestError",
    "ManagementError",
    "ManagementHTTPError",
    "ManagementNotFoundError",
    "ManagementRateLimitedError",
    "ManagementResponseError",
    "ManagementServerError",
    "ManagementTransportError",
    "PageLimitError",
    "ReadOnlyError",
]
