"""Request bodies as the node accepts them.

Unknown fields are ignored (clients newer than the node add fields) but types are strict:
`{"setting": "yes"}` is a 400, never a silent truthy value.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict


class Body(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)


class RequestToken(Body):
    display_name: str
    call_tag: str | None = None
    conference_extension: str | None = None
    token: str | None = None
    node: str | None = None
    direct_media: bool | None = None
    supports_direct_chat: bool | None = None


class ReleaseToken(Body):
    reason: str | None = None


class Message(Body):
    type: Literal["text/plain", "application/json"]
    payload: str


class GuestsCanUnmute(Body):
    setting: bool


class Dial(Body):
    role: Literal["HOST", "GUEST"]
    destination: str
    protocol: Literal["sip", "h323", "rtmp", "mssip", "auto"]
    call_type: Literal["video", "video-only", "audio"] | None = None
    remote_display_name: str | None = None
    source_display_name: str | None = None
    streaming: Literal["yes", "no"] | None = None
    dtmf_sequence: str | None = None


class Transforms(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)

    layout: str | None = None
    host_layout: str | None = None
    guest_layout: str | None = None


class TransformLayout(Body):
    transforms: Transforms


class Digits(Body):
    digits: str


class Role(Body):
    role: Literal["chair", "guest"]


class Transfer(Body):
    role: Literal["host", "guest"]
    conference_alias: str
    pin: str | None = None


class OverlayText(Body):
    text: str


class Calls(Body):
    call_type: Literal["WEBRTC", "RTMP"]
    sdp: str | None = None
    present: Literal["send", "receive"] | None = None
    media_type: Literal["video", "video-only", "audio"] | None = None
    fecc_supported: bool | None = None
    streaming: bool | None = None


class Ack(Body):
    sdp: str | None = None
    offer_ignored: bool | None = None


class NewCandidate(Body):
    candidate: str
    # The schema requires `mid`, but `{"candidate": ""}` alone must end the candidates too.
    mid: str = "0"
    ufrag: str | None = None
    pwd: str | None = None


class Update(Body):
    sdp: str | None = None
    fecc_supported: bool | None = None


class Statistics(Body):
    audio: dict[str, object] | None = None
    video: dict[str, object] | None = None
    presentation: dict[str, object] | None = None
