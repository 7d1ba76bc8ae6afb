"""Every endpoint of the client API v2, as `Endpoint` values.

Keys are the schema's `x-endpoints` keys; `ENDPOINTS` maps each key to its descriptor (all
108: the 46 breakout-room ones are defined in `breakout_endpoints.py`) so the contract tests
can walk them all.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, TypeAdapter

from ._http import Endpoint, ResultT
from .breakout_endpoints import BREAKOUT_ENDPOINTS
from .models.call import (
    AckBody,
    FeccBody,
    NewCandidateBody,
    StatisticsBody,
    UpdateBody,
    UpdateResult,
)
from .models.conference import (
    ConferenceStatus,
    DialBody,
    LayoutInfo,
    MessageBody,
    SetGuestsCanUnmuteBody,
    SilentVideoDetectionBody,
    Theme,
    TransformLayoutBody,
    VideoMixConfigureBody,
    VideoMixCreateBody,
)
from .models.participant import Participant
from .models.participant_functions import (
    CallsRtmpBody,
    CallsRtmpResult,
    CallsWebrtcBody,
    CallsWebrtcResult,
    DtmfBody,
    FeccParticipantBody,
    OverlayTextBody,
    PreferredAspectRatioBody,
    PresInMixBody,
    RoleBody,
    TransferBody,
)
from .models.token import (
    RefreshTokenResult,
    ReleaseTokenBody,
    RequestTokenBody,
    RequestTokenResult,
)

_BOOL: TypeAdapter[bool] = TypeAdapter(bool)

# `idempotent=True` marks the POSTs that do no more when sent twice (they set a state), so a
# timeout or reset may be retried; GETs are idempotent anyway. The others (request_token,
# refresh_token, calls, update, dial, message, dtmf, disconnect, ...) are retried only on an
# answer that says "not done" (5xx, 429) or when no connection was made: see `_retry.py`.

REQUEST_TOKEN = Endpoint(
    "request_token",
    "POST",
    "request_token",
    TypeAdapter(RequestTokenResult),
    body=RequestTokenBody,
    statuses=frozenset({200, 403, 404, 415, 502, 503, 504, 529}),
    token_request=True,
)
REFRESH_TOKEN = Endpoint(
    "refresh_token",
    "POST",
    "refresh_token",
    TypeAdapter(RefreshTokenResult),
    statuses=frozenset({200, 403}),
)
RELEASE_TOKEN = Endpoint(
    "release_token",
    "POST",
    "release_token",
    _BOOL,
    body=ReleaseTokenBody,
    statuses=frozenset({200, 403}),
    idempotent=True,
)

# Shared result adapters: most functions answer `true`/`false`, a few answer `null`.
_NULL: TypeAdapter[None] = TypeAdapter(None)
# Participant-level 403s are plain reason strings (mapped to ForbiddenError subclasses).
_P = frozenset({200, 403})


# --- conference level -----------------------------------------------------------------

DIAL: Endpoint[list[str]] = Endpoint("dial", "POST", "dial", TypeAdapter(list[str]), body=DialBody)
CONFERENCE_STATUS: Endpoint[ConferenceStatus] = Endpoint(
    "conference_status", "GET", "conference_status", TypeAdapter(ConferenceStatus)
)
LOCK: Endpoint[bool] = Endpoint("lock", "POST", "lock", _BOOL, idempotent=True)
UNLOCK: Endpoint[bool] = Endpoint("unlock", "POST", "unlock", _BOOL, idempotent=True)
START_CONFERENCE: Endpoint[bool] = Endpoint(
    "start_conference", "POST", "start_conference", _BOOL, idempotent=True
)
MUTEGUESTS: Endpoint[bool] = Endpoint("muteguests", "POST", "muteguests", _BOOL, idempotent=True)
UNMUTEGUESTS: Endpoint[bool] = Endpoint(
    "unmuteguests", "POST", "unmuteguests", _BOOL, idempotent=True
)
SET_GUESTS_CAN_UNMUTE: Endpoint[bool] = Endpoint(
    "set_guests_can_unmute",
    "POST",
    "set_guests_can_unmute",
    _BOOL,
    body=SetGuestsCanUnmuteBody,
    idempotent=True,
)
DISCONNECT: Endpoint[bool] = Endpoint("disconnect", "POST", "disconnect", _BOOL)
MESSAGE_CONFERENCE: Endpoint[bool] = Endpoint(
    "message_conference", "POST", "message", _BOOL, body=MessageBody
)
PARTICIPANTS: Endpoint[list[Participant]] = Endpoint(
    "participants", "GET", "participants", TypeAdapter(list[Participant])
)
TRANSFORM_LAYOUT: Endpoint[bool] = Endpoint(
    "transform_layout",
    "POST",
    "transform_layout",
    _BOOL,
    body=TransformLayoutBody,
    idempotent=True,
)
CLEAR_ALL_BUZZ: Endpoint[bool] = Endpoint(
    "clear_all_buzz", "POST", "clearallbuzz", _BOOL, idempotent=True
)
SILENT_VIDEO_DETECTION: Endpoint[bool] = Endpoint(
    "silent_video_detection",
    "POST",
    "silent_video_detection",
    _BOOL,
    body=SilentVideoDetectionBody,
    idempotent=True,
)
# A node without a theme answers 204 (no body): the result is then None. The trailing
# slash is part of the path.
THEME: Endpoint[Theme | None] = Endpoint(
    "theme",
    "GET",
    "theme/",
    TypeAdapter(Theme | None),
    statuses=frozenset({200, 204}),
)
# `annotate=true` asks for `{name, tags}` objects; older nodes answer plain names either way.
AVAILABLE_LAYOUTS: Endpoint[list[str | LayoutInfo]] = Endpoint(
    "available_layouts",
    "GET",
    "available_layouts",
    TypeAdapter(list[str | LayoutInfo]),
    query={"annotate": "true"},
)
LAYOUT_SVGS: Endpoint[dict[str, str]] = Endpoint(
    "layout_svgs", "GET", "layout_svgs", TypeAdapter(dict[str, str])
)
GUEST_BREAKOUT_BUZZ: Endpoint[bool] = Endpoint(
    "guest_breakout_buzz", "POST", "breakoutbuzz", _BOOL, idempotent=True
)
GUEST_CLEAR_BREAKOUT_BUZZ: Endpoint[bool] = Endpoint(
    "guest_clear_breakout_buzz",
    "POST",
    "clearbreakoutbuzz",
    _BOOL,
    idempotent=True,
)
VIDEO_MIXES_CREATE: Endpoint[bool] = Endpoint(
    "video_mixes_create", "POST", "video_mixes/create", _BOOL, body=VideoMixCreateBody
)
VIDEO_MIXES_CONFIGURE: Endpoint[bool] = Endpoint(
    "video_mixes_configure",
    "POST",
    "video_mixes/{mix}/configure",
    _BOOL,
    body=VideoMixConfigureBody,
    idempotent=True,
)
VIDEO_MIXES_DELETE: Endpoint[bool] = Endpoint(
    "video_mixes_delete", "POST", "video_mixes/{mix}/delete", _BOOL
)

# --- participant level ----------------------------------------------------------------

_PP = "participants/{participant}/"


def _part(
    key: str,
    name: str,
    result: TypeAdapter[ResultT],
    body: type[BaseModel] | None = None,
    *,
    idempotent: bool = False,
) -> Endpoint[ResultT]:
    """A POST on `participants/<uuid>/<name>` answering 200 or a 403 reason string."""
    return Endpoint(key, "POST", _PP + name, result, body=body, statuses=_P, idempotent=idempotent)


DISCONNECT_PARTICIPANT: Endpoint[bool | None] = _part(
    "disconnect_participant", "disconnect", TypeAdapter(bool | None)
)
MUTE_PARTICIPANT: Endpoint[bool] = _part("mute_participant", "mute", _BOOL, idempotent=True)
UNMUTE_PARTICIPANT: Endpoint[bool] = _part("unmute_participant", "unmute", _BOOL, idempotent=True)
CLIENT_MUTE_PARTICIPANT: Endpoint[bool] = _part(
    "client_mute_participant", "client_mute", _BOOL, idempotent=True
)
CLIENT_UNMUTE_PARTICIPANT: Endpoint[bool] = _part(
    "client_unmute_participant",
    "client_unmute",
    _BOOL,
    idempotent=True,
)
VIDEO_MUTE_PARTICIPANT: Endpoint[bool] = _part(
    "video_mute_participant", "video_muted", _BOOL, idempotent=True
)
VIDEO_UNMUTE_PARTICIPANT: Endpoint[bool] = _part(
    "video_unmute_participant", "video_unmuted", _BOOL, idempotent=True
)
ALLOWRXPRESENTATION_PARTICIPANT: Endpoint[bool] = _part(
    "allowrxpresentation_participant",
    "allowrxpresentation",
    _BOOL,
    idempotent=True,
)
DENYRXPRESENTATION_PARTICIPANT: Endpoint[bool] = _part(
    "denyrxpresentation_participant",
    "denyrxpresentation",
    _BOOL,
    idempotent=True,
)
SPOTLIGHTON_PARTICIPANT: Endpoint[bool] = _part(
    "spotlighton_participant", "spotlighton", _BOOL, idempotent=True
)
SPOTLIGHTOFF_PARTICIPANT: Endpoint[bool] = _part(
    "spotlightoff_participant", "spotlightoff", _BOOL, idempotent=True
)
UNLOCK_PARTICIPANT: Endpoint[bool] = _part("unlock_participant", "unlock", _BOOL, idempotent=True)
DTMF_PARTICIPANT: Endpoint[bool] = _part("dtmf_participant", "dtmf", _BOOL, body=DtmfBody)
# WebRTC and RTMP share the `calls` path; only body and result differ. Their 400, 500 and
# 504 bodies are plain text, whatever the content type claims.
_CALLS_STATUSES = frozenset({200, 400, 403, 500, 504})
_CALLS_TEXT = frozenset({400, 500, 504})
CALLS_WEBRTC_PARTICIPANT: Endpoint[CallsWebrtcResult] = Endpoint(
    "calls_webrtc_participant",
    "POST",
    _PP + "calls",
    TypeAdapter(CallsWebrtcResult),
    body=CallsWebrtcBody,
    statuses=_CALLS_STATUSES,
    text_statuses=_CALLS_TEXT,
)
CALLS_RTMP_PARTICIPANT: Endpoint[CallsRtmpResult] = Endpoint(
    "calls_rtmp_participant",
    "POST",
    _PP + "calls",
    TypeAdapter(CallsRtmpResult),
    body=CallsRtmpBody,
    statuses=_CALLS_STATUSES,
    text_statuses=_CALLS_TEXT,
)
OVERLAYTEXT_PARTICIPANT: Endpoint[bool] = _part(
    "overlaytext_participant",
    "overlaytext",
    _BOOL,
    body=OverlayTextBody,
    idempotent=True,
)
PRES_IN_MIX_PARTICIPANT: Endpoint[bool] = _part(
    "pres_in_mix_participant",
    "pres_in_mix",
    _BOOL,
    body=PresInMixBody,
    idempotent=True,
)
ROLE_PARTICIPANT: Endpoint[bool] = _part(
    "role_participant", "role", _BOOL, body=RoleBody, idempotent=True
)
FECC_PARTICIPANT: Endpoint[bool] = _part(
    "fecc_participant", "fecc", _BOOL, body=FeccParticipantBody
)
BUZZ_PARTICIPANT: Endpoint[bool] = _part("buzz_participant", "buzz", _BOOL, idempotent=True)
CLEARBUZZ_PARTICIPANT: Endpoint[bool] = _part(
    "clearbuzz_participant", "clearbuzz", _BOOL, idempotent=True
)
TRANSFER_PARTICIPANT: Endpoint[bool] = _part(
    "transfer_participant", "transfer", _BOOL, body=TransferBody
)
MESSAGE_PARTICIPANT: Endpoint[bool] = _part(
    "message_participant", "message", _BOOL, body=MessageBody
)
# The schema models only this endpoint's 403 and 404 (`"No image available"`): Pexip's SDK
# never fetches it through the wrapper, a browser loads the URL in an <img>. A bot has no
# <img>, so the 200 (JPEG bytes, not the JSON envelope) is accepted here as raw bytes.
AVATAR_JPG_PARTICIPANT: Endpoint[bytes] = Endpoint(
    "avatar.jpg_participant",
    "GET",
    _PP + "avatar.jpg",
    TypeAdapter(bytes),
    statuses=frozenset({200, 403, 404}),
    raw_content_type="image/",
)
TAKE_FLOOR: Endpoint[None] = _part("take_floor", "take_floor", _NULL, idempotent=True)
RELEASE_FLOOR: Endpoint[None] = _part("release_floor", "release_floor", _NULL, idempotent=True)
SHOW_LIVE_CAPTIONS: Endpoint[None] = _part(
    "show_live_captions", "show_live_captions", _NULL, idempotent=True
)
HIDE_LIVE_CAPTIONS: Endpoint[None] = _part(
    "hide_live_captions", "hide_live_captions", _NULL, idempotent=True
)
PREFERRED_ASPECT_RATIO: Endpoint[bool] = _part(
    "preferred_aspect_ratio",
    "preferred_aspect_ratio",
    _BOOL,
    body=PreferredAspectRatioBody,
    idempotent=True,
)
NOTIFY_NOT_A_F_K: Endpoint[bool] = _part(
    "notify_not_a_f_k", "notify_not_afk", _BOOL, idempotent=True
)

# --- call level -------------------------------------------------------------------------

_PC = _PP + "calls/{call}/"

# ack answers a boolean (v10 said empty; `null` fails the SDK's validation).
ACK: Endpoint[bool] = Endpoint(
    "ack", "POST", _PC + "ack", _BOOL, body=AckBody, statuses=_P, idempotent=True
)
# Call disconnect answers `null` (v10 said boolean); 502/503 bodies are plain text.
DISCONNECT_CALL: Endpoint[None] = Endpoint(
    "disconnect_call",
    "POST",
    _PC + "disconnect",
    _NULL,
    statuses=frozenset({200, 403, 502, 503}),
    text_statuses=frozenset({502, 503}),
)
DTMF: Endpoint[bool] = Endpoint("dtmf", "POST", _PC + "dtmf", _BOOL, body=DtmfBody, statuses=_P)
FECC: Endpoint[bool] = Endpoint("fecc", "POST", _PC + "fecc", _BOOL, body=FeccBody, statuses=_P)
NEW_CANDIDATE: Endpoint[None] = Endpoint(
    "new_candidate",
    "POST",
    _PC + "new_candidate",
    _NULL,
    body=NewCandidateBody,
    statuses=frozenset({200, 403, 502}),
    text_statuses=frozenset({502}),
    idempotent=True,
)
# The answer is either the SDP string or `{call_uuid, sdp}`, depending on the node version.
UPDATE: Endpoint[str | UpdateResult] = Endpoint(
    "update",
    "POST",
    _PC + "update",
    TypeAdapter(str | UpdateResult),
    body=UpdateBody,
    statuses=frozenset({200, 403, 500, 502, 503, 520}),
    text_statuses=frozenset({500, 502, 503, 520}),
)
STATISTICS: Endpoint[None] = Endpoint(
    "statistics",
    "POST",
    _PC + "statistics",
    _NULL,
    body=StatisticsBody,
    statuses=_P,
    idempotent=True,
)

ENDPOINTS: dict[str, Endpoint[Any]] = {
    e.key: e
    for e in (
        REQUEST_TOKEN,
        REFRESH_TOKEN,
        RELEASE_TOKEN,
        DIAL,
        CONFERENCE_STATUS,
        LOCK,
        UNLOCK,
        START_CONFERENCE,
        MUTEGUESTS,
        UNMUTEGUESTS,
        SET_GUESTS_CAN_UNMUTE,
        DISCONNECT,
        MESSAGE_CONFERENCE,
        PARTICIPANTS,
        TRANSFORM_LAYOUT,
        CLEAR_ALL_BUZZ,
        SILENT_VIDEO_DETECTION,
        THEME,
        AVAILABLE_LAYOUTS,
        LAYOUT_SVGS,
        GUEST_BREAKOUT_BUZZ,
        GUEST_CLEAR_BREAKOUT_BUZZ,
        VIDEO_MIXES_CREATE,
        VIDEO_MIXES_CONFIGURE,
        VIDEO_MIXES_DELETE,
        DISCONNECT_PARTICIPANT,
        MUTE_PARTICIPANT,
        UNMUTE_PARTICIPANT,
        CLIENT_MUTE_PARTICIPANT,
        CLIENT_UNMUTE_PARTICIPANT,
        VIDEO_MUTE_PARTICIPANT,
        VIDEO_UNMUTE_PARTICIPANT,
        ALLOWRXPRESENTATION_PARTICIPANT,
        DENYRXPRESENTATION_PARTICIPANT,
        SPOTLIGHTON_PARTICIPANT,
        SPOTLIGHTOFF_PARTICIPANT,
        UNLOCK_PARTICIPANT,
        DTMF_PARTICIPANT,
        CALLS_WEBRTC_PARTICIPANT,
        CALLS_RTMP_PARTICIPANT,
        OVERLAYTEXT_PARTICIPANT,
        PRES_IN_MIX_PARTICIPANT,
        ROLE_PARTICIPANT,
        FECC_PARTICIPANT,
        BUZZ_PARTICIPANT,
        CLEARBUZZ_PARTICIPANT,
        TRANSFER_PARTICIPANT,
        MESSAGE_PARTICIPANT,
        AVATAR_JPG_PARTICIPANT,
        TAKE_FLOOR,
        RELEASE_FLOOR,
        SHOW_LIVE_CAPTIONS,
        HIDE_LIVE_CAPTIONS,
        PREFERRED_ASPECT_RATIO,
        NOTIFY_NOT_A_F_K,
        ACK,
        DISCONNECT_CALL,
        DTMF,
        FECC,
        NEW_CANDIDATE,
        UPDATE,
        STATISTICS,
    )
}
ENDPOINTS.update(BREAKOUT_ENDPOINTS)
