"""The 46 breakout-room endpoints of the client API v2, as `Endpoint` values.

Keys are the schema's `x-endpoints` keys (module `breakout`); `BREAKOUT_ENDPOINTS` maps
each to its descriptor (`endpoints.ENDPOINTS` holds these too). Paths hold `{breakout}` (the
room's UUID), and under `breakouts/{breakout}/participants/{participant}/` the participant's
UUID *in that room* (for a host: the one its `breakout_begin` named). Results and bodies
are the main room's where the schema says they are the same.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, TypeAdapter

from ._http import Endpoint, ResultT
from .models.breakout import BreakoutMoveBody, BreakoutsBody, BreakoutsResult
from .models.call import AckBody, NewCandidateBody, UpdateBody, UpdateResult
from .models.conference import (
    MessageBody,
    TransformLayoutBody,
    VideoMixConfigureBody,
    VideoMixCreateBody,
)
from .models.participant_functions import (
    CallsWebrtcBody,
    CallsWebrtcResult,
    DtmfBody,
    FeccParticipantBody,
    OverlayTextBody,
    TransferBody,
)

__all__ = ["BREAKOUT_ENDPOINTS"]

_BOOL: TypeAdapter[bool] = TypeAdapter(bool)
_NULL: TypeAdapter[None] = TypeAdapter(None)
_P = frozenset({200, 403})

_B = "breakouts/{breakout}/"
_BP = _B + "participants/{participant}/"
_BC = _BP + "calls/{call}/"


def _room(
    key: str, name: str, result: TypeAdapter[ResultT], body: type[BaseModel] | None = None
) -> Endpoint[ResultT]:
    """A POST on `breakouts/<room>/<name>` (host functions on one room; 200 only)."""
    return Endpoint(key, "POST", _B + name, result, body=body)


def _part(
    key: str, name: str, result: TypeAdapter[ResultT], body: type[BaseModel] | None = None
) -> Endpoint[ResultT]:
    """A POST on `breakouts/<room>/participants/<uuid>/<name>` answering 200 or a 403 string."""
    return Endpoint(key, "POST", _BP + name, result, body=body, statuses=_P)


# --- all rooms ------------------------------------------------------------------------------

BREAKOUTS: Endpoint[BreakoutsResult] = Endpoint(
    "breakouts", "POST", "breakouts", TypeAdapter(BreakoutsResult), body=BreakoutsBody
)
BREAKOUTS_MESSAGE: Endpoint[bool] = Endpoint(
    "breakouts_message", "POST", "breakouts/message", _BOOL, body=MessageBody
)
# Closing every room answers `null`, closing one room a boolean.
BREAKOUTS_DISCONNECT: Endpoint[None] = Endpoint(
    "breakouts_disconnect", "POST", "breakouts/disconnect", _NULL
)
BREAKOUTS_EMPTY: Endpoint[bool] = Endpoint("breakouts_empty", "POST", "breakouts/empty", _BOOL)
BREAKOUT_MOVE_PARTICIPANTS_FROM_MAIN: Endpoint[bool] = Endpoint(
    "breakout_move_participants_from_main",
    "POST",
    "participants/breakout",
    _BOOL,
    body=BreakoutMoveBody,
    statuses=_P,
)
# A guest inside a room: back to the main room (when the room lets guests leave).
GUEST_LEAVE_BREAKOUT: Endpoint[bool] = Endpoint(
    "guestLeaveBreakout", "POST", "leavebreakout", _BOOL
)

# --- one room -------------------------------------------------------------------------------

BREAKOUT_DISCONNECT: Endpoint[bool] = _room("breakout_disconnect", "disconnect", _BOOL)
BREAKOUT_TRANSFORM_LAYOUT: Endpoint[bool] = _room(
    "breakout_transform_layout", "transform_layout", _BOOL, TransformLayoutBody
)
BREAKOUT_MUTEGUESTS: Endpoint[bool] = _room("breakout_muteguests", "muteguests", _BOOL)
BREAKOUT_UNMUTEGUESTS: Endpoint[bool] = _room("breakout_unmuteguests", "unmuteguests", _BOOL)
BREAKOUT_LOCK: Endpoint[bool] = _room("breakout_lock", "lock", _BOOL)
BREAKOUT_UNLOCK: Endpoint[bool] = _room("breakout_unlock", "unlock", _BOOL)
# A one-time token to join the room as a guest (`request_token` with `token`).
BREAKOUT_REQUEST_GUEST_TOKEN: Endpoint[str] = _room(
    "breakout_request_guest_token", "request_guest_token", TypeAdapter(str)
)
BREAKOUT_MOVE_PARTICIPANTS: Endpoint[bool] = Endpoint(
    "breakout_move_participants",
    "POST",
    _B + "participants/breakout",
    _BOOL,
    body=BreakoutMoveBody,
    statuses=_P,
)
BREAKOUT_MESSAGE_CONFERENCE: Endpoint[bool] = _room(
    "breakout_message_conference", "message", _BOOL, MessageBody
)
# A host inside a room asks the main room's hosts for help (a guest: `breakoutbuzz`).
HOST_BREAKOUT_BUZZ: Endpoint[bool] = _room("host_breakout_buzz", "breakoutbuzz", _BOOL)
HOST_CLEAR_BREAKOUT_BUZZ: Endpoint[bool] = _room(
    "host_clear_breakout_buzz", "clearbreakoutbuzz", _BOOL
)
BREAKOUT_CLEAR_ALL_BUZZ: Endpoint[bool] = _room("breakout_clear_all_buzz", "clearallbuzz", _BOOL)
BREAKOUT_VIDEO_MIXES_CREATE: Endpoint[bool] = _room(
    "breakout_video_mixes_create", "video_mixes/create", _BOOL, VideoMixCreateBody
)
BREAKOUT_VIDEO_MIXES_CONFIGURE: Endpoint[bool] = _room(
    "breakout_video_mixes_configure", "video_mixes/{mix}/configure", _BOOL, VideoMixConfigureBody
)
BREAKOUT_VIDEO_MIXES_DELETE: Endpoint[bool] = _room(
    "breakout_video_mixes_delete", "video_mixes/{mix}/delete", _BOOL
)

# --- a participant in a room ----------------------------------------------------------------

BREAKOUT_CALLS_WEBRTC_PARTICIPANT: Endpoint[CallsWebrtcResult] = Endpoint(
    "breakout_calls_webrtc_participant",
    "POST",
    _BP + "calls",
    TypeAdapter(CallsWebrtcResult),
    body=CallsWebrtcBody,
    statuses=frozenset({200, 400, 403, 500, 504}),
    text_statuses=frozenset({400, 500, 504}),
)
BREAKOUT_MUTE_PARTICIPANT: Endpoint[bool] = _part("breakout_mute_participant", "mute", _BOOL)
BREAKOUT_UNMUTE_PARTICIPANT: Endpoint[bool] = _part("breakout_unmute_participant", "unmute", _BOOL)
BREAKOUT_CLIENT_MUTE_PARTICIPANT: Endpoint[bool] = _part(
    "breakout_client_mute_participant", "client_mute", _BOOL
)
BREAKOUT_CLIENT_UNMUTE_PARTICIPANT: Endpoint[bool] = _part(
    "breakout_client_unmute_participant", "client_unmute", _BOOL
)
BREAKOUT_VIDEO_MUTE_PARTICIPANT: Endpoint[bool] = _part(
    "breakout_video_mute_participant", "video_muted", _BOOL
)
BREAKOUT_VIDEO_UNMUTE_PARTICIPANT: Endpoint[bool] = _part(
    "breakout_video_unmute_participant", "video_unmuted", _BOOL
)
BREAKOUT_OVERLAYTEXT_PARTICIPANT: Endpoint[bool] = _part(
    "breakout_overlaytext_participant", "overlaytext", _BOOL, OverlayTextBody
)
BREAKOUT_TAKE_FLOOR: Endpoint[None] = _part("breakout_take_floor", "take_floor", _NULL)
BREAKOUT_RELEASE_FLOOR: Endpoint[None] = _part("breakout_release_floor", "release_floor", _NULL)
BREAKOUT_SHOW_LIVE_CAPTIONS: Endpoint[None] = _part(
    "breakout_show_live_captions", "show_live_captions", _NULL
)
BREAKOUT_HIDE_LIVE_CAPTIONS: Endpoint[None] = _part(
    "breakout_hide_live_captions", "hide_live_captions", _NULL
)
BREAKOUT_UNLOCK_PARTICIPANT: Endpoint[bool] = _part("breakout_unlock_participant", "unlock", _BOOL)
BREAKOUT_DISCONNECT_PARTICIPANT: Endpoint[bool | None] = _part(
    "breakout_disconnect_participant", "disconnect", TypeAdapter(bool | None)
)
BREAKOUT_BUZZ_PARTICIPANT: Endpoint[bool] = _part("breakout_buzz_participant", "buzz", _BOOL)
BREAKOUT_CLEARBUZZ_PARTICIPANT: Endpoint[bool] = _part(
    "breakout_clearbuzz_participant", "clearbuzz", _BOOL
)
BREAKOUT_TRANSFER_PARTICIPANT: Endpoint[bool] = _part(
    "breakout_transfer_participant", "transfer", _BOOL, TransferBody
)
BREAKOUT_FECC_PARTICIPANT: Endpoint[bool] = _part(
    "breakout_fecc_participant", "fecc", _BOOL, FeccParticipantBody
)
BREAKOUT_SPOTLIGHTON_PARTICIPANT: Endpoint[bool] = _part(
    "breakout_spotlighton_participant", "spotlighton", _BOOL
)
BREAKOUT_SPOTLIGHTOFF_PARTICIPANT: Endpoint[bool] = _part(
    "breakout_spotlightoff_participant", "spotlightoff", _BOOL
)
BREAKOUT_DTMF_PARTICIPANT: Endpoint[bool] = _part(
    "breakout_dtmf_participant", "dtmf", _BOOL, DtmfBody
)

# --- a call in a room -------------------------------------------------------------------------

BREAKOUT_ACK: Endpoint[bool] = Endpoint(
    "breakout_ack", "POST", _BC + "ack", _BOOL, body=AckBody, statuses=_P
)
BREAKOUT_DISCONNECT_CALL: Endpoint[None] = Endpoint(
    "breakout_disconnect_call",
    "POST",
    _BC + "disconnect",
    _NULL,
    statuses=frozenset({200, 403, 502, 503}),
    text_statuses=frozenset({502, 503}),
)
BREAKOUT_NEW_CANDIDATE: Endpoint[None] = Endpoint(
    "breakout_new_candidate",
    "POST",
    _BC + "new_candidate",
    _NULL,
    body=NewCandidateBody,
    statuses=frozenset({200, 403, 502}),
    text_statuses=frozenset({502}),
)
BREAKOUT_UPDATE: Endpoint[str | UpdateResult] = Endpoint(
    "breakout_update",
    "POST",
    _BC + "update",
    TypeAdapter(str | UpdateResult),
    body=UpdateBody,
    statuses=frozenset({200, 403, 502, 503, 520}),
    text_statuses=frozenset({502, 503, 520}),
)

BREAKOUT_ENDPOINTS: dict[str, Endpoint[Any]] = {
    e.key: e
    for e in (
        BREAKOUTS,
        BREAKOUTS_MESSAGE,
        BREAKOUTS_DISCONNECT,
        BREAKOUTS_EMPTY,
        BREAKOUT_DISCONNECT,
        BREAKOUT_TRANSFORM_LAYOUT,
        BREAKOUT_MUTEGUESTS,
        BREAKOUT_UNMUTEGUESTS,
        BREAKOUT_LOCK,
        BREAKOUT_UNLOCK,
        BREAKOUT_REQUEST_GUEST_TOKEN,
        BREAKOUT_MOVE_PARTICIPANTS_FROM_MAIN,
        BREAKOUT_MOVE_PARTICIPANTS,
        BREAKOUT_CALLS_WEBRTC_PARTICIPANT,
        BREAKOUT_MUTE_PARTICIPANT,
        BREAKOUT_UNMUTE_PARTICIPANT,
        BREAKOUT_CLIENT_MUTE_PARTICIPANT,
        BREAKOUT_CLIENT_UNMUTE_PARTICIPANT,
        BREAKOUT_VIDEO_MUTE_PARTICIPANT,
        BREAKOUT_VIDEO_UNMUTE_PARTICIPANT,
        BREAKOUT_OVERLAYTEXT_PARTICIPANT,
        BREAKOUT_TAKE_FLOOR,
        BREAKOUT_RELEASE_FLOOR,
        BREAKOUT_ACK,
        BREAKOUT_DISCONNECT_CALL,
        BREAKOUT_NEW_CANDIDATE,
        BREAKOUT_UPDATE,
        BREAKOUT_SHOW_LIVE_CAPTIONS,
        BREAKOUT_HIDE_LIVE_CAPTIONS,
        BREAKOUT_MESSAGE_CONFERENCE,
        BREAKOUT_UNLOCK_PARTICIPANT,
        BREAKOUT_DISCONNECT_PARTICIPANT,
        BREAKOUT_BUZZ_PARTICIPANT,
        BREAKOUT_CLEARBUZZ_PARTICIPANT,
        GUEST_LEAVE_BREAKOUT,
        HOST_BREAKOUT_BUZZ,
        HOST_CLEAR_BREAKOUT_BUZZ,
        BREAKOUT_CLEAR_ALL_BUZZ,
        BREAKOUT_TRANSFER_PARTICIPANT,
        BREAKOUT_FECC_PARTICIPANT,
        BREAKOUT_SPOTLIGHTON_PARTICIPANT,
        BREAKOUT_SPOTLIGHTOFF_PARTICIPANT,
        BREAKOUT_DTMF_PARTICIPANT,
        BREAKOUT_VIDEO_MIXES_CREATE,
        BREAKOUT_VIDEO_MIXES_CONFIGURE,
        BREAKOUT_VIDEO_MIXES_DELETE,
    )
}
