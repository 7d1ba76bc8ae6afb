"""Far-end camera control: `participants/<uuid>/fecc` (aimed at a `target`) and the
call-level `calls/<call>/fecc` (aimed at the far end: the participant the caller sees).

The node has no cameras: it forwards the request to the target's client as a `fecc`
event, as a node forwards it to a FECC-capable endpoint.
"""

from __future__ import annotations

from aiohttp import web

from ..context import Auth, NodeContext
from ..http import ApiError, ok, parse_body
from ..state import ParticipantState
from . import bodies
from .call import call_of
from .participant import acting_on
from .paths import C_PREFIX, P_PREFIX

NO_FAR_END = "No far end to control"


def _forward(auth: Auth, target: ParticipantState, body: bodies.FeccCall) -> None:
    auth.conference.events.publish(
        "fecc",
        {
            "action": body.action,
            "movement": [m.model_dump() for m in body.movement],
            "timeout": body.timeout,
            "target": target.uuid,
        },
        to=(target.uuid,),
    )


async def fecc_participant(request: web.Request) -> web.Response:
    ctx, auth, _sender = acting_on(request, self_allowed=True)
    body = await parse_body(request, bodies.FeccParticipant)
    _forward(auth, ctx.target(auth, body.target), body)
    return ok(True)


def _far_end(ctx: NodeContext, auth: Auth, sender: ParticipantState) -> ParticipantState:
    """The one other participant (a two-party or gateway call), else whom `sender` sees."""
    others = [p for p in auth.conference.participants.values() if p is not sender]
    if len(others) == 1:
        return others[0]
    mixer = ctx.media.existing(auth.conference)
    shown = None if mixer is None else mixer.video_source(sender.uuid)
    target = None if shown is None else auth.conference.participants.get(shown.participant_uuid)
    if target is None:
        raise ApiError(403, NO_FAR_END)
    return target


async def fecc_call(request: web.Request) -> web.Response:
    ctx, auth, sender, _call = call_of(request)
    body = await parse_body(request, bodies.FeccCall)
    _forward(auth, _far_end(ctx, auth, sender), body)
    return ok(True)


def add_routes(app: web.Application) -> None:
    app.router.add_post(P_PREFIX + "/fecc", fecc_participant, name="fecc_participant")
    app.router.add_post(C_PREFIX + "/fecc", fecc_call, name="fecc")
