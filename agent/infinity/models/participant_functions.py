"""Participant-level request bodies and results (`participants/<uuid>/...`)."""

from typing import Literal

from pydantic import Field, field_validator

from ._base import ApiModel, RequestBody
from .conference import CallType
from .dtmf import validate_dtmf


class DtmfBody(RequestBody):
    """Digits to send (participant-level: RFC 2833 to that participant; call-level: gateway)."""

    digits: str

    _check = field_validator("digits")(validate_dtmf)


class CallsWebrtcBody(RequestBody):
    """Start a WebRTC call with an SDP offer."""

    call_type: Literal["WEBRTC"] = "WEBRTC"
    sdp: str
    present: Literal["send", "receive"] | None = None
    fecc_supported: bool | None = None
    media_type: CallType | None = None


class CallTurnServer(ApiModel):
    urls: list[str]
    username: str
    credential: str = Field(repr=False)


class CallsWebrtcResult(ApiModel):
    """The node's SDP answer; `turn` servers, when given, call for an ICE restart."""

    call_uuid: str
    sdp: str
    offer_ignored: bool | None = None
    turn: list[CallTurnServer] | None = None


class CallsRtmpBody(RequestBody):
    call_type: Literal["RTMP"] = "RTMP"
    present: Literal["send", "receive"] | None = None
    streaming: bool | None = None
    bandwidth: float | None = None


class CallsRtmpResult(ApiModel):
    call_uuid: str
    url: str
    secure_url: str


class OverlayTextBody(RequestBody):
    text: str


class PresInMixBody(RequestBody):
    state: bool


class RoleBody(RequestBody):
    role: Literal["chair", "guest"]


class FeccMovement(RequestBody):
    axis: Literal["pan", "tilt", "zoom"]
    direction: Literal["left", "right", "up", "down", "in", "out"]


FeccAction = Literal["start", "stop", "continue"]


class FeccParticipantBody(RequestBody):
    """Far-end camera control of the `target` participant."""

    action: FeccAction
    target: str
    movement: list[FeccMovement]
    timeout: float | None = None


class TransferBody(RequestBody):
    conference_alias: str
    role: Literal["host", "guest"] = "guest"
    pin: str | None = Field(default=None, repr=False)


class PreferredAspectRatioBody(RequestBody):
    aspect_ratio: float | None = None
