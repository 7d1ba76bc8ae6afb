"""`[media.impairment]` of the local node: media impairment per participant and direction
(the engine is `media/impair.py`; its docstring explains each knob)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["DirectionImpairment", "ImpairmentConfig", "ParticipantImpairment"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DirectionImpairment(_Model):
    """One direction's knobs (see the module docstring)."""

    loss: float = Field(default=0.0, ge=0, le=100)
    loss_model: Literal["random", "burst", "even"] = "random"
    burst: float = Field(default=1.0, ge=1, le=1000)
    delay: float = Field(default=0.0, ge=0, le=10_000)
    jitter: float = Field(default=0.0, ge=0, le=5_000)
    bandwidth: float | None = Field(default=None, gt=0)
    queue: float = Field(default=200.0, gt=0, le=10_000)

    @property
    def active(self) -> bool:
        return bool(self.loss or self.delay or self.jitter or self.bandwidth)


class ParticipantImpairment(_Model):
    rx: DirectionImpairment = Field(default_factory=DirectionImpairment)
    tx: DirectionImpairment = Field(default_factory=DirectionImpairment)

    @property
    def active(self) -> bool:
        return self.rx.active or self.tx.active


class ImpairmentConfig(_Model):
    """`[media.impairment]`: `all` participants, `participants` by display name, `seed`."""

    all: ParticipantImpairment = Field(default_factory=ParticipantImpairment)
    participants: dict[str, ParticipantImpairment] = Field(default_factory=dict)
    seed: int | None = None
