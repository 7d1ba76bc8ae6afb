"""request_token, refresh_token, release_token."""

import math
from typing import Literal

from pydantic import Field, field_validator

from ._base import ApiModel, RequestBody

Role = Literal["HOST", "GUEST"]
CurrentServiceType = Literal[
    "conference", "gateway", "test_call", "waiting_room", "ivr", "lecture", "media_playback"
]
ServiceType = Literal["conference", "gateway", "test_call", "lecture", "media_playback"]


def _expires_str(value: object) -> object:
    # The schema says string ("120"); older nodes and emulators send a number. Accept both,
    # keep the schema's type.
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return value


def _expires_seconds(value: str) -> float:
    """The lifetime as stated. Out-of-range values (0, negative, huge) are valid here and
    clamped by the session, which says so; only what is not a finite number is refused."""
    try:
        seconds = float(value)
    except ValueError:
        raise ValueError(f"expires must be a number of seconds, got {value[:40]!r}") from None
    if not math.isfinite(seconds):
        raise ValueError(f"expires must be a finite number of seconds, got {value[:40]!r}")
    return seconds


def _check_expires(value: str) -> str:
    _expires_seconds(value)
    return value


class RequestTokenBody(RequestBody):
    display_name: str
    call_tag: str | None = None
    chosen_idp: str | None = None
    client_id: str | None = None
    sso_token: str | None = None
    sso_redirect_target: str | None = None
    node: str | None = None
    conference_extension: str | None = None
    token: str | None = None
    direct_media: bool | None = None
    breakout_rooms: bool | None = None
    supports_direct_chat: bool | None = None


class Version(ApiModel):
    version_id: str | None = None
    pseudo_version: str | None = None


class StunServer(ApiModel):
    url: str


class TurnServer(ApiModel):
    urls: list[str]
    username: str | None = None
    credential: str | None = Field(default=None, repr=False)


class RequestTokenResult(ApiModel):
    token: str = Field(repr=False)
    expires: str
    participant_uuid: str = Field(min_length=1)
    version: Version
    role: Role
    display_name: str
    current_service_type: CurrentServiceType
    service_type: ServiceType | None = None
    call_type: Literal["video", "video-only", "audio"] | None = None
    conference_name: str | None = None
    service_name: str | None = None
    call_tag: str | None = None
    idp_uuid: str | None = None
    stun: list[StunServer] | None = None
    turn: list[TurnServer] | None = None
    chat_enabled: bool | None = None
    analytics_enabled: bool | None = None
    fecc_enabled: bool | None = None
    guests_can_present: bool | None = None
    allow_1080p: bool | None = None
    vp9_enabled: bool | None = None
    rtmp_enabled: bool | None = None
    rtsp_enabled: bool | None = None
    trickle_ice_enabled: bool | None = None
    route_via_registrar: bool | None = None
    direct_media: bool | None = None
    use_relay_candidates_only: bool | None = None
    breakout_rooms: bool | None = None
    bandwidth_in: float | None = None
    bandwidth_out: float | None = None
    pex_datachannel_id: float | None = None
    client_stats_update_interval: float | None = None

    _expires = field_validator("expires", mode="before")(_expires_str)
    _expires_number = field_validator("expires")(_check_expires)

    @property
    def expires_seconds(self) -> float:
        return _expires_seconds(self.expires)


class RefreshTokenResult(ApiModel):
    token: str = Field(repr=False)
    expires: str
    role: Role | None = None
    client_stats_update_interval: float | None = None

    _expires = field_validator("expires", mode="before")(_expires_str)
    _expires_number = field_validator("expires")(_check_expires)

    @property
    def expires_seconds(self) -> float:
        return _expires_seconds(self.expires)


class ReleaseTokenBody(RequestBody):
    reason: str | None = None
