"""The bot's lifecycle as an explicit state machine.

Every transition is checked against `TRANSITIONS` (an impossible transition is a bug and
raises), stamped on the bot's monotonic clock, and handed to listeners: plugins, the log
and metrics all see the same `StateChanged` values. A failure always carries a
`FailureReason`, which is also what `pexbot run` turns into its exit code.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal


class BotState(StrEnum):
    JOINING = "joining"
    PIN_REQUIRED = "pin_required"
    WAITING_ROOM = "waiting_room"
    CONNECTED = "connected"
    IN_CALL = "in_call"
    RECONNECTING = "reconnecting"
    LEAVING = "leaving"
    LEFT = "left"
    FAILED = "failed"


class FailureReason(StrEnum):
    PIN_REQUIRED = "pin_required"
    INVALID_PIN = "invalid_pin"
    PIN_RETRIES_EXCEEDED = "pin_retries_exceeded"
    EXTENSION_REQUIRED = "extension_required"
    EXTENSION_NOT_FOUND = "extension_not_found"
    CONFERENCE_NOT_FOUND = "conference_not_found"
    WAITING_ROOM_TIMEOUT = "waiting_room_timeout"
    DISCONNECTED = "disconnected"
    TOKEN_LOST = "token_lost"
    MEDIA_FAILED = "media_failed"
    NODE_UNREACHABLE = "node_unreachable"
    NODE_ERROR = "node_error"
    STORAGE = "storage"
    #: A media source to send (`file:` audio or video) cannot be opened; found before joining.
    MEDIA = "media"
    CONFIG = "config"
    INTERNAL = "internal"


#: `pexbot run` exit codes: 0 is a clean leave; each failure has its own code.
EXIT_CODES: dict[FailureReason, int] = {
    FailureReason.CONFIG: 2,
    FailureReason.PIN_REQUIRED: 10,
    FailureReason.INVALID_PIN: 11,
    FailureReason.PIN_RETRIES_EXCEEDED: 12,
    FailureReason.EXTENSION_REQUIRED: 13,
    FailureReason.EXTENSION_NOT_FOUND: 14,
    FailureReason.CONFERENCE_NOT_FOUND: 15,
    FailureReason.WAITING_ROOM_TIMEOUT: 16,
    FailureReason.DISCONNECTED: 17,
    FailureReason.TOKEN_LOST: 18,
    FailureReason.MEDIA_FAILED: 19,
    FailureReason.NODE_UNREACHABLE: 20,
    FailureReason.NODE_ERROR: 21,
    FailureReason.STORAGE: 22,
    FailureReason.MEDIA: 23,
    FailureReason.INTERNAL: 70,
}

_S = BotState
TRANSITIONS: dict[BotState, frozenset[BotState]] = {
    # JOINING -> RECONNECTING: a rejoin the node refused transiently waits for its next try.
    _S.JOINING: frozenset(
        {_S.PIN_REQUIRED, _S.WAITING_ROOM, _S.CONNECTED, _S.RECONNECTING, _S.LEAVING, _S.FAILED}
    ),
    _S.PIN_REQUIRED: frozenset({_S.JOINING, _S.LEAVING, _S.FAILED}),
    _S.WAITING_ROOM: frozenset({_S.CONNECTED, _S.IN_CALL, _S.RECONNECTING, _S.LEAVING, _S.FAILED}),
    _S.CONNECTED: frozenset({_S.IN_CALL, _S.WAITING_ROOM, _S.RECONNECTING, _S.LEAVING, _S.FAILED}),
    _S.IN_CALL: frozenset({_S.CONNECTED, _S.WAITING_ROOM, _S.RECONNECTING, _S.LEAVING, _S.FAILED}),
    _S.RECONNECTING: frozenset(
        {_S.JOINING, _S.CONNECTED, _S.IN_CALL, _S.WAITING_ROOM, _S.LEAVING, _S.FAILED}
    ),
    _S.LEAVING: frozenset({_S.LEFT, _S.FAILED}),
    _S.LEFT: frozenset(),
    _S.FAILED: frozenset(),
}


@dataclass(frozen=True)
class StateChanged:
    old: BotState
    new: BotState
    at: float
    reason: FailureReason | None = None
    detail: str = ""

    hook = "on_state_changed"


GapCause = Literal["stream", "recall", "rejoin", "move"]


@dataclass(frozen=True)
class Gap:
    """A stretch of the session without events or media, on the bot's monotonic clock.

    Plugins get it after the stretch ends (stream reopened, call re-placed), so recordings
    and timelines keep gaps as gaps instead of collapsing them."""

    kind: Literal["events", "media"]
    start: float
    end: float
    #: Why: `stream` (the event stream dropped and was reopened), `recall` (media lost, the
    #: call re-placed), `rejoin` (the token was lost and the bot joined again) or `move` (a
    #: host bot's call moved into a breakout room or back).
    cause: GapCause = "stream"

    hook = "on_gap"


class IllegalTransition(RuntimeError):
    pass


class StateMachine:
    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.monotonic,
        listeners: list[Callable[[StateChanged], None]] | None = None,
    ) -> None:
        self.state = BotState.JOINING
        self.reason: FailureReason | None = None
        self.detail = ""
        self.history: list[StateChanged] = []
        self._clock = clock
        self._listeners = list(listeners or [])

    def listen(self, listener: Callable[[StateChanged], None]) -> None:
        self._listeners.append(listener)

    @property
    def finished(self) -> bool:
        return self.state in (BotState.LEFT, BotState.FAILED)

    def to(
        self, new: BotState, reason: FailureReason | None = None, detail: str = ""
    ) -> StateChanged | None:
        """Move to `new`; a move to the current state is a no-op (returns None)."""
        if new == self.state:
            return None
        if new not in TRANSITIONS[self.state]:
            raise IllegalTransition(f"{self.state} -> {new}")
        if new == BotState.FAILED and reason is None:
            raise ValueError("a failure needs a reason")
        change = StateChanged(self.state, new, self._clock(), reason, detail)
        self.state, self.reason, self.detail = new, reason, detail
        self.history.append(change)
        for listener in self._listeners:
            listener(change)
        return change

    def exit_code(self) -> int:
        if self.state == BotState.FAILED and self.reason is not None:
            return EXIT_CODES[self.reason]
        return 0
