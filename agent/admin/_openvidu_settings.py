"""`OpenViduSettings`: the TOML file of `pexbot openvidu` (and of a service's watcher).

The secret comes inline, from an environment variable (default `OPENVIDU_SECRET`) or from
a file, so the file can be committed without it; errors never include its value.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator

from ..errors import format_validation_error
from ._openvidu_profile import ProfileChoice
from ._openvidu_watch import WatchConfig
from ._openvidu_watch_http import DEFAULT_WEBHOOK_PATH

DEFAULT_SECRET_ENV = "OPENVIDU_SECRET"


class SettingsError(ValueError):
    """The settings are invalid or the secret cannot be read; one problem per line."""


class WatchSettings(WatchConfig):
    """`[watch]`: the watcher's limits plus where it listens and where alerts go."""

    #: Where `/metrics` and the webhook receiver listen.
    host: str = "127.0.0.1"
    port: int = Field(default=9101, ge=0, le=65535)
    webhook_path: str = Field(default=DEFAULT_WEBHOOK_PATH, pattern=r"^/")
    #: Environment variable holding the `Authorization` header value OpenVidu must send
    #: (through `OPENVIDU_WEBHOOK_HEADERS`); unset: any POST is accepted.
    webhook_authorization_env: str | None = None
    #: POST every alert as JSON here.
    alert_webhook: str | None = Field(default=None, pattern=r"^https?://")

    def watch_config(self) -> WatchConfig:
        return WatchConfig(**{k: getattr(self, k) for k in WatchConfig.model_fields})


class OpenViduSettings(BaseModel):
    """The OpenVidu server, how to reach it, and what may be changed."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str = Field(pattern=r"^https?://[^/\s]+")
    secret: SecretStr | None = None
    secret_env: str | None = None
    secret_file: Path | None = None
    #: Mutations (add, remove, status, autodiscover, restart) are refused unless true.
    allow_admin_actions: bool = False
    #: JSON Lines file every mutation is recorded in.
    audit_log: Path = Path("openvidu-audit.jsonl")
    profile: ProfileChoice = "auto"
    timeout: float = Field(default=10.0, gt=0)
    wait_timeout: float = Field(default=600.0, gt=0)
    watch: WatchSettings = Field(default_factory=WatchSettings)

    @model_validator(mode="after")
    def _one_secret_source(self) -> OpenViduSettings:
        given = [s for s in ("secret", "secret_env", "secret_file") if getattr(self, s)]
        if len(given) > 1:
            raise ValueError(f"give at most one of secret, secret_env, secret_file (got {given})")
        return self

    def resolve_secret(self) -> str:
        if self.secret is not None:
            return self.secret.get_secret_value()
        if self.secret_file is not None:
            try:
                value = self.secret_file.read_text().strip()
            except OSError as exc:
                raise SettingsError(
                    f"secret_file: cannot read {self.secret_file}: {exc.strerror}"
                ) from None
            if not value:
                raise SettingsError(f"secret_file: {self.secret_file} is empty")
            return value
        name = self.secret_env or DEFAULT_SECRET_ENV
        value = os.environ.get(name, "").strip()
        if not value:
            raise SettingsError(f"no OpenVidu secret: environment variable {name} is not set")
        return value


def parse_settings(data: dict[str, Any], source: str = "settings") -> OpenViduSettings:
    """Validated settings; a `SettingsError` names every problem with its path."""
    try:
        return OpenViduSettings.model_validate(data)
    except ValidationError as exc:
        raise SettingsError(format_validation_error(exc, source)) from None
