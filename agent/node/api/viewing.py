"""What a participant sees and shows: the presentation in its mix (`pres_in_mix`), live
captions (`show_live_captions` / `hide_live_captions`), the layout shape it prefers
(`preferred_aspect_ratio`), `notify_not_afk`, and its avatar (`avatar.jpg`)."""

from __future__ import annotations

import asyncio
import colorsys
import fractions
import hashlib
import time

import av
import numpy as np
from aiohttp import web

from ..context import NODE
from ..http import ApiError, ok, parse_body
from . import bodies
from .participant import acting_on
from .paths import P_PREFIX

NO_IMAGE = "No image available"
AVATAR_SIZE = 96


def _null() -> web.Response:
    return web.json_response({"status": "success", "result": None})


async def pres_in_mix(request: web.Request) -> web.Response:
    _ctx, auth, target = acting_on(request, self_allowed=True)
    body = await parse_body(request, bodies.PresInMix)
    if target.needs_presentation_in_mix != body.state:
        target.needs_presentation_in_mix = body.state
        auth.conference.publish_participant(target, "participant_update")
    return ok(True)


async def _captions(request: web.Request, show: bool) -> web.Response:
    """From now on `live_captions` events reach the participant (or no longer)."""
    _ctx, _auth, target = acting_on(request, self_allowed=True)
    target.show_live_captions = show
    return _null()


async def show_live_captions(request: web.Request) -> web.Response:
    return await _captions(request, True)


async def hide_live_captions(request: web.Request) -> web.Response:
    return await _captions(request, False)


async def preferred_aspect_ratio(request: web.Request) -> web.Response:
    _ctx, _auth, target = acting_on(request, self_allowed=True)
    body = await parse_body(request, bodies.PreferredAspectRatio)
    target.aspect_ratio = body.aspect_ratio
    return ok(True)


async def notify_not_afk(request: web.Request) -> web.Response:
    _ctx, _auth, target = acting_on(request, self_allowed=True)
    target.not_afk_at = time.time()
    return ok(True)


def avatar_jpeg(seed: str, size: int = AVATAR_SIZE) -> bytes:
    """A square JPEG in a colour of its own for `seed` (blocking: run it in a thread)."""
    hue = hashlib.sha256(seed.encode()).digest()[0] / 255
    rgb = np.array([round(c * 255) for c in colorsys.hsv_to_rgb(hue, 0.55, 0.8)], np.uint8)
    frame = av.VideoFrame.from_ndarray(np.tile(rgb, (size, size, 1)), format="rgb24")
    codec = av.CodecContext.create("mjpeg", "w")
    codec.width = codec.height = size
    codec.pix_fmt = "yuvj420p"
    codec.time_base = fractions.Fraction(1, 1)
    image = frame.reformat(format="yuvj420p")
    image.pts = 0
    return b"".join(bytes(p) for p in [*codec.encode(image), *codec.encode(None)])


async def avatar(request: web.Request) -> web.Response:
    """Client-API participants have an avatar (a colour of their own); dialled ones have no
    directory entry: 404 `No image available`, as a node without one answers."""
    ctx = request.app[NODE]
    auth = ctx.authenticate(request)
    target = ctx.target(auth, request.match_info["participant"])
    if target.dialled:
        raise ApiError(404, NO_IMAGE)
    jpeg = await asyncio.to_thread(avatar_jpeg, target.uuid)
    return web.Response(body=jpeg, content_type="image/jpeg")


def add_routes(app: web.Application) -> None:
    r = app.router
    r.add_post(P_PREFIX + "/pres_in_mix", pres_in_mix, name="pres_in_mix_participant")
    r.add_post(P_PREFIX + "/show_live_captions", show_live_captions, name="show_live_captions")
    r.add_post(P_PREFIX + "/hide_live_captions", hide_live_captions, name="hide_live_captions")
    r.add_post(
        P_PREFIX + "/preferred_aspect_ratio", preferred_aspect_ratio, name="preferred_aspect_ratio"
    )
    r.add_post(P_PREFIX + "/notify_not_afk", notify_not_afk, name="notify_not_a_f_k")
    r.add_get(P_PREFIX + "/avatar.jpg", avatar, name="avatar.jpg_participant")
