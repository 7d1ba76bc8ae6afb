"""Typed async methods for the breakout-room functions (`conference.breakouts`).

`BreakoutsClient` holds what acts on every room (open one, close all, message all, move
participants out of the main room; a guest inside a room leaves it with `leave()`);
`room(uuid)` the functions of one room, `room(uuid).participant(uuid)` those of a
participant in it (its UUID in that room) and `.call(uuid)` those of its call. A host's
bot places its own call in a room with `room(r).participant(<its room uuid>).calls_webrtc`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal, Protocol, TypeVar

from pydantic import BaseModel

from . import breakout_endpoints as bep
from ._http import Endpoint
from .models.breakout import BreakoutEndAction, BreakoutMoveBody, BreakoutsBody
from .models.call import AckBody, NewCandidateBody, UpdateBody
from .models.conference import (
    CallType,
    LayoutTransforms,
    MessageBody,
    MessageType,
    MixLayout,
    TransformLayoutBody,
    VideoMixConfigureBody,
    VideoMixCreateBody,
)
from .models.dtmf import validate_dtmf
from .models.events.breakouts import MAIN_ROOM
from .models.participant_functions import (
    CallsWebrtcBody,
    CallsWebrtcResult,
    DtmfBody,
    FeccAction,
    FeccMovement,
    FeccParticipantBody,
    OverlayTextBody,
    TransferBody,
)

__all__ = [
    "BreakoutCallClient",
    "BreakoutParticipantClient",
    "BreakoutRoomClient",
    "BreakoutsClient",
]

T = TypeVar("T")


class _Caller(Protocol):
    """What `ConferenceClient` offers: one request of the conference under its token."""

    async def _call(
        self,
        endpoint: Endpoint[T],
        body: BaseModel | None = None,
        *,
        participant: str | None = None,
        call: str | None = None,
        mix: str | None = None,
        query: dict[str, str] | None = None,
        breakout: str | None = None,
    ) -> T: ...


def _move(to: str | None, participants: Sequence[str]) -> BreakoutMoveBody:
    return BreakoutMoveBody(breakout_uuid=to or MAIN_ROOM, participants=list(participants))


class BreakoutsClient:
    """Breakout functions of one conference (host functions unless said otherwise)."""

    def __init__(self, conference: _Caller) -> None:
        self._conference = conference

    def room(self, breakout_uuid: str) -> BreakoutRoomClient:
        return BreakoutRoomClient(self._conference, breakout_uuid)

    async def create(
        self,
        name: str,
        *,
        description: str | None = None,
        duration: float | None = None,
        end_action: BreakoutEndAction | None = None,
        participants: Mapping[str, Sequence[str]] | None = None,
        guests_allowed_to_leave: bool | None = None,
    ) -> str:
        """Open a room; returns its UUID. `participants`: room they are in now (`"main"` or
        a breakout UUID) -> UUIDs to move in right away."""
        body = BreakoutsBody(
            name=name,
            description=description,
            duration=duration,
            end_action=end_action,
            participants=None
            if participants is None
            else {room: list(uuids) for room, uuids in participants.items()},
            guests_allowed_to_leave=guests_allowed_to_leave,
        )
        result = await self._conference._call(bep.BREAKOUTS, body)
        return result.breakout_uuid

    async def send_message(self, text: str, *, content_type: MessageType = "text/plain") -> bool:
        """Chat to every breakout room (a broadcast)."""
        body = MessageBody(type=content_type, payload=text)
        return await self._conference._call(bep.BREAKOUTS_MESSAGE, body)

    async def close_all(self) -> None:
        """Close every room (their participants go back or are disconnected, by `end_action`)."""
        await self._conference._call(bep.BREAKOUTS_DISCONNECT)

    async def empty(self) -> bool:
        """Move everyone in a room back to the main room; the rooms stay open."""
        return await self._conference._call(bep.BREAKOUTS_EMPTY)

    async def move(self, participants: Sequence[str], to: str | None) -> bool:
        """Move main-room participants to the room `to` (None or `"main"`: stay in main)."""
        return await self._conference._call(
            bep.BREAKOUT_MOVE_PARTICIPANTS_FROM_MAIN, _move(to, participants)
        )

    async def leave(self) -> bool:
        """As a guest inside a room: go back to the main room (if the room allows it)."""
        return await self._conference._call(bep.GUEST_LEAVE_BREAKOUT)


class BreakoutRoomClient:
    """Functions of one breakout room."""

    def __init__(self, conference: _Caller, uuid: str) -> None:
        self._conference = conference
        self.uuid = uuid

    async def _call(
        self,
        endpoint: Endpoint[T],
        body: BaseModel | None = None,
        *,
        participant: str | None = None,
        call: str | None = None,
        mix: str | None = None,
    ) -> T:
        return await self._conference._call(
            endpoint, body, participant=participant, call=call, mix=mix, breakout=self.uuid
        )

    def participant(self, uuid: str) -> BreakoutParticipantClient:
        return BreakoutParticipantClient(self, uuid)

    async def close(self) -> bool:
        return await self._call(bep.BREAKOUT_DISCONNECT)

    async def transform_layout(self, transforms: LayoutTransforms) -> bool:
        body = TransformLayoutBody(transforms=transforms)
        return await self._call(bep.BREAKOUT_TRANSFORM_LAYOUT, body)

    async def mute_guests(self) -> bool:
        return await self._call(bep.BREAKOUT_MUTEGUESTS)

    async def unmute_guests(self) -> bool:
        return await self._call(bep.BREAKOUT_UNMUTEGUESTS)

    async def lock(self) -> bool:
        return await self._call(bep.BREAKOUT_LOCK)

    async def unlock(self) -> bool:
        return await self._call(bep.BREAKOUT_UNLOCK)

    async def request_guest_token(self) -> str:
        """A one-time token that joins this room as a guest (`request_token` `token`)."""
        return await self._call(bep.BREAKOUT_REQUEST_GUEST_TOKEN)

    async def move(self, participants: Sequence[str], to: str | None) -> bool:
        """Move participants of this room to the room `to` (None or `"main"`: main room)."""
        return await self._call(bep.BREAKOUT_MOVE_PARTICIPANTS, _move(to, participants))

    async def send_message(self, text: str, *, content_type: MessageType = "text/plain") -> bool:
        body = MessageBody(type=content_type, payload=text)
        return await self._call(bep.BREAKOUT_MESSAGE_CONFERENCE, body)

    async def ask_for_help(self) -> bool:
        """As a host inside the room: ask the main room's hosts for help."""
        return await self._call(bep.HOST_BREAKOUT_BUZZ)

    async def clear_help(self) -> bool:
        return await self._call(bep.HOST_CLEAR_BREAKOUT_BUZZ)

    async def clear_all_buzz(self) -> bool:
        return await self._call(bep.BREAKOUT_CLEAR_ALL_BUZZ)

    async def create_video_mix(self, mix_name: str) -> bool:
        body = VideoMixCreateBody(mix_name=mix_name)
        return await self._call(bep.BREAKOUT_VIDEO_MIXES_CREATE, body)

    async def configure_video_mix(self, mix_name: str, *, layout: str | None = None) -> bool:
        body = VideoMixConfigureBody(transform_layout=MixLayout(layout=layout))
        return await self._call(bep.BREAKOUT_VIDEO_MIXES_CONFIGURE, body, mix=mix_name)

    async def delete_video_mix(self, mix_name: str) -> bool:
        return await self._call(bep.BREAKOUT_VIDEO_MIXES_DELETE, mix=mix_name)


class BreakoutParticipantClient:
    """Functions on `breakouts/<room>/participants/<uuid>/...` (the UUID in that room)."""

    def __init__(self, room: BreakoutRoomClient, uuid: str) -> None:
        self.room = room
        self.uuid = uuid

    async def _call(self, endpoint: Endpoint[T], body: BaseModel | None = None) -> T:
        return await self.room._call(endpoint, body, participant=self.uuid)

    def call(self, call_uuid: str) -> BreakoutCallClient:
        return BreakoutCallClient(self, call_uuid)

    async def calls_webrtc(
        self,
        sdp: str,
        *,
        present: Literal["send", "receive"] | None = None,
        fecc_supported: bool | None = None,
        media_type: CallType | None = None,
    ) -> CallsWebrtcResult:
        """Offer a WebRTC call in the room; the result holds the answer and the call UUID."""
        body = CallsWebrtcBody(
            sdp=sdp, present=present, fecc_supported=fecc_supported, media_type=media_type
        )
        return await self._call(bep.BREAKOUT_CALLS_WEBRTC_PARTICIPANT, body)

    async def mute(self) -> bool:
        return await self._call(bep.BREAKOUT_MUTE_PARTICIPANT)

    async def unmute(self) -> bool:
        return await self._call(bep.BREAKOUT_UNMUTE_PARTICIPANT)

    async def client_mute(self) -> bool:
        return await self._call(bep.BREAKOUT_CLIENT_MUTE_PARTICIPANT)

    async def client_unmute(self) -> bool:
        return await self._call(bep.BREAKOUT_CLIENT_UNMUTE_PARTICIPANT)

    async def video_mute(self) -> bool:
        return await self._call(bep.BREAKOUT_VIDEO_MUTE_PARTICIPANT)

    async def video_unmute(self) -> bool:
        return await self._call(bep.BREAKOUT_VIDEO_UNMUTE_PARTICIPANT)

    async def overlay_text(self, text: str) -> bool:
        return await self._call(bep.BREAKOUT_OVERLAYTEXT_PARTICIPANT, OverlayTextBody(text=text))

    async def take_floor(self) -> None:
        await self._call(bep.BREAKOUT_TAKE_FLOOR)

    async def release_floor(self) -> None:
        await self._call(bep.BREAKOUT_RELEASE_FLOOR)

    async def show_live_captions(self) -> None:
        await self._call(bep.BREAKOUT_SHOW_LIVE_CAPTIONS)

    async def hide_live_captions(self) -> None:
        await self._call(bep.BREAKOUT_HIDE_LIVE_CAPTIONS)

    async def unlock(self) -> bool:
        """Admit the participant from the room's waiting room."""
        return await self._call(bep.BREAKOUT_UNLOCK_PARTICIPANT)

    async def disconnect(self) -> bool | None:
        return await self._call(bep.BREAKOUT_DISCONNECT_PARTICIPANT)

    async def buzz(self) -> bool:
        return await self._call(bep.BREAKOUT_BUZZ_PARTICIPANT)

    async def clear_buzz(self) -> bool:
        return await self._call(bep.BREAKOUT_CLEARBUZZ_PARTICIPANT)

    async def transfer(
        self,
        conference_alias: str,
        *,
        role: Literal["host", "guest"] = "guest",
        pin: str | None = None,
    ) -> bool:
        body = TransferBody(conference_alias=conference_alias, role=role, pin=pin)
        return await self._call(bep.BREAKOUT_TRANSFER_PARTICIPANT, body)

    async def fecc(
        self,
        action: FeccAction,
        target: str,
        movement: Sequence[FeccMovement],
        *,
        timeout: float | None = None,
    ) -> bool:
        body = FeccParticipantBody(
            action=action, target=target, movement=list(movement), timeout=timeout
        )
        return await self._call(bep.BREAKOUT_FECC_PARTICIPANT, body)

    async def spotlight_on(self) -> bool:
        return await self._call(bep.BREAKOUT_SPOTLIGHTON_PARTICIPANT)

    async def spotlight_off(self) -> bool:
        return await self._call(bep.BREAKOUT_SPOTLIGHTOFF_PARTICIPANT)

    async def dtmf(self, digits: str) -> bool:
        body = DtmfBody(digits=validate_dtmf(digits))
        return await self._call(bep.BREAKOUT_DTMF_PARTICIPANT, body)


class BreakoutCallClient:
    """Functions on a call in a room: `breakouts/<room>/participants/<uuid>/calls/<call>/`."""

    def __init__(self, participant: BreakoutParticipantClient, uuid: str) -> None:
        self.participant = participant
        self.uuid = uuid

    async def _call(self, endpoint: Endpoint[T], body: BaseModel | None = None) -> T:
        p = self.participant
        return await p.room._call(endpoint, body, participant=p.uuid, call=self.uuid)

    async def ack(self, *, sdp: str | None = None, offer_ignored: bool | None = None) -> bool:
        return await self._call(bep.BREAKOUT_ACK, AckBody(sdp=sdp, offer_ignored=offer_ignored))

    async def disconnect(self) -> None:
        await self._call(bep.BREAKOUT_DISCONNECT_CALL)

    async def new_candidate(
        self, candidate: str, mid: str, *, ufrag: str | None = None, pwd: str | None = None
    ) -> None:
        body = NewCandidateBody(candidate=candidate, mid=mid, ufrag=ufrag, pwd=pwd)
        await self._call(bep.BREAKOUT_NEW_CANDIDATE, body)

    async def update(self, *, sdp: str | None = None, fecc_supported: bool | None = None) -> str:
        """Renegotiate; returns the answer SDP (either shape of the node's result)."""
        result = await self._call(
            bep.BREAKOUT_UPDATE, UpdateBody(sdp=sdp, fecc_supported=fecc_supported)
        )
        return result if isinstance(result, str) else result.sdp
