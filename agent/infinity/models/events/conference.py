"""Conference events: properties, chat, stage, layout, live captions, splash screens."""

import json
from typing import Any, ClassVar

from pydantic import ConfigDict

from .._base import ApiModel
from ..conference import ConferenceProperties
from ._base import EventModel, PayloadKind

__all__ = [
    "CaptionSource",
    "ConferenceUpdate",
    "Layout",
    "LiveCaptions",
    "Message",
    "MessageReceived",
    "RequestedLayout",
    "ScreenLayout",
    "SplashScreen",
    "Stage",
    "StageEntry",
]


class ConferenceUpdate(EventModel, ConferenceProperties):
    """Conference properties (the `conference_status` fields); absent ones are `None`."""

    name: ClassVar[str] = "conference_update"


class MessageReceived(EventModel):
    """A chat message. `type` starting with `text/plain` is text; anything else is an
    application message whose `payload` is JSON text."""

    name: ClassVar[str] = "message_received"
    origin: str = ""
    uuid: str = ""
    type: str = "text/plain"
    payload: str
    direct: bool | None = None

    @property
    def is_text(self) -> bool:
        return self.type.startswith("text/plain")

    def json_payload(self) -> object:
        """The payload of an application message, decoded (raises `ValueError` if not JSON)."""
        return json.loads(self.payload)


class Message(MessageReceived):
    """The v10 name of `message_received` (same payload)."""

    name: ClassVar[str] = "message"


class StageEntry(ApiModel):
    model_config = ConfigDict(frozen=True)

    participant_uuid: str
    stage_index: int
    vad: int = 0

    @property
    def speaking(self) -> bool:
        return self.vad > 0


class Stage(EventModel):
    """Active speakers, most recent first (`stage_index` 0)."""

    name: ClassVar[str] = "stage"
    _kind: ClassVar[PayloadKind] = "wrap"
    _field: ClassVar[str] = "speakers"
    speakers: tuple[StageEntry, ...]


class ScreenLayout(ApiModel):
    model_config = ConfigDict(frozen=True)

    chair_layout: str | None = None
    guest_layout: str | None = None


class RequestedLayout(ApiModel):
    model_config = ConfigDict(frozen=True)

    primary_screen: ScreenLayout | None = None


class Layout(EventModel):
    """The layout the node renders and who is in it."""

    name: ClassVar[str] = "layout"
    view: str = ""
    participants: tuple[str, ...] = ()
    requested_layout: RequestedLayout | None = None
    overlay_text_enabled: bool | None = None
    pres_slot_coords: Any = None


class CaptionSource(ApiModel):
    model_config = ConfigDict(frozen=True)

    participant_uuid: str
    indices: tuple[int, ...] = ()


class LiveCaptions(EventModel):
    name: ClassVar[str] = "live_captions"
    data: str
    is_final: bool = False
    src_lang: str | None = None
    tgt_lang: str | None = None
    sources: tuple[CaptionSource, ...] | None = None


class SplashScreen(EventModel):
    """Direct media splash screen from the theme; both fields `None` = remove it."""

    name: ClassVar[str] = "splash_screen"
    _nullable: ClassVar[bool] = True
    screen_key: str | None = None
    display_duration: float | None = None
