"""Conference-level request bodies and results (dial, status, layout, chat, theme, mixes)."""

from typing import Any, Literal

from pydantic import Field

from ._base import ApiModel, RequestBody

MessageType = Literal["text/plain", "application/json"]
CallType = Literal["video", "video-only", "audio"]


class DialBody(RequestBody):
    """Dial out from the conference to `destination`."""

    destination: str
    protocol: Literal["sip", "h323", "rtmp", "mssip", "auto"] = "auto"
    role: Literal["HOST", "GUEST"] = "GUEST"
    presentation_url: str | None = None
    streaming: Literal["yes", "no"] | None = None
    dtmf_sequence: str | None = None
    source_display_name: str | None = None
    source: str | None = None
    call_type: CallType | None = None
    keep_conference_alive: (
        Literal[
            "keep_conference_alive",
            "keep_conference_alive_if_multiple",
            "keep_conference_alive_never",
        ]
        | None
    ) = None
    remote_display_name: str | None = None
    text: str | None = None


class SetGuestsCanUnmuteBody(RequestBody):
    setting: bool


class MessageBody(RequestBody):
    """A chat or application message (conference-wide or to one participant)."""

    type: MessageType = "text/plain"
    payload: str


class StreamingLayout(RequestBody):
    layout: str | None = None
    waiting_screen_enabled: bool | None = None
    plus_n_pip_enabled: bool | None = None
    indicators_enabled: bool | None = None


class LayoutTransforms(RequestBody):
    """What `transform_layout` changes; fields left None keep their current value."""

    layout: str | None = None
    host_layout: str | None = None
    guest_layout: str | None = None
    enable_extended_ac: bool | None = None
    streaming_indicator: bool | None = None
    recording_indicator: bool | None = None
    enable_active_speaker_indication: bool | None = None
    enable_overlay_text: bool | None = None
    streaming: StreamingLayout | None = None
    free_form_overlay_text: list[str] | None = None


class TransformLayoutBody(RequestBody):
    transforms: LayoutTransforms


class SilentVideoConfig(RequestBody):
    enable: bool | None = None
    # Ranges from the schema's descriptions: the node rejects values outside them.
    silent_after: float | None = Field(default=None, ge=1, le=120)
    require_no_faces: bool | None = None
    reactivate_after: float | None = Field(default=None, ge=1, le=5)


class SilentVideoDetectionBody(RequestBody):
    config: SilentVideoConfig


class VideoMixCreateBody(RequestBody):
    mix_name: str


class MixLayout(RequestBody):
    layout: str | None = None


class VideoMixConfigureBody(RequestBody):
    transform_layout: MixLayout


class ConferenceProperties(ApiModel):
    """The conference's properties as `conference_update` events carry them: any may be absent."""

    locked: bool | None = None
    guests_muted: bool | None = None
    started: bool | None = None
    live_captions_available: bool | None = None
    direct_media: bool | None = None
    all_muted: bool | None = None
    presentation_allowed: bool | None = None
    breakout_rooms: bool | None = None
    classification: dict[str, Any] | None = None
    guests_can_unmute: bool | None = None
    guests_can_present: bool | None = None
    breakout: bool | None = None
    breakout_name: str | None = None
    breakout_description: str | None = None
    end_action: Literal["transfer", "disconnect"] | None = None
    end_time: float | None = None
    breakout_guests_allowed_to_leave: bool | None = None
    breakoutbuzz: dict[str, Any] | None = None


class ConferenceStatus(ConferenceProperties):
    """`conference_status` result: the schema requires these three."""

    locked: bool
    guests_muted: bool
    started: bool


class ThemeBackground(ApiModel):
    path: str


class ThemeElement(ApiModel):
    type: Literal["text"]
    color: float
    text: str


class ThemeLayout(ApiModel):
    """One direct-media splash screen."""

    layout_type: Literal["direct_media"]
    background: ThemeBackground
    elements: list[ThemeElement]


class Theme(ApiModel):
    """`theme/` result: the direct-media splash screens, by `splash_screen` event key."""

    direct_media_welcome: ThemeLayout
    direct_media_waiting_for_host: ThemeLayout
    direct_media_other_participants_audio_only: ThemeLayout
    direct_media_escalate: ThemeLayout
    direct_media_deescalate: ThemeLayout


class LayoutInfo(ApiModel):
    """An annotated entry of `available_layouts` (plain names come as strings)."""

    name: str
    tags: list[str] | None = None
