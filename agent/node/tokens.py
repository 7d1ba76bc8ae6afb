"""Client API tokens: URL-safe, expiring, rotated on refresh with a grace period."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class TokenRecord:
    token: str
    participant_uuid: str
    service: str
    expires_at: float
    lifetime: int
    # Set once the participant has left: only release_token still accepts the token.
    ended: bool = False
    released: bool = False


class TokenStore:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._tokens: dict[str, TokenRecord] = {}
        self._latest: dict[str, TokenRecord] = {}

    def issue(self, participant_uuid: str, service: str, lifetime: int) -> TokenRecord:
        # token_urlsafe: the SDK puts the token raw into `?token=` and a `sendBeacon` URL.
        record = TokenRecord(
            token=secrets.token_urlsafe(32),
            participant_uuid=participant_uuid,
            service=service,
            expires_at=self._clock() + lifetime,
            lifetime=lifetime,
        )
        self._tokens[record.token] = record
        self._latest[participant_uuid] = record
        return record

    def find(self, token: str | None) -> TokenRecord | None:
        """The record of a known token, even if expired or ended (release_token wants it)."""
        if not token:
            return None
        return self._tokens.get(token)

    def valid(self, token: str | None) -> TokenRecord | None:
        record = self.find(token)
        if record is None or record.ended or record.released:
            return None
        if self._clock() >= record.expires_at:
            return None
        return record

    def refresh(self, old: TokenRecord, lifetime: int, grace: float) -> TokenRecord:
        new = self.issue(old.participant_uuid, old.service, lifetime)
        # The old token keeps working briefly: requests already in flight carry it.
        old.expires_at = min(old.expires_at, self._clock() + grace)
        return new

    def end_participant(self, participant_uuid: str) -> None:
        for record in self._tokens.values():
            if record.participant_uuid == participant_uuid:
                record.ended = True

    def release(self, record: TokenRecord) -> None:
        record.released = True

    def expired_participants(self) -> list[str]:
        """Participants whose newest token lapsed without refresh or release."""
        now = self._clock()
        return [
            uuid
            for uuid, record in self._latest.items()
            if not record.ended and not record.released and now >= record.expires_at
        ]

    def forget_participant(self, participant_uuid: str) -> None:
        self._latest.pop(participant_uuid, None)

    def prune(self, keep_seconds: float = 300.0) -> None:
        """Drop long-dead tokens so a long-running node does not grow without bound."""
        horizon = self._clock() - keep_seconds
        for token, record in list(self._tokens.items()):
            if record.expires_at < horizon:
                del self._tokens[token]
