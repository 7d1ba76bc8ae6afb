"""The breakout-room routes: the 46 `breakout` endpoints of the schema, and the guest's
`breakoutbuzz` / `clearbreakoutbuzz` of the conference level.

The functions of one room (`breakouts/<room>/...`) and of a participant or call in it are
the main room's handlers, registered again under the room's prefix: on those routes
`NodeContext.authenticate` scopes the request to the room, acting as the host's own
participant in it (see `breakouts.py`). This module adds what only rooms have: open, close,
empty, move, leave, ask for help, guest tokens, a message to every room.
"""

from __future__ import annotations

from aiohttp import web
from aiohttp.typedefs import Handler

from agent.infinity.models.breakout import BreakoutsBody

from .. import breakouts
from ..context import NODE, PERMISSION_DENIED, Auth, NodeContext
from ..http import ApiError, ok, parse_body
from . import bodies, call, chat, conference, far_end, layouts, participant, viewing
from .paths import PREFIX

B_PREFIX = PREFIX + "/breakouts/{breakout}"
BP_PREFIX = B_PREFIX + "/participants/{participant}"
BC_PREFIX = BP_PREFIX + "/calls/{call}"


def _main_host(request: web.Request) -> tuple[NodeContext, Auth]:
    """A host of the main room (a participant inside a room cannot run the rooms)."""
    ctx = request.app[NODE]
    auth = ctx.authenticate(request)
    if not auth.is_host or auth.conference.room is not None:
        raise ApiError(403, PERMISSION_DENIED)
    return ctx, auth


def _null() -> web.Response:
    return web.json_response({"status": "success", "result": None})


async def create(request: web.Request) -> web.Response:
    ctx, auth = _main_host(request)
    body = await parse_body(request, bodies.Breakouts)
    spec = BreakoutsBody.model_validate(body.model_dump())
    room = await breakouts.create(ctx, auth.conference, spec, auth.participant.uuid)
    assert room.room is not None
    return ok({"breakout_uuid": room.room.uuid})


async def message_all(request: web.Request) -> web.Response:
    _ctx, auth = _main_host(request)
    body = await parse_body(request, bodies.Message)
    breakouts.broadcast(auth.conference, auth.participant, body.type, body.payload)
    return ok(True)


async def close_all(request: web.Request) -> web.Response:
    ctx, auth = _main_host(request)
    await breakouts.close_all(ctx, auth.conference)
    return _null()


async def empty(request: web.Request) -> web.Response:
    ctx, auth = _main_host(request)
    await breakouts.empty(ctx, auth.conference, auth.participant.uuid)
    return ok(True)


async def move_from_main(request: web.Request) -> web.Response:
    ctx, auth = _main_host(request)
    body = await parse_body(request, bodies.BreakoutMove)
    await breakouts.move(
        ctx, auth.conference, body.participants, body.breakout_uuid, auth.participant.uuid
    )
    return ok(True)


async def move_from_room(request: web.Request) -> web.Response:
    ctx = request.app[NODE]
    auth = ctx.authenticate(request)  # scoped to the room: a main-room host's
    body = await parse_body(request, bodies.BreakoutMove)
    requester = auth.token.participant_uuid  # the host's main-room UUID
    await breakouts.move(ctx, auth.conference, body.participants, body.breakout_uuid, requester)
    return ok(True)


async def close_room(request: web.Request) -> web.Response:
    ctx = request.app[NODE]
    auth = ctx.authenticate(request)
    await breakouts.close(ctx, auth.conference)
    return ok(True)


async def request_guest_token(request: web.Request) -> web.Response:
    """A one-time token that joins the room as a guest (`request_token` with `token`)."""
    ctx = request.app[NODE]
    auth = ctx.authenticate(request)
    return ok(ctx.state.add_refer(auth.conference, "GUEST"))


async def leave(request: web.Request) -> web.Response:
    """A guest in a room (its token is the room's) goes back to the main room."""
    ctx = request.app[NODE]
    auth = ctx.authenticate(request)
    return ok(await breakouts.leave(ctx, auth.conference, auth.participant))


def _buzz(on: bool) -> Handler:
    """Ask the main room's hosts for help: a guest in a room (`breakoutbuzz`, its token)
    or a host in one (`breakouts/<room>/breakoutbuzz`). False outside a room."""

    async def handler(request: web.Request) -> web.Response:
        auth = request.app[NODE].authenticate(request)
        return ok(breakouts.set_buzz(auth.conference, on))

    return handler


def add_routes(app: web.Application) -> None:
    r = app.router
    # -- every room, and the guest's own functions
    r.add_post(PREFIX + "/breakouts", create, name="breakouts")
    r.add_post(PREFIX + "/breakouts/message", message_all, name="breakouts_message")
    r.add_post(PREFIX + "/breakouts/disconnect", close_all, name="breakouts_disconnect")
    r.add_post(PREFIX + "/breakouts/empty", empty, name="breakouts_empty")
    r.add_post(
        PREFIX + "/participants/breakout",
        move_from_main,
        name="breakout_move_participants_from_main",
    )
    r.add_post(PREFIX + "/leavebreakout", leave, name="guestLeaveBreakout")
    r.add_post(PREFIX + "/breakoutbuzz", _buzz(True), name="guest_breakout_buzz")
    r.add_post(PREFIX + "/clearbreakoutbuzz", _buzz(False), name="guest_clear_breakout_buzz")
    # -- one room
    room: list[tuple[str, Handler, str]] = [
        ("disconnect", close_room, "breakout_disconnect"),
        ("transform_layout", conference.transform_layout, "breakout_transform_layout"),
        ("muteguests", conference.muteguests, "breakout_muteguests"),
        ("unmuteguests", conference.unmuteguests, "breakout_unmuteguests"),
        ("lock", conference.lock, "breakout_lock"),
        ("unlock", conference.unlock, "breakout_unlock"),
        ("request_guest_token", request_guest_token, "breakout_request_guest_token"),
        ("participants/breakout", move_from_room, "breakout_move_participants"),
        ("message", chat.message_conference, "breakout_message_conference"),
        ("breakoutbuzz", _buzz(True), "host_breakout_buzz"),
        ("clearbreakoutbuzz", _buzz(False), "host_clear_breakout_buzz"),
        ("clearallbuzz", conference.clearallbuzz, "breakout_clear_all_buzz"),
        ("video_mixes/create", layouts.video_mixes_create, "breakout_video_mixes_create"),
        (
            "video_mixes/{mix}/configure",
            layouts.video_mixes_configure,
            "breakout_video_mixes_configure",
        ),
        ("video_mixes/{mix}/delete", layouts.video_mixes_delete, "breakout_video_mixes_delete"),
    ]
    for path, handler, name in room:
        r.add_post(f"{B_PREFIX}/{path}", handler, name=name)
    # -- a participant in a room (its UUID there), and its calls
    flags = participant.FLAG_HANDLERS
    in_room: list[tuple[str, Handler, str]] = [
        ("calls", call.calls, "breakout_calls_webrtc_participant"),
        ("mute", flags["mute"], "breakout_mute_participant"),
        ("unmute", participant.unmute, "breakout_unmute_participant"),
        ("client_mute", flags["client_mute"], "breakout_client_mute_participant"),
        ("client_unmute", flags["client_unmute"], "breakout_client_unmute_participant"),
        ("video_muted", flags["video_muted"], "breakout_video_mute_participant"),
        ("video_unmuted", flags["video_unmuted"], "breakout_video_unmute_participant"),
        ("overlaytext", participant.overlaytext, "breakout_overlaytext_participant"),
        ("take_floor", participant.take_floor, "breakout_take_floor"),
        ("release_floor", participant.release_floor, "breakout_release_floor"),
        ("show_live_captions", viewing.show_live_captions, "breakout_show_live_captions"),
        ("hide_live_captions", viewing.hide_live_captions, "breakout_hide_live_captions"),
        ("unlock", participant.unlock, "breakout_unlock_participant"),
        ("disconnect", participant.disconnect, "breakout_disconnect_participant"),
        ("buzz", flags["buzz"], "breakout_buzz_participant"),
        ("clearbuzz", flags["clearbuzz"], "breakout_clearbuzz_participant"),
        ("transfer", participant.transfer, "breakout_transfer_participant"),
        ("fecc", far_end.fecc_participant, "breakout_fecc_participant"),
        ("spotlighton", flags["spotlighton"], "breakout_spotlighton_participant"),
        ("spotlightoff", flags["spotlightoff"], "breakout_spotlightoff_participant"),
        ("dtmf", participant.dtmf, "breakout_dtmf_participant"),
        ("calls/{call}/ack", call.ack, "breakout_ack"),
        ("calls/{call}/disconnect", call.disconnect, "breakout_disconnect_call"),
        ("calls/{call}/new_candidate", call.new_candidate, "breakout_new_candidate"),
        ("calls/{call}/update", call.update, "breakout_update"),
    ]
    for path, handler, name in in_room:
        r.add_post(f"{BP_PREFIX}/{path}", handler, name=name)
