"""Client API v2 for Pexip Infinity: typed endpoints, join flows, token refresh, events.

Everything a bot author needs is importable from here; the modules with a leading
underscore are implementation. Models live in `agent.infinity.models`.
"""

from __future__ import annotations

from . import breakout_endpoints, endpoints, models
from ._http import ApiClient, Endpoint
from ._http11 import Http11Transport
from ._retry import RetryPolicy, RetryStats, is_transient_status
from ._transport import (
    HttpRequest,
    HttpResponse,
    StreamResponse,
    Transport,
    TransportError,
    public_url,
)
from .breakout_client import (
    BreakoutCallClient,
    BreakoutParticipantClient,
    BreakoutRoomClient,
    BreakoutsClient,
)
from .client import CallClient, ConferenceClient, ParticipantClient
from .errors import (
    BadRequestError,
    ExtensionNotFoundError,
    ExtensionRequiredError,
    ForbiddenError,
    IdpRequiredError,
    InfinityError,
    InfinityHTTPError,
    InvalidPinError,
    InvalidTokenError,
    NotFoundError,
    NotPexipError,
    PinRequiredError,
    PinRetriesExceededError,
    ResponseValidationError,
    ServerError,
    SsoRedirectError,
    UnexpectedStatusError,
)
from .events import EventStream, EventStreamLost, StreamInterrupted, StreamItem, StreamOpened
from .expires import ExpiresBounds
from .reasons import ReasonCode, reason_code
from .rooms import BreakoutRoom, BreakoutRooms, RoomChange
from .roster import Changed, Joined, Left, Roster, RosterChange
from .session import InfinitySession, JoinOptions, TokenLost, join_token

__all__ = [
    "ApiClient",
    "BadRequestError",
    "BreakoutCallClient",
    "BreakoutParticipantClient",
    "BreakoutRoom",
    "BreakoutRoomClient",
    "BreakoutRooms",
    "BreakoutsClient",
    "CallClient",
    "Changed",
    "ConferenceClient",
    "Endpoint",
    "EventStream",
    "EventStreamLost",
    "ExpiresBounds",
    "ExtensionNotFoundError",
    "ExtensionRequiredError",
    "ForbiddenError",
    "Http11Transport",
    "HttpRequest",
    "HttpResponse",
    "IdpRequiredError",
    "InfinityError",
    "InfinityHTTPError",
    "InfinitySession",
    "InvalidPinError",
    "InvalidTokenError",
    "JoinOptions",
    "Joined",
    "Left",
    "NotFoundError",
    "NotPexipError",
    "ParticipantClient",
    "PinRequiredError",
    "PinRetriesExceededError",
    "ReasonCode",
    "ResponseValidationError",
    "RetryPolicy",
    "RetryStats",
    "RoomChange",
    "Roster",
    "RosterChange",
    "ServerError",
    "SsoRedirectError",
    "StreamInterrupted",
    "StreamItem",
    "StreamOpened",
    "StreamResponse",
    "TokenLost",
    "Transport",
    "TransportError",
    "UnexpectedStatusError",
    "breakout_endpoints",
    "endpoints",
    "is_transient_status",
    "join_token",
    "models",
    "public_url",
    "reason_code",
]
