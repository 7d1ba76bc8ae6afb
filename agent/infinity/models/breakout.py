"""Breakout room request bodies and results (`breakouts`, `participants/breakout`, ...).

The other breakout functions take the same bodies as their main-room twins (message,
transform_layout, calls, ack, ...): those models are reused.
"""

from typing import Literal

from pydantic import Field

from ._base import ApiModel, RequestBody

__all__ = ["BreakoutEndAction", "BreakoutMoveBody", "BreakoutsBody", "BreakoutsResult"]

BreakoutEndAction = Literal["disconnect", "transfer"]


class BreakoutsBody(RequestBody):
    """Open a breakout room.

    `duration`: seconds until it closes by itself (None or 0: open until closed);
    `end_action`: what happens to its participants when it closes (`transfer` back to the
    main room, the node's default, or `disconnect`); `participants`: who moves in right
    away, by the room they are in now (`"main"` or a breakout UUID) -> their UUIDs."""

    name: str
    description: str | None = None
    duration: float | None = Field(default=None, ge=0)
    end_action: BreakoutEndAction | None = None
    participants: dict[str, list[str]] | None = None
    guests_allowed_to_leave: bool | None = None


class BreakoutsResult(ApiModel):
    breakout_uuid: str = Field(min_length=1)


class BreakoutMoveBody(RequestBody):
    """Move `participants` to the room `breakout_uuid` (`"main"` for the main room)."""

    breakout_uuid: str
    participants: list[str]
