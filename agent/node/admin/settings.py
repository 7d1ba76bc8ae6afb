"""Settings of the node's management side that live in the TOML `[management]` table:
OAuth2 API clients, and the event sinks the node posts to (`[[management.event_sinks]]`).

    [management]
    username = "admin"
    password = "change-me"

    [[management.oauth2_clients]]
    client_id = "probe"
    public_key = \"\"\"-----BEGIN PUBLIC KEY----- ... (EC P-256)\"\"\"

    [[management.event_sinks]]
    url = "http://127.0.0.1:8090/sink"
    version = 2
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class OAuth2ClientConfig(_Model):
    """An API client allowed to get bearer tokens with a signed ES256 JWT assertion."""

    client_id: str = Field(min_length=1)
    public_key: str = Field(min_length=1, repr=False)  # PEM, EC P-256

    @field_validator("public_key")
    @classmethod
    def _pem(cls, value: str) -> str:
        if "BEGIN PUBLIC KEY" not in value:
            raise ValueError("public_key must be a PEM 'PUBLIC KEY' (EC P-256)")
        return value


class EventSinkConfig(_Model):
    """One event sink: where the node POSTs lifecycle events, one by one and in order.

    `version` 1 puts a participant's final media streams into `participant_disconnected`;
    version 2 sends them as `participant_media_streams_destroyed` and adds
    `participant_media_stream_window` every `window` seconds while a participant has media.
    `bulk` batches what is queued (at most every `bulk_interval` seconds) into one
    `eventsink_bulk` POST. A failed POST is retried `retries` times with backoff; then the
    event is dropped, counted, and an alarm is raised.
    """

    url: str = Field(pattern=r"^https?://")
    name: str = ""
    version: Literal[1, 2] = 2
    username: str | None = None
    password: str | None = Field(default=None, repr=False)
    bulk: bool = False
    bulk_interval: float = Field(default=1.0, gt=0, le=60)
    window: float = Field(default=20.0, gt=0, le=3600)
    retries: int = Field(default=5, ge=0, le=100)
    retry_delay: float = Field(default=0.5, gt=0, le=60)
    timeout: float = Field(default=5.0, gt=0, le=120)
    max_queue: int = Field(default=10000, ge=1)
