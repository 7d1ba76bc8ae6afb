"""Items the runtime itself makes for plugins (decoded frames, presentation media)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..media.tap import EncodedFrame


@dataclass(frozen=True)
class DecodedFrame:
    """A decoded audio or video frame (PyAV) for plugins that asked for them."""

    kind: str
    frame: Any
    arrival: float

    @property
    def hook(self) -> str:
        return f"on_{self.kind}_frame"


@dataclass(frozen=True)
class PresentationMedia:
    """An encoded frame of the presentation (slides) stream."""

    frame: EncodedFrame

    hook = "on_presentation_media"
