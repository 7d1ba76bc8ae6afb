"""How a bot's stay ends: the outcome of a session, its failure reason, the bot's result."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ..infinity import TransportError, is_transient_status
from ..infinity.errors import (
    ExtensionNotFoundError,
    ExtensionRequiredError,
    InfinityError,
    InfinityHTTPError,
    InvalidPinError,
    NotFoundError,
    PinRequiredError,
    PinRetriesExceededError,
)
from ..infinity.reasons import ReasonCode
from .states import BotState, FailureReason

__all__ = [
    "BotResult",
    "Outcome",
    "conference_ended",
    "failure_for_join_error",
    "is_transient_join_error",
]


@dataclass(frozen=True)
class BotResult:
    state: BotState
    reason: FailureReason | None
    detail: str
    exit_code: int
    rejoins: int
    #: Calls re-placed after media loss, over the whole session.
    recalls: int = 0
    #: The conference the bot was in (after a Virtual Reception: the one it was forwarded
    #: to); empty if it never joined.
    conference: str = ""


OutcomeKind = Literal[
    "leave",
    "token_lost",
    "disconnected",
    "ended",
    "stream_lost",
    "waiting_timeout",
    "media_failed",
    # A `refer`: the bot follows it (never an ending by itself).
    "moved",
]


@dataclass
class Outcome:
    """Why one stay in the conference ended."""

    kind: OutcomeKind
    detail: str = ""

    def failure(self, asked: FailureReason | None) -> FailureReason | None:
        """The failure this outcome means (`asked`: what a leave request carried)."""
        return asked if self.kind == "leave" else _FAILURES[self.kind]


_FAILURES: dict[OutcomeKind, FailureReason | None] = {
    "ended": None,
    "token_lost": FailureReason.TOKEN_LOST,
    "disconnected": FailureReason.DISCONNECTED,
    "stream_lost": FailureReason.NODE_UNREACHABLE,
    "waiting_timeout": FailureReason.WAITING_ROOM_TIMEOUT,
    "media_failed": FailureReason.MEDIA_FAILED,
    "moved": None,
}

#: Disconnect reasons that mean the conference is over (a normal end for a bot).
_CONFERENCE_ENDED = frozenset(
    {
        ReasonCode.HOST_ENDED_BY_DTMF,
        ReasonCode.API_CONFERENCE_TERMINATION,
        ReasonCode.TERMINATED_BY_PARTICIPANT,
        ReasonCode.NO_PARTICIPANTS_KEEP_ALIVE,
        ReasonCode.ALL_HOSTS_DEPARTED,
        ReasonCode.LAST_PARTICIPANT_TIMEOUT,
        ReasonCode.TEST_CALL_FINISHED,
    }
)


def conference_ended(code: ReasonCode | None) -> bool:
    """Whether a `disconnect` with this reason code means the conference is over."""
    return code in _CONFERENCE_ENDED


# Most specific first: the first matching class gives the reason.
_JOIN_FAILURES: tuple[tuple[type[BaseException], FailureReason], ...] = (
    (PinRequiredError, FailureReason.PIN_REQUIRED),
    (InvalidPinError, FailureReason.INVALID_PIN),
    (PinRetriesExceededError, FailureReason.PIN_RETRIES_EXCEEDED),
    (ExtensionRequiredError, FailureReason.EXTENSION_REQUIRED),
    (ExtensionNotFoundError, FailureReason.EXTENSION_NOT_FOUND),
    (NotFoundError, FailureReason.CONFERENCE_NOT_FOUND),
    (TransportError, FailureReason.NODE_UNREACHABLE),
    (InfinityError, FailureReason.NODE_ERROR),
)


def failure_for_join_error(exc: BaseException) -> FailureReason:
    return next((r for kind, r in _JOIN_FAILURES if isinstance(exc, kind)), FailureReason.INTERNAL)


def is_transient_join_error(exc: BaseException) -> bool:
    """A join the node may well accept on a later try: it answered 5xx or 429, or could not
    be reached, after the client's own retries. A definitive answer (403 with a reason, 404,
    a malformed answer) is not."""
    if isinstance(exc, TransportError):
        return exc.transient
    return isinstance(exc, InfinityHTTPError) and is_transient_status(exc.status)
