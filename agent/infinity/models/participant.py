"""The participant object (`participants` result and `participant_create/update` events)."""

from typing import Literal

from pydantic import Field

from ._base import ApiModel

YesNo = Literal["YES", "NO"]
ParticipantServiceType = Literal[
    "connecting", "waiting_room", "ivr", "conference", "lecture", "gateway", "test_call"
]


class TransformLayoutState(ApiModel):
    layout: str | None = None


class MixConfig(ApiModel):
    transform_layout: TransformLayoutState | None = None


class PersonalMix(ApiModel):
    mix_name: str
    timestamp: float
    mix_config: MixConfig | None = None


class ParticipantInfo(ApiModel):
    """A participant as events carry it: only `uuid` is guaranteed.

    Event payloads are not schema-validated by Pexip's own SDK, so a bot must not drop a
    participant event because a node left out a field; everything else has a neutral default.
    """

    uuid: str = Field(min_length=1)
    display_name: str = ""
    role: Literal["chair", "guest"] = "guest"
    protocol: Literal["api", "webrtc", "sip", "rtmp", "h323", "mssip", ""] = ""
    call_direction: Literal["in", "out"] = "in"
    service_type: ParticipantServiceType | None = None
    buzz_time: float = 0
    spotlight: float = 0
    start_time: float = 0
    is_muted: YesNo = "NO"
    is_presenting: YesNo = "NO"
    is_audio_only_call: YesNo = "NO"
    is_video_call: YesNo = "YES"
    is_video_muted: bool = False
    is_video_silent: bool = False
    is_client_muted: bool | None = None
    is_external: bool = False
    is_streaming_conference: bool = False
    has_media: bool = True
    encryption: Literal["On", "Off"] = "On"
    disconnect_supported: YesNo = "YES"
    mute_supported: YesNo = "YES"
    transfer_supported: YesNo = "YES"
    fecc_supported: YesNo = "NO"
    presentation_supported: YesNo | None = None
    rx_presentation_policy: Literal["ALLOW", "DENY"] = "ALLOW"
    supports_direct_chat: bool = False
    can_receive_personal_mix: bool = False
    receive_from_video_mix: PersonalMix | None = None
    external_node_uuid: str = ""
    local_alias: str = ""
    overlay_text: str = ""
    api_url: str | None = None
    call_tag: str | None = None
    uri: str | None = None
    vendor: str | None = None
    last_spoken_time: float | None = None
    is_conjoined: bool | None = None
    is_idp_authenticated: bool | None = None
    is_transferring: bool | None = None
    is_main_video_dropped_out: bool | None = None
    needs_presentation_in_mix: bool | None = None

    @property
    def is_host(self) -> bool:
        return self.role == "chair"

    @property
    def muted(self) -> bool:
        return self.is_muted == "YES"

    @property
    def in_waiting_room(self) -> bool:
        return self.service_type == "waiting_room"


class Participant(ParticipantInfo):
    """A participant from the `participants` endpoint: the schema's required fields must be
    present (a node that omits one is reported, not silently defaulted)."""

    display_name: str
    role: Literal["chair", "guest"]
    protocol: Literal["api", "webrtc", "sip", "rtmp", "h323", "mssip", ""]
    call_direction: Literal["in", "out"]
    buzz_time: float
    spotlight: float
    start_time: float
    is_muted: YesNo
    is_presenting: YesNo
    is_audio_only_call: YesNo
    is_video_call: YesNo
    is_video_muted: bool
    is_video_silent: bool
    is_external: bool
    is_streaming_conference: bool
    has_media: bool
    encryption: Literal["On", "Off"]
    disconnect_supported: YesNo
    mute_supported: YesNo
    transfer_supported: YesNo
    fecc_supported: YesNo
    rx_presentation_policy: Literal["ALLOW", "DENY"]
    supports_direct_chat: bool
    can_receive_personal_mix: bool
    receive_from_video_mix: PersonalMix
    external_node_uuid: str
    local_alias: str
    overlay_text: str
