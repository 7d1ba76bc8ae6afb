"""Participant-level functions: `participants/<uuid>/...`.

Host-only functions refuse guests with 403; functions a participant may use on itself (mute,
buzz, disconnect, ...) are also open to guests for their own uuid.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from aiohttp import web
from aiohttp.typedefs import Handler

from .. import actions
from ..context import NODE, Auth, NodeContext
from ..http import ApiError, ok, parse_body
from ..state import ParticipantState
from . import bodies
from .paths import P_PREFIX

PERMISSION_DENIED = "Permission denied: host only"


def acting_on(
    request: web.Request, *, self_allowed: bool
) -> tuple[NodeContext, Auth, ParticipantState]:
    """Authenticate, find the target participant and check who may act on it."""
    ctx = request.app[NODE]
    auth = ctx.authenticate(request)
    target = ctx.target(auth, request.match_info["participant"])
    is_self = target.uuid == auth.participant.uuid
    if not auth.is_host and not (self_allowed and is_self):
        raise ApiError(403, PERMISSION_DENIED)
    return ctx, auth, target


def _flag(setter: Callable[[ParticipantState], bool], *, self_allowed: bool) -> Handler:
    """A POST that flips participant state and announces it with `participant_update`."""

    async def handler(request: web.Request) -> web.Response:
        _ctx, auth, target = acting_on(request, self_allowed=self_allowed)
        if setter(target):
            auth.conference.publish_participant(target, "participant_update")
        return ok(True)

    return handler


def _set(attr: str, value: object) -> Callable[[ParticipantState], bool]:
    def setter(participant: ParticipantState) -> bool:
        if getattr(participant, attr) == value:
            return False
        setattr(participant, attr, value)
        return True

    return setter


def _stamp(attr: str, on: bool) -> Callable[[ParticipantState], bool]:
    """spotlight / buzz_time are timestamps; 0 means off."""

    def setter(participant: ParticipantState) -> bool:
        if bool(getattr(participant, attr)) == on:
            return False
        setattr(participant, attr, time.time() if on else 0.0)
        return True

    return setter


async def disconnect(request: web.Request) -> web.Response:
    ctx, auth, target = acting_on(request, self_allowed=True)
    reason = None if target.uuid == auth.participant.uuid else "Disconnected by another participant"
    await ctx.remove_participant(auth.conference, target.uuid, reason)
    return ok(True)


async def unmute(request: web.Request) -> web.Response:
    _ctx, auth, target = acting_on(request, self_allowed=True)
    conference = auth.conference
    if not auth.is_host and conference.guests_muted and not conference.guests_can_unmute:
        raise ApiError(403, "Guests cannot unmute themselves")
    actions.set_muted(conference, target, False)
    return ok(True)


async def unlock(request: web.Request) -> web.Response:
    ctx, auth, target = acting_on(request, self_allowed=False)
    ctx.admit(auth.conference, target, force=True)
    return ok(True)


async def role(request: web.Request) -> web.Response:
    _ctx, auth, target = acting_on(request, self_allowed=False)
    body = await parse_body(request, bodies.Role)
    actions.set_role(auth.conference, target, body.role)
    return ok(True)


async def transfer(request: web.Request) -> web.Response:
    ctx, auth, target = acting_on(request, self_allowed=False)
    body = await parse_body(request, bodies.Transfer)
    role: actions.JoinRole = "HOST" if body.role == "host" else "GUEST"
    if not await actions.transfer(ctx, auth.conference, target, body.conference_alias, role):
        raise ApiError(403, "transfer failed")
    return ok(True)


async def overlaytext(request: web.Request) -> web.Response:
    _ctx, auth, target = acting_on(request, self_allowed=False)
    body = await parse_body(request, bodies.OverlayText)
    target.overlay_text = body.text
    auth.conference.publish_participant(target, "participant_update")
    return ok(True)


async def dtmf(request: web.Request) -> web.Response:
    ctx = request.app[NODE]
    auth = ctx.authenticate(request)
    target = ctx.target(auth, request.match_info["participant"])
    body = await parse_body(request, bodies.Digits)
    target.dtmf.append(body.digits)
    return ok(True)


async def take_floor(request: web.Request) -> web.Response:
    ctx, auth, target = acting_on(request, self_allowed=True)
    conference = auth.conference
    if not target.is_host and not conference.service.guests_can_present:
        raise ApiError(403, "Presentation rejected")
    ctx.start_presentation(conference, target)
    return web.json_response({"status": "success", "result": None})


async def release_floor(request: web.Request) -> web.Response:
    ctx, auth, target = acting_on(request, self_allowed=True)
    ctx.stop_presentation(auth.conference, target)
    return web.json_response({"status": "success", "result": None})


_FLAGS: list[tuple[str, str, Callable[[ParticipantState], bool], bool]] = [
    ("mute", "mute_participant", _set("is_muted", True), True),
    ("client_mute", "client_mute_participant", _set("is_client_muted", True), True),
    ("client_unmute", "client_unmute_participant", _set("is_client_muted", False), True),
    ("video_muted", "video_mute_participant", _set("is_video_muted", True), True),
    ("video_unmuted", "video_unmute_participant", _set("is_video_muted", False), True),
    (
        "allowrxpresentation",
        "allowrxpresentation_participant",
        _set("rx_presentation", True),
        False,
    ),
    ("denyrxpresentation", "denyrxpresentation_participant", _set("rx_presentation", False), False),
    ("spotlighton", "spotlighton_participant", _stamp("spotlight", True), False),
    ("spotlightoff", "spotlightoff_participant", _stamp("spotlight", False), False),
    ("buzz", "buzz_participant", _stamp("buzz_time", True), True),
    ("clearbuzz", "clearbuzz_participant", _stamp("buzz_time", False), True),
]
#: The flag handlers by path (`breakouts.py` registers them again for breakout rooms).
FLAG_HANDLERS: dict[str, Handler] = {
    path: _flag(setter, self_allowed=self_allowed) for path, _name, setter, self_allowed in _FLAGS
}


def add_routes(app: web.Application) -> None:
    r = app.router
    for path, name, _setter, _self_allowed in _FLAGS:
        r.add_post(f"{P_PREFIX}/{path}", FLAG_HANDLERS[path], name=name)
    r.add_post(P_PREFIX + "/disconnect", disconnect, name="disconnect_participant")
    r.add_post(P_PREFIX + "/unmute", unmute, name="unmute_participant")
    r.add_post(P_PREFIX + "/unlock", unlock, name="unlock_participant")
    r.add_post(P_PREFIX + "/role", role, name="role_participant")
    r.add_post(P_PREFIX + "/transfer", transfer, name="transfer_participant")
    r.add_post(P_PREFIX + "/overlaytext", overlaytext, name="overlaytext_participant")
    r.add_post(P_PREFIX + "/dtmf", dtmf, name="dtmf_participant")
    r.add_post(P_PREFIX + "/take_floor", take_floor, name="take_floor")
    r.add_post(P_PREFIX + "/release_floor", release_floor, name="release_floor")
