"""Typed errors of the OpenVidu Pro client, one per documented status and operation.

Messages are one line and name the operation; they are built from the operation, the
status and the server's message only, so they never carry the secret. Every error has an
`exit_code`, the one `pexbot openvidu` exits with.
"""

from __future__ import annotations


class OpenViduError(Exception):
    """Base of every error of the OpenVidu client."""

    exit_code = 7


class AdminActionRefusedError(OpenViduError):
    """A mutation refused locally: `allow_admin_actions` is off, or a second confirmation
    (deletion strategy `now`, restart) was not given. Nothing was sent."""

    exit_code = 3


class AuditLogError(OpenViduError):
    """The audit log could not be written, so the mutation was not attempted."""

    exit_code = 3


class OpenViduConnectionError(OpenViduError):
    """No HTTP answer: connection refused, reset, DNS failure or timeout."""

    exit_code = 4


class MediaNodeApiNotAvailableError(OpenViduError):
    """The server has neither the 2.16+ nor the 2.13-2.15 media-node paths."""

    exit_code = 6


class ResponseValidationError(OpenViduError):
    """The server answered with something that does not fit the documented shape."""

    exit_code = 8

    def __init__(self, operation: str, status: int, detail: str) -> None:
        super().__init__(f"{operation}: invalid HTTP {status} response: {detail}")
        self.operation = operation
        self.status = status
        self.detail = detail


class OpenViduHTTPError(OpenViduError):
    """An error status: `status`, and the server's own message if it sent one."""

    #: What the seed says the status means for this operation.
    meaning = "unexpected status"

    def __init__(self, operation: str, status: int, message: str = "") -> None:
        self.operation = operation
        self.status = status
        self.message = message
        text = f"{operation}: HTTP {status}: {self.meaning}"
        super().__init__(f"{text} ({message})" if message else text)


class UnexpectedStatusError(OpenViduHTTPError):
    """A status the operation is not documented to answer with."""


class OpenViduUnauthorizedError(OpenViduHTTPError):
    """401: wrong secret (the user is always OPENVIDUAPP)."""

    exit_code = 5
    meaning = "unauthorized: check the OpenVidu secret"


class BadRequestError(OpenViduHTTPError):
    """400: a body or query parameter was refused."""

    meaning = "bad request"


class IllegalTransitionError(BadRequestError):
    """400 on PATCH: the node cannot go from its current status to the one asked for."""

    meaning = "illegal status transition"


class MediaNodeNotFoundError(OpenViduHTTPError):
    """404: no media node with this id."""

    meaning = "no such media node"


class MediaNodeUnreachableError(OpenViduHTTPError):
    """404 on POST: OpenVidu cannot connect to the media node at this URI."""

    meaning = "media node not within reach of OpenVidu (wrong URI, network or proxy)"


class AutodiscoveryNotPossibleError(OpenViduHTTPError):
    """405 on PUT: on premises without an autodiscover script."""

    meaning = "autodiscovery not possible (on premises without an autodiscover script)"


class MediaNodeBusyError(OpenViduHTTPError):
    """409 on DELETE with `if-no-sessions`: the node still hosts sessions."""

    meaning = "media node has ongoing sessions (nothing was deleted)"


class DuplicateMediaNodeError(OpenViduHTTPError):
    """409 on POST: the media node is already registered."""

    meaning = "media node already registered"


class UriRequiredError(OpenViduHTTPError):
    """501 on POST: an on-premises cluster needs the media node's `uri`."""

    meaning = "on-premises cluster: the media node uri is required"


class LaunchFailedError(OpenViduHTTPError):
    """502 on POST: launching a new media node instance failed."""

    meaning = "launching the media node instance failed"


class TerminationFailedError(OpenViduHTTPError):
    """502 on DELETE: terminating the media node instance failed."""

    meaning = "terminating the media node instance failed"


class OpenViduServerError(OpenViduHTTPError):
    """Another 5xx: the server failed."""

    meaning = "server error"
