"""Chat: `message` to the whole conference and `participants/<uuid>/message` to one.

Both go out as one `message_received` event, built in one place.
"""

from __future__ import annotations

from aiohttp import web

from ..context import NODE
from ..http import ApiError, ok, parse_body
from . import bodies
from .paths import P_PREFIX, PREFIX

CHAT_DISABLED = "Chat is disabled for this conference"


async def _publish(request: web.Request, *, direct: bool) -> web.Response:
    """A conference message reaches everyone but its sender; a direct one its target."""
    ctx = request.app[NODE]
    auth = ctx.authenticate(request)
    target = ctx.target(auth, request.match_info["participant"]) if direct else None
    body = await parse_body(request, bodies.Message)
    if not auth.conference.service.chat_enabled:
        raise ApiError(403, CHAT_DISABLED)
    sender = auth.participant
    auth.conference.events.publish(
        "message_received",
        {
            "origin": sender.display_name,
            "uuid": sender.uuid,
            "type": body.type,
            "payload": body.payload,
            "direct": direct,
        },
        to=None if target is None else (target.uuid,),
        exclude=() if direct else (sender.uuid,),
    )
    return ok(True)


async def message_conference(request: web.Request) -> web.Response:
    return await _publish(request, direct=False)


async def message_participant(request: web.Request) -> web.Response:
    return await _publish(request, direct=True)


def add_routes(app: web.Application) -> None:
    r = app.router
    r.add_post(PREFIX + "/message", message_conference, name="message_conference")
    r.add_post(P_PREFIX + "/message", message_participant, name="message_participant")
