"""Conference-level functions: status, lock, guests' mute, disconnect all, dial, layout
(chat: `chat.py`)."""

from __future__ import annotations

from aiohttp import web

from .. import actions
from ..context import NODE
from ..http import ok, parse_body
from ..layouts import LAYOUTS
from . import bodies
from .paths import PREFIX


async def conference_status(request: web.Request) -> web.Response:
    auth = request.app[NODE].authenticate(request)
    return ok(auth.conference.status())


async def participants(request: web.Request) -> web.Response:
    auth = request.app[NODE].authenticate(request)
    return ok(auth.conference.participant_dicts())


async def lock(request: web.Request) -> web.Response:
    ctx = request.app[NODE]
    auth = ctx.authenticate(request)
    ctx.require_host(auth)
    actions.lock(auth.conference)
    return ok(True)


async def unlock(request: web.Request) -> web.Response:
    ctx = request.app[NODE]
    auth = ctx.authenticate(request)
    ctx.require_host(auth)
    # Unlocking the conference lets everyone in the waiting room in.
    actions.unlock(ctx, auth.conference)
    return ok(True)


async def start_conference(request: web.Request) -> web.Response:
    """A host starts a conference whose guests wait for it (a lecture waits for this)."""
    ctx = request.app[NODE]
    auth = ctx.authenticate(request)
    ctx.require_host(auth)
    ctx.start_conference(auth.conference)
    return ok(True)


async def _set_guests_muted(request: web.Request, muted: bool) -> web.Response:
    ctx = request.app[NODE]
    auth = ctx.authenticate(request)
    ctx.require_host(auth)
    actions.set_guests_muted(auth.conference, muted)
    return ok(True)


async def muteguests(request: web.Request) -> web.Response:
    return await _set_guests_muted(request, True)


async def unmuteguests(request: web.Request) -> web.Response:
    return await _set_guests_muted(request, False)


async def set_guests_can_unmute(request: web.Request) -> web.Response:
    ctx = request.app[NODE]
    auth = ctx.authenticate(request)
    ctx.require_host(auth)
    body = await parse_body(request, bodies.GuestsCanUnmute)
    auth.conference.guests_can_unmute = body.setting
    auth.conference.publish_status()
    return ok(True)


async def disconnect_all(request: web.Request) -> web.Response:
    ctx = request.app[NODE]
    auth = ctx.authenticate(request)
    ctx.require_host(auth)
    await actions.disconnect_all(
        ctx, auth.conference, "Conference terminated by another participant"
    )
    return ok(True)


async def dial(request: web.Request) -> web.Response:
    ctx = request.app[NODE]
    auth = ctx.authenticate(request)
    ctx.require_host(auth)
    body = await parse_body(request, bodies.Dial)
    name = body.remote_display_name or body.destination
    participant = ctx.dial(auth.conference, body.destination, body.role, body.protocol, name)
    return ok([participant.uuid])


async def transform_layout(request: web.Request) -> web.Response:
    ctx = request.app[NODE]
    auth = ctx.authenticate(request)
    ctx.require_host(auth)
    body = await parse_body(request, bodies.TransformLayout)
    transforms = body.transforms
    actions.transform_layout(
        auth.conference, transforms.layout, transforms.host_layout, transforms.guest_layout
    )
    return ok(True)


async def clearallbuzz(request: web.Request) -> web.Response:
    ctx = request.app[NODE]
    auth = ctx.authenticate(request)
    ctx.require_host(auth)
    for participant in auth.conference.participants.values():
        if participant.buzz_time:
            participant.buzz_time = 0
            auth.conference.publish_participant(participant, "participant_update")
    return ok(True)


async def theme(request: web.Request) -> web.StreamResponse:
    request.app[NODE].authenticate(request)
    # 204: no direct-media theme; enough for the SDK, which fetches it on every join.
    return web.Response(status=204)


async def available_layouts(request: web.Request) -> web.Response:
    request.app[NODE].authenticate(request)
    if request.query.get("annotate", "").lower() == "true":
        return ok([{"name": name, "tags": []} for name in LAYOUTS])
    return ok(LAYOUTS)


def add_routes(app: web.Application) -> None:
    r = app.router
    r.add_get(PREFIX + "/conference_status", conference_status, name="conference_status")
    r.add_get(PREFIX + "/participants", participants, name="participants")
    r.add_post(PREFIX + "/lock", lock, name="lock")
    r.add_post(PREFIX + "/unlock", unlock, name="unlock")
    r.add_post(PREFIX + "/start_conference", start_conference, name="start_conference")
    r.add_post(PREFIX + "/muteguests", muteguests, name="muteguests")
    r.add_post(PREFIX + "/unmuteguests", unmuteguests, name="unmuteguests")
    r.add_post(
        PREFIX + "/set_guests_can_unmute", set_guests_can_unmute, name="set_guests_can_unmute"
    )
    r.add_post(PREFIX + "/disconnect", disconnect_all, name="disconnect")
    r.add_post(PREFIX + "/dial", dial, name="dial")
    r.add_post(PREFIX + "/transform_layout", transform_layout, name="transform_layout")
    r.add_post(PREFIX + "/clearallbuzz", clearallbuzz, name="clear_all_buzz")
    r.add_get(PREFIX + "/theme/", theme, name="theme")
    r.add_get(PREFIX + "/available_layouts", available_layouts, name="available_layouts")
