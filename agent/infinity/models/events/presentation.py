"""Presentation events: someone presents, stops, a new slide."""

from typing import ClassVar

from ._base import EventModel, NoPayload

__all__ = ["PresentationEnded", "PresentationFrame", "PresentationStart", "PresentationStop"]


class PresentationStart(EventModel):
    """Someone presents. All three presenter fields empty means the presentation was revoked."""

    name: ClassVar[str] = "presentation_start"
    presenter_name: str = ""
    presenter_uri: str = ""
    presenter_uuid: str = ""
    status: str | None = None

    @property
    def revoked(self) -> bool:
        return not (self.presenter_name or self.presenter_uri or self.presenter_uuid)


class PresentationStop(NoPayload):
    name: ClassVar[str] = "presentation_stop"


class PresentationEnded(NoPayload):
    name: ClassVar[str] = "presentation_ended"


class PresentationFrame(NoPayload):
    """A new slide image; fetch `presentation.jpeg?id=<frame_id>&token=...`.

    `frame_id` is the SSE event id of the message (not a payload field)."""

    name: ClassVar[str] = "presentation_frame"
    frame_id: str | None = None
