"""The token lifetimes a session accepts (`expires` is not taken as given)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ExpiresBounds:
    """The token lifetimes a session accepts from a node; others are clamped into them.

    The floor keeps a node from driving a refresh storm (the refresh runs every expires/3);
    the ceiling keeps a token refreshed at least every 8 h.
    """

    floor: float = 3.0
    ceiling: float = 24 * 3600.0

    def __post_init__(self) -> None:
        if not 0 < self.floor <= self.ceiling < float("inf"):
            raise ValueError("expires bounds must satisfy 0 < floor <= ceiling < inf")

    def clamp(self, seconds: float) -> float:
        return min(max(seconds, self.floor), self.ceiling)
