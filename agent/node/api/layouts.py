"""Layout functions beyond `transform_layout`: previews (`layout_svgs`), personal video
mixes (`video_mixes/...`) and silent-video detection (the mixer applies it)."""

from __future__ import annotations

import time

from aiohttp import web

from ..context import NODE, Auth
from ..http import ok, parse_body
from ..layouts import LAYOUTS, layout_svg
from ..state import MAIN_MIX
from . import bodies
from .paths import PREFIX


async def layout_svgs(request: web.Request) -> web.Response:
    request.app[NODE].authenticate(request)
    return ok({name: layout_svg(name) for name in LAYOUTS})


async def silent_video_detection(request: web.Request) -> web.Response:
    """Configure it (host); the mixer drops silent video from the mix from the next check."""
    ctx = request.app[NODE]
    auth = ctx.authenticate(request)
    ctx.require_host(auth)
    config = (await parse_body(request, bodies.SilentVideoDetection)).config
    current = auth.conference.silent_video
    for name in ("enable", "silent_after", "reactivate_after", "require_no_faces"):
        value = getattr(config, name)
        if value is not None:
            setattr(current, name, value)
    return ok(True)


def _mix_changed(auth: Auth, mix_name: str, layout: str | None, *, create: bool) -> bool:
    """Point the caller at its mix `mix_name` (create) or change the layout of whoever
    receives it; False when no one does (an unknown mix)."""
    conference, me = auth.conference, auth.participant
    if create:
        me.mix_name, me.mix_layout, me.mix_since = mix_name, None, time.time()
        conference.publish_participant(me, "participant_update")
        return True
    receivers = [p for p in conference.participants.values() if p.mix_name == mix_name]
    for participant in receivers:
        participant.mix_layout = layout
        conference.publish_participant(participant, "participant_update")
    return bool(receivers)


async def video_mixes_create(request: web.Request) -> web.Response:
    """A personal mix the caller receives from now on (Pexip's SDK: `main.!personal`)."""
    auth = request.app[NODE].authenticate(request)
    body = await parse_body(request, bodies.VideoMixCreate)
    return ok(_mix_changed(auth, body.mix_name, None, create=True))


async def video_mixes_configure(request: web.Request) -> web.Response:
    auth = request.app[NODE].authenticate(request)
    body = await parse_body(request, bodies.VideoMixConfigure)
    layout = body.transform_layout.layout
    if layout is not None and layout not in LAYOUTS:
        return ok(False)
    return ok(_mix_changed(auth, request.match_info["mix"], layout, create=False))


async def video_mixes_delete(request: web.Request) -> web.Response:
    """Whoever received the mix goes back to the main mix."""
    auth = request.app[NODE].authenticate(request)
    mix_name = request.match_info["mix"]
    conference = auth.conference
    receivers = [p for p in conference.participants.values() if p.mix_name == mix_name]
    if mix_name == MAIN_MIX or not receivers:
        return ok(False)
    for participant in receivers:
        participant.mix_name, participant.mix_layout = MAIN_MIX, None
        participant.mix_since = time.time()
        conference.publish_participant(participant, "participant_update")
    return ok(True)


def add_routes(app: web.Application) -> None:
    r = app.router
    r.add_get(PREFIX + "/layout_svgs", layout_svgs, name="layout_svgs")
    r.add_post(
        PREFIX + "/silent_video_detection", silent_video_detection, name="silent_video_detection"
    )
    r.add_post(PREFIX + "/video_mixes/create", video_mixes_create, name="video_mixes_create")
    r.add_post(
        PREFIX + "/video_mixes/{mix}/configure",
        video_mixes_configure,
        name="video_mixes_configure",
    )
    r.add_post(PREFIX + "/video_mixes/{mix}/delete", video_mixes_delete, name="video_mixes_delete")
