"""Request bodies as the node accepts them.

Unknown fields are ignored (clients newer than the node add fields) but types are strict:
`{"setting": "yes"}` is a 400, never a silent truthy value, and strings have bounded sizes
(`limits.py`): a 100,000-character destination is refused, not kept.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from .. import limits


class Body(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)


class RequestToken(Body):
    display_name: str = Field(max_length=limits.NAME)
    call_tag: str | None = Field(default=None, max_length=limits.NAME)
    conference_extension: str | None = Field(default=None, max_length=limits.URI)
    token: str | None = Field(default=None, max_length=limits.TOKEN)
    node: str | None = Field(default=None, max_length=limits.URI)
    direct_media: bool | None = None
    supports_direct_chat: bool | None = None


class ReleaseToken(Body):
    reason: str | None = None


class Message(Body):
    type: Literal["text/plain", "application/json"]
    payload: str = Field(max_length=limits.MESSAGE)


class GuestsCanUnmute(Body):
    setting: bool


class Dial(Body):
    role: Literal["HOST", "GUEST"]
    destination: str = Field(min_length=1, max_length=limits.URI)
    protocol: Literal["sip", "h323", "rtmp", "mssip", "auto"]
    call_type: Literal["video", "video-only", "audio"] | None = None
    remote_display_name: str | None = Field(default=None, max_length=limits.NAME)
    source_display_name: str | None = Field(default=None, max_length=limits.NAME)
    streaming: Literal["yes", "no"] | None = None
    dtmf_sequence: str | None = Field(default=None, max_length=limits.DIGITS)


class Transforms(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)

    layout: str | None = Field(default=None, max_length=limits.SHORT)
    host_layout: str | None = Field(default=None, max_length=limits.SHORT)
    guest_layout: str | None = Field(default=None, max_length=limits.SHORT)


class TransformLayout(Body):
    transforms: Transforms


class Digits(Body):
    digits: str = Field(max_length=limits.DIGITS)


class Role(Body):
    role: Literal["chair", "guest"]


class Transfer(Body):
    role: Literal["host", "guest"]
    conference_alias: str = Field(max_length=limits.URI)
    pin: str | None = Field(default=None, max_length=limits.PIN)


class OverlayText(Body):
    text: str = Field(max_length=limits.NAME)


class Calls(Body):
    call_type: Literal["WEBRTC", "RTMP"]
    sdp: str | None = Field(default=None, max_length=limits.SDP)
    present: Literal["send", "receive"] | None = None
    media_type: Literal["video", "video-only", "audio"] | None = None
    fecc_supported: bool | None = None
    streaming: bool | None = None


class Ack(Body):
    sdp: str | None = Field(default=None, max_length=limits.SDP)
    offer_ignored: bool | None = None


class NewCandidate(Body):
    candidate: str = Field(max_length=limits.CANDIDATE)
    # The schema requires `mid`, but `{"candidate": ""}` alone must end the candidates too.
    mid: str = Field(default="0", max_length=limits.SHORT)
    ufrag: str | None = Field(default=None, max_length=limits.CANDIDATE)
    pwd: str | None = Field(default=None, max_length=limits.CANDIDATE)


class Update(Body):
    sdp: str | None = Field(default=None, max_length=limits.SDP)
    fecc_supported: bool | None = None


class Statistics(Body):
    audio: dict[str, object] | None = None
    video: dict[str, object] | None = None
    presentation: dict[str, object] | None = None


class SilentVideoConfig(Body):
    enable: bool | None = None
    silent_after: float | None = Field(default=None, ge=1, le=120)
    require_no_faces: bool | None = None
    reactivate_after: float | None = Field(default=None, ge=1, le=5)


class SilentVideoDetection(Body):
    config: SilentVideoConfig


class VideoMixCreate(Body):
    mix_name: str = Field(min_length=1, max_length=limits.SHORT)


class MixLayout(Body):
    layout: str | None = Field(default=None, max_length=limits.SHORT)


class VideoMixConfigure(Body):
    transform_layout: MixLayout


class PresInMix(Body):
    state: bool


class FeccMovement(Body):
    axis: Literal["pan", "tilt", "zoom"]
    direction: Literal["left", "right", "up", "down", "in", "out"]


class FeccCall(Body):
    action: Literal["start", "stop", "continue"]
    movement: list[FeccMovement] = Field(max_length=3)
    timeout: float | None = Field(default=None, ge=0)


class FeccParticipant(FeccCall):
    target: str = Field(max_length=limits.SHORT)


class PreferredAspectRatio(Body):
    aspect_ratio: float | None = Field(default=None, gt=0, le=10)


class Breakouts(Body):
    name: str = Field(max_length=limits.NAME)
    description: str | None = Field(default=None, max_length=limits.MESSAGE)
    duration: float | None = Field(default=None, ge=0)
    end_action: Literal["disconnect", "transfer"] | None = None
    participants: dict[str, list[str]] | None = Field(default=None, max_length=100)
    guests_allowed_to_leave: bool | None = None


class BreakoutMove(Body):
    breakout_uuid: str = Field(max_length=limits.SHORT)
    participants: list[str] = Field(max_length=1000)
