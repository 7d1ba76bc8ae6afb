"""The node's control API for scripted scenarios, under `/_node/` (not part of Pexip's API).

Tests and users' CI read the node's state (participants, calls, DTMF received, breakout
rooms), inject events into a participant's stream, ask a client to refresh its token, make
the node renegotiate a call (`new_offer` or `update_sdp`, its candidates trickled as
`new_candidate`), play a scripted live-caption feed, and change the fault and media
impairment knobs at run time.

That is power over every participant, so the routes exist only when the control API is
enabled (`pexbot node --control`, or `[control] enabled = true`), and then every request
must carry `Authorization: Bearer <token>` (401 otherwise) and every POST a JSON body
(415 otherwise: a browser page cannot send `application/json` cross-origin without a
preflight, which the node never grants).
"""

from __future__ import annotations

import secrets
from typing import Any, Literal, TypeVar

from aiohttp import hdrs, web
from aiohttp.typedefs import Handler
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .captions import CaptionFeed, run_feed
from .context import NODE, NodeContext
from .http import ApiError, error_response, ok, read_json
from .state import ConferenceState, ParticipantState

ModelT = TypeVar("ModelT", bound=BaseModel)

CONTROL = "/_node"
TOKEN_REQUIRED = "Control API token required: Authorization: Bearer <token>"
JSON_REQUIRED = "Control API requests must be application/json"


class PushEvent(BaseModel):
    model_config = ConfigDict(extra="forbid")

    event: str = Field(min_length=1, max_length=64)
    data: Any = None


class Renegotiate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    #: `new_offer` (escalation) or `update_sdp` (a renegotiation); both answered by `ack`.
    event: Literal["new_offer", "update_sdp"] = "new_offer"
    #: Also trickle the offer's candidates as `new_candidate` events (then end-of-candidates).
    trickle: bool = True


def _model(model: type[ModelT], body: dict[str, Any]) -> ModelT:
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ApiError(400, f"{where}: {first['msg']}" if where else str(first["msg"])) from None


def authorized(request: web.Request, token: str) -> bool:
    scheme, _, given = request.headers.get(hdrs.AUTHORIZATION, "").partition(" ")
    return scheme.lower() == "bearer" and secrets.compare_digest(
        given.strip().encode(), token.encode()
    )


def _guarded(handler: Handler) -> Handler:
    async def wrapped(request: web.Request) -> web.StreamResponse:
        token = request.app[NODE].control_token
        if token is None or not authorized(request, token):
            response = error_response(401, TOKEN_REQUIRED)
            response.headers[hdrs.WWW_AUTHENTICATE] = 'Bearer realm="pexbot node control"'
            return response
        if request.method == "POST" and request.content_type != "application/json":
            raise ApiError(415, JSON_REQUIRED)
        return await handler(request)

    return wrapped


def _participant(
    ctx: NodeContext, participant_uuid: str
) -> tuple[ConferenceState, ParticipantState]:
    conference = ctx.state.find_participant(participant_uuid)
    if conference is None:
        raise ApiError(404, "Participant not found")
    return conference, conference.participants[participant_uuid]


def _conference(ctx: NodeContext, name: str) -> ConferenceState:
    """A conference by service name, or a breakout room by its UUID."""
    conference = ctx.state.conferences.get(name)
    if conference is None:
        rooms = (c.breakouts.get(name) for c in ctx.state.conferences.values())
        conference = next((room for room in rooms if room is not None), None)
    if conference is None:
        raise ApiError(404, "Conference not found")
    return conference


def _describe(participant: ParticipantState) -> dict[str, Any]:
    return {
        "uuid": participant.uuid,
        "display_name": participant.display_name,
        "role": participant.role,
        "service_type": participant.service_type,
        "is_muted": participant.is_muted,
        "is_video_silent": participant.is_video_silent,
        "show_live_captions": participant.show_live_captions,
        "aspect_ratio": participant.aspect_ratio,
        "not_afk_at": participant.not_afk_at,
        "mix": participant.mix_name,
        "dtmf": "".join(participant.dtmf),
        "calls": [
            {
                "call_uuid": call.uuid,
                "call_type": call.call_type,
                "acked": call.acked,
                "candidates": call.candidates,
                "statistics": call.statistics[-1] if call.statistics else None,
                "connection_state": call.peer.connection_state if call.peer else None,
                "ice_state": call.peer.ice_state if call.peer else None,
                "frames_received": dict(call.peer.frames_received) if call.peer else {},
            }
            for call in participant.calls.values()
        ],
    }


async def state(request: web.Request) -> web.Response:
    ctx = request.app[NODE]
    return ok(
        {
            name: {
                "locked": conference.locked,
                "guests_muted": conference.guests_muted,
                "layout": conference.layout,
                "started": conference.started,
                "participants": [_describe(p) for p in conference.participants.values()],
                # A breakout room: its UUID, name and main conference.
                "breakout": None
                if conference.room is None or conference.parent is None
                else {
                    "uuid": conference.room.uuid,
                    "name": conference.room.name,
                    "main": conference.parent.name,
                },
            }
            for name, conference in ctx.state.conferences.items()
        }
    )


async def participant(request: web.Request) -> web.Response:
    ctx = request.app[NODE]
    _conference, found = _participant(ctx, request.match_info["participant"])
    return ok(_describe(found))


async def dtmf(request: web.Request) -> web.Response:
    ctx = request.app[NODE]
    _conference, found = _participant(ctx, request.match_info["participant"])
    return ok({"digits": "".join(found.dtmf), "sequences": list(found.dtmf)})


async def push_event(request: web.Request) -> web.Response:
    """Send any event to one participant's streams (e.g. `refresh_token`)."""
    ctx = request.app[NODE]
    conference, found = _participant(ctx, request.match_info["participant"])
    body = _model(PushEvent, await read_json(request))
    conference.events.publish(body.event, body.data, to=(found.uuid,))
    return ok(True)


async def refresh_token(request: web.Request) -> web.Response:
    """Ask the participant's client to refresh its token now (`refresh_token` event)."""
    ctx = request.app[NODE]
    conference, found = _participant(ctx, request.match_info["participant"])
    conference.events.publish("refresh_token", None, to=(found.uuid,))
    return ok(True)


async def renegotiate(request: web.Request) -> web.Response:
    """Make the node offer first on an existing call: `new_offer {sdp}` (as a node does on
    escalation) or `update_sdp {sdp}` to its participant, the offer's candidates trickled
    as `new_candidate` events; the answer comes back in `ack {sdp}`."""
    ctx = request.app[NODE]
    conference, found = _participant(ctx, request.match_info["participant"])
    body = _model(Renegotiate, await read_json(request))
    call = found.calls.get(request.match_info["call"])
    if call is None or call.peer is None:
        raise ApiError(404, "No such WebRTC call")
    sdp = await call.peer.offer()
    to = (found.uuid,)
    conference.events.publish(body.event, {"sdp": sdp}, to=to)
    if body.trickle:
        mid = "0"
        for line in sdp.splitlines():
            if line.startswith("a=mid:"):
                mid = line.removeprefix("a=mid:").strip()
            elif line.startswith("a=candidate:"):
                candidate = line.removeprefix("a=").strip()
                conference.events.publish(
                    "new_candidate", {"candidate": candidate, "mid": mid}, to=to
                )
        conference.events.publish("new_candidate", {"candidate": "", "mid": mid}, to=to)
    return ok(True)


async def captions(request: web.Request) -> web.Response:
    """Play a scripted caption feed in a conference (or breakout room, by UUID)."""
    ctx = request.app[NODE]
    conference = _conference(ctx, request.match_info["conference"])
    feed = _model(CaptionFeed, await read_json(request))
    if conference.caption_feed is not None:
        conference.caption_feed.cancel()
    conference.caption_feed = ctx.spawn(run_feed(conference, feed), f"captions-{conference.name}")
    return ok(True)


def _invalid(exc: ValidationError) -> ApiError:
    first = exc.errors()[0]
    return ApiError(400, f"{'.'.join(map(str, first['loc']))}: {first['msg']}")


async def get_impairment(request: web.Request) -> web.Response:
    """The impairment settings, the live per-participant overrides and what they did."""
    impairments = request.app[NODE].media.impairments
    return ok(
        {
            **impairments.config.model_dump(mode="json"),
            "overrides": {u: o.model_dump(mode="json") for u, o in impairments.overrides.items()},
            "counters": impairments.counters(),
        }
    )


async def set_impairment(request: web.Request) -> web.Response:
    """Merge posted `[media.impairment]` settings (`all`, `participants`, `seed`) into the
    live ones; `{"reset": true}` restores the configured settings."""
    impairments = request.app[NODE].media.impairments
    try:
        config = impairments.update(await read_json(request))
    except ValidationError as exc:
        raise _invalid(exc) from None
    return ok(config.model_dump(mode="json"))


async def set_participant_impairment(request: web.Request) -> web.Response:
    """`{"rx": {...}, "tx": {...}}` for one participant's calls, now and later;
    `{"reset": true}` removes the override (the configured settings apply again)."""
    ctx = request.app[NODE]
    _conference, found = _participant(ctx, request.match_info["participant"])
    body = await read_json(request)
    try:
        ctx.media.impairments.set_participant(found.uuid, None if body.get("reset") else body)
    except ValidationError as exc:
        raise _invalid(exc) from None
    override = ctx.media.impairments.overrides.get(found.uuid)
    return ok(None if override is None else override.model_dump(mode="json"))


async def get_faults(request: web.Request) -> web.Response:
    return ok(request.app[NODE].faults.config.model_dump(mode="json"))


async def set_faults(request: web.Request) -> web.Response:
    """Merge the posted settings into the live fault knobs; `{"reset": true}` restores the
    configured ones."""
    ctx = request.app[NODE]
    patch = await read_json(request)
    if patch.pop("reset", False):
        ctx.faults.reset(ctx.config.faults)
    try:
        config = ctx.faults.update(patch)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise ApiError(400, f"{'.'.join(map(str, first['loc']))}: {first['msg']}") from None
    return ok(config.model_dump(mode="json"))


def add_routes(app: web.Application) -> None:
    """The control routes, when the node's control API is enabled (none otherwise)."""
    if app[NODE].control_token is None:
        return
    r = app.router
    p = CONTROL + "/participants/{participant}"
    r.add_get(CONTROL + "/state", _guarded(state))
    r.add_get(p, _guarded(participant))
    r.add_get(p + "/dtmf", _guarded(dtmf))
    r.add_post(p + "/events", _guarded(push_event))
    r.add_post(p + "/refresh_token", _guarded(refresh_token))
    r.add_post(CONTROL + "/conferences/{conference}/captions", _guarded(captions))
    r.add_post(p + "/calls/{call}/renegotiate", _guarded(renegotiate))
    r.add_post(p + "/impairment", _guarded(set_participant_impairment))
    r.add_get(CONTROL + "/impairment", _guarded(get_impairment))
    r.add_post(CONTROL + "/impairment", _guarded(set_impairment))
    r.add_get(CONTROL + "/faults", _guarded(get_faults))
    r.add_post(CONTROL + "/faults", _guarded(set_faults))
