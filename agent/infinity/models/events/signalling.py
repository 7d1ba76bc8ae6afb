"""Call and signalling events: media ended, disconnect, transfer (`refer`), hold, FECC,
token refresh, server offers and trickled candidates."""

from typing import ClassVar, Literal

from pydantic import ConfigDict, Field

from ...reasons import ReasonCode, reason_code
from .._base import ApiModel
from ._base import EventModel, NoPayload, PayloadKind

__all__ = [
    "CallDisconnected",
    "CancelRefer",
    "Disconnect",
    "Fecc",
    "FeccMovement",
    "NewCandidate",
    "NewOffer",
    "OnHold",
    "PeerDisconnect",
    "Refer",
    "RefreshToken",
    "UpdateSdp",
]


class CallDisconnected(EventModel):
    """One call (media) of this participant ended; the participant is still in."""

    name: ClassVar[str] = "call_disconnected"
    call_uuid: str = ""
    reason: str = ""


class Disconnect(EventModel):
    """The node disconnects this participant."""

    name: ClassVar[str] = "disconnect"
    reason: str = ""

    @property
    def code(self) -> ReasonCode:
        return reason_code(self.reason)


class Refer(EventModel):
    """Transfer: re-join `alias` with the one-time `token` (never shown in repr)."""

    name: ClassVar[str] = "refer"
    alias: str
    token: str = Field(repr=False)
    breakout_name: str | None = None
    target: Literal["main", "breakout", "conference", "direct", "transcoded"] | None = None


class CancelRefer(EventModel):
    """A pending `refer` was cancelled. The payload's fields are kept in `model_extra`."""

    model_config = ConfigDict(extra="allow")
    name: ClassVar[str] = "cancel_refer"
    _nullable: ClassVar[bool] = True


class OnHold(EventModel):
    name: ClassVar[str] = "on_hold"
    _kind: ClassVar[PayloadKind] = "wrap"
    _field: ClassVar[str] = "on_hold"
    on_hold: bool


class FeccMovement(ApiModel):
    model_config = ConfigDict(frozen=True)

    axis: Literal["pan", "tilt", "zoom"]
    direction: Literal["left", "right", "up", "down", "in", "out"]


class Fecc(EventModel):
    """Far-end camera control request."""

    name: ClassVar[str] = "fecc"
    action: Literal["start", "stop", "continue"]
    movement: tuple[FeccMovement, ...] = ()
    timeout: float | None = None
    target: str | None = None


class RefreshToken(NoPayload):
    """The node asks for an immediate `refresh_token`."""

    name: ClassVar[str] = "refresh_token"


class PeerDisconnect(NoPayload):
    """Direct media: the peer left."""

    name: ClassVar[str] = "peer_disconnect"


class NewOffer(EventModel):
    """A server-initiated SDP offer; answer through `ack {sdp}`."""

    name: ClassVar[str] = "new_offer"
    sdp: str


class UpdateSdp(EventModel):
    """A renegotiation offer; handled like `new_offer`."""

    name: ClassVar[str] = "update_sdp"
    sdp: str


class NewCandidate(EventModel):
    """A remote trickle ICE candidate (`""` = end of candidates)."""

    name: ClassVar[str] = "new_candidate"
    candidate: str
    mid: str | None = None
    ufrag: str | None = None
    pwd: str | None = None
