"""Services and settings of the local node: pydantic models, loaded from TOML.

A TOML file looks like::

    [management]
    username = "admin"
    password = "admin"

    [control]
    enabled = true
    token = "a-long-random-string"

    [faults]
    token_lifetime = 30

    [[services]]
    name = "secure"
    aliases = ["secure", "secure@example.com"]
    host_pin = "1234"
    guest_pin = "5678"
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from ..errors import ConfigError, format_validation_error
from .admin.settings import EventSinkConfig, OAuth2ClientConfig
from .faults import FaultConfig
from .impair_config import ImpairmentConfig

ServiceKind = Literal["conference", "lecture", "reception", "test_call"]


class _Model(BaseModel):
    # A typo in a config file must be an error, not a silently ignored setting; errors do
    # not echo values (PINs, passwords, tokens).
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)


class ServiceConfig(_Model):
    """One service: a VMR (`conference`), a Virtual Auditorium (`lecture`), a Virtual
    Reception (`reception`, forwards by extension) or a test-call service."""

    name: str = Field(min_length=1)
    kind: ServiceKind = "conference"
    aliases: list[str] = Field(default_factory=list)
    description: str = ""
    host_pin: str | None = None
    guest_pin: str | None = None
    # Without a guest PIN, guests may still join (with the literal pin `none`) if allowed.
    allow_guests: bool = True
    locked: bool = False
    guests_muted: bool = False
    guests_can_unmute: bool = True
    guests_can_present: bool = True
    chat_enabled: bool = True
    participant_limit: int | None = Field(default=None, ge=1)
    # Guests wait (`waiting_room`, `on_hold`) until a host is in; in a `lecture` until a
    # host calls `start_conference`.
    host_wait: bool = False
    # Seconds a participant may wait (locked conference, or for the host) before the node
    # disconnects it ("Timeout waiting for conference host ...", #pex126). None: forever.
    waiting_room_timeout: float | None = Field(default=None, gt=0)
    # Virtual Reception: extension -> target alias. Empty means "any alias of another service".
    extensions: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _check(self) -> ServiceConfig:
        if not self.aliases:
            self.aliases = [self.name]
        if self.guest_pin is not None and self.host_pin is None:
            raise ValueError(f"service {self.name!r}: a guest PIN needs a host PIN")
        if self.guest_pin is not None and self.guest_pin == self.host_pin:
            raise ValueError(f"service {self.name!r}: host and guest PIN must differ")
        if self.host_wait and self.kind not in ("conference", "lecture"):
            raise ValueError(
                f"service {self.name!r}: host_wait applies to conferences and lectures only"
            )
        if self.extensions and self.kind != "reception":
            raise ValueError(
                f'service {self.name!r}: extensions apply only to kind = "reception", '
                f"not {self.kind!r}"
            )
        return self

    @property
    def pin_protected(self) -> bool:
        return self.host_pin is not None

    @property
    def guests_allowed(self) -> bool:
        return self.guest_pin is not None or self.allow_guests


DEFAULT_ADMIN = ("admin", "admin")


class ManagementConfig(_Model):
    username: str = DEFAULT_ADMIN[0]
    password: str = DEFAULT_ADMIN[1]
    oauth2_clients: list[OAuth2ClientConfig] = Field(default_factory=list)
    oauth2_token_lifetime: float = Field(default=3600.0, gt=0)
    event_sinks: list[EventSinkConfig] = Field(default_factory=list)

    @property
    def is_default(self) -> bool:
        return (self.username, self.password) == DEFAULT_ADMIN


class ControlConfig(_Model):
    """The control API (`/_node/...`, scripted scenarios): off unless `enabled`; then every
    request needs `Authorization: Bearer <token>` (a random one is made at start when
    `token` is not set) and every POST a JSON body."""

    enabled: bool = False
    token: str | None = Field(default=None, min_length=16, max_length=256, pattern=r"^[!-~]+$")


class DialConfig(_Model):
    """Simulated dial-out: the dialled participant is `connecting` for `delay` seconds, then
    answers, unless its destination contains one of `reject_if_contains`."""

    delay: float = Field(default=1.0, ge=0)
    reject_if_contains: list[str] = Field(default_factory=lambda: ["reject", "busy"])


class NodeMediaConfig(_Model):
    """The node's media plane (the mixer in `media/`).

    Every participant receives the active speaker's video re-encoded at `video_width` x
    `video_height` and `video_fps`; presentation receive calls get the slides at
    `presentation_fps` in their own size. ICE host candidates are gathered only on
    `ice_host_addresses` (aioice leaves loopback out by default; the local node keeps every
    packet on 127.0.0.1). `stage_interval` is the minimum time between two `stage` events.
    `impairment` degrades the calls' RTP on purpose (loss, jitter, delay, bandwidth; per
    participant and direction; see `media/impair.py`).
    """

    video_width: int = Field(default=640, ge=64, le=1920, multiple_of=2)
    video_height: int = Field(default=360, ge=48, le=1080, multiple_of=2)
    video_fps: float = Field(default=15.0, gt=0, le=60)
    presentation_fps: float = Field(default=5.0, gt=0, le=30)
    stage_interval: float = Field(default=0.25, ge=0.05)
    # Seconds a receiver keeps seeing the same speaker before video switches again: two
    # people talking at once must not make everyone's picture flap.
    video_switch_hold: float = Field(default=2.0, ge=0)
    ice_host_addresses: list[str] = Field(default_factory=lambda: ["127.0.0.1"])
    impairment: ImpairmentConfig = Field(default_factory=ImpairmentConfig)


class NodeConfig(_Model):
    services: list[ServiceConfig] = Field(default_factory=list)
    management: ManagementConfig = Field(default_factory=ManagementConfig)
    dial: DialConfig = Field(default_factory=DialConfig)
    faults: FaultConfig = Field(default_factory=FaultConfig)
    control: ControlConfig = Field(default_factory=ControlConfig)
    media: NodeMediaConfig = Field(default_factory=NodeMediaConfig)
    # Seconds an old token keeps working after refresh_token handed out its successor.
    token_grace: float = Field(default=10.0, ge=0)
    # Wrong PINs in a row under one display name end that attempt ("exceeded PIN entry
    # retries"); a source address gets at most `pin_failures_per_address` wrong PINs per
    # conference in any `pin_failure_window` seconds, whatever names it uses, and is
    # refused until the window has passed (see `pins.py`).
    pin_retries: int = Field(default=3, ge=1)
    pin_failures_per_address: int = Field(default=10, ge=1)
    pin_failure_window: float = Field(default=60.0, gt=0)
    event_keepalive: float = Field(default=10.0, gt=0)
    # ms, advertised in request_token: clients POST their media statistics this often (the
    # node records them); None: not advertised.
    client_stats_update_interval: int | None = Field(default=5000, ge=100)
    version_id: str = "36"
    pseudo_version: str = "77000.0.0"

    @model_validator(mode="after")
    def _unique_aliases(self) -> NodeConfig:
        seen: dict[str, str] = {}
        for service in self.services:
            for alias in service.aliases:
                key = alias.lower()
                if key in seen:
                    raise ValueError(
                        f"alias {alias!r} used by both {seen[key]!r} and {service.name!r}"
                    )
                seen[key] = service.name
        return self


def default_services() -> list[ServiceConfig]:
    """The built-in set the README, the demo and the tests rely on."""
    return [
        ServiceConfig(name="meet", description="Open VMR"),
        ServiceConfig(name="secure", host_pin="1234", guest_pin="5678"),
        ServiceConfig(name="locked", host_pin="1234", locked=True),
        ServiceConfig(name="lecture", kind="lecture", host_pin="1234"),
        ServiceConfig(name="lobby", kind="reception"),
    ]


def default_config() -> NodeConfig:
    return NodeConfig(services=default_services())


def load_node_config(path: str | Path) -> NodeConfig:
    """Read a TOML file; a file without `[[services]]` gets the built-in set.

    Raises `ConfigError` with one line per problem, `path: key: message`, never echoing a
    value (pydantic's own message would show the PINs)."""
    try:
        with Path(path).open("rb") as fh:
            data = tomllib.load(fh)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    try:
        config = NodeConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, str(path))) from None
    if not config.services:
        config = config.model_copy(update={"services": default_services()})
    return config
