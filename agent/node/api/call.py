"""`calls` and the call-level functions under `participants/<uuid>/calls/<call_uuid>/`, and
`presentation.jpeg` (the latest slide of the conference's media, see `media/slides.py`).

A `present: "send"` WebRTC call makes its participant the presenter (as take_floor would,
if it had not been called yet); the end of that call ends the presentation."""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web

from ..context import NODE, Auth, NodeContext, close_call
from ..http import ApiError, ok, parse_body
from ..media import NodePeer, PeerError
from ..state import CallState, ParticipantState, new_uuid
from . import bodies
from .participant import PERMISSION_DENIED
from .paths import C_PREFIX, P_PREFIX, PREFIX

log = logging.getLogger(__name__)

ANSWER_TIMEOUT = 15.0


def _null() -> web.Response:
    return web.json_response({"status": "success", "result": None})


def _own(request: web.Request) -> tuple[NodeContext, Auth, ParticipantState]:
    ctx = request.app[NODE]
    auth = ctx.authenticate(request)
    target = ctx.target(auth, request.match_info["participant"])
    if target is not auth.participant and not auth.is_host:
        raise ApiError(403, PERMISSION_DENIED)
    return ctx, auth, target


def call_of(request: web.Request) -> tuple[NodeContext, Auth, ParticipantState, CallState]:
    ctx, auth, target = _own(request)
    call = target.calls.get(request.match_info["call"])
    if call is None:
        raise ApiError(403, "Call not found")
    return ctx, auth, target, call


async def _answer(ctx: NodeContext, peer: NodePeer, sdp: str) -> str:
    async with ctx.answering:
        return await peer.answer(sdp)


async def calls(request: web.Request) -> web.Response:
    ctx, auth, target = _own(request)
    if target is not auth.participant:
        raise ApiError(403, "Cannot place a call for another participant")
    body = await parse_body(request, bodies.Calls)
    call_uuid = new_uuid()
    if body.call_type == "RTMP":
        target.calls[call_uuid] = CallState(call_uuid, "RTMP", present=body.present)
        target.protocol = "rtmp"
        auth.conference.publish_participant(target, "participant_update")
        host = request.host
        return ok(
            {
                "call_uuid": call_uuid,
                "url": f"rtmp://{host}/live/{call_uuid}",
                "secure_url": f"rtmps://{host}/live/{call_uuid}",
            }
        )
    if not body.sdp:
        raise ApiError(400, "WebRTC call without SDP")
    conference = auth.conference
    if conference.room is not None and target.uuid not in conference.participants:
        # A main-room host enters a breakout room by placing its call there.
        ctx.add_participant(conference, target)
    if body.present == "send" and not target.is_host and not conference.service.guests_can_present:
        raise ApiError(403, "Presentation rejected")
    peer = ctx.new_peer(conference, target.uuid, call_uuid, body.present)
    try:
        answer = await asyncio.wait_for(_answer(ctx, peer, body.sdp), ANSWER_TIMEOUT)
    except PeerError as exc:
        await peer.close()
        raise ApiError(400, str(exc)) from None
    except TimeoutError:
        await peer.close()
        raise ApiError(504, "Timed out creating the answer") from None
    if target.uuid not in auth.conference.participants:
        await peer.close()  # left while the answer was being made
        raise ApiError(403, "Participant has left")
    target.calls[call_uuid] = CallState(
        call_uuid,
        "WEBRTC",
        peer=peer,
        present=body.present,
        fecc_supported=bool(body.fecc_supported),
    )
    target.protocol = "webrtc"
    conference.publish_participant(target, "participant_update")
    if body.present == "send":
        ctx.start_presentation(conference, target)
    return ok({"call_uuid": call_uuid, "sdp": answer})


async def ack(request: web.Request) -> web.Response:
    _ctx, _auth, _target, call = call_of(request)
    body = await parse_body(request, bodies.Ack)
    if body.sdp and not body.offer_ignored and call.peer is not None and call.peer.awaiting_answer:
        # The answer to a server-initiated offer (`new_offer`/`update_sdp`).
        try:
            await asyncio.wait_for(call.peer.apply_answer(body.sdp), ANSWER_TIMEOUT)
        except PeerError as exc:
            raise ApiError(403, str(exc)) from None
    call.acked = True
    if call.peer is not None:
        call.peer.ack()  # media (the mixer's) starts only now
    return ok(True)


async def disconnect(request: web.Request) -> web.Response:
    ctx, auth, target, call = call_of(request)
    target.calls.pop(call.uuid, None)
    target.ended_calls.append(call)  # its final media figures stay for the history
    del target.ended_calls[:-20]
    await close_call(call)
    conference = auth.conference
    conference.publish_participant(target, "participant_update")
    if call.present == "send" and not any(c.present == "send" for c in target.calls.values()):
        ctx.stop_presentation(conference, target)
    if not target.calls:
        room = conference.room
        if room is not None and room.is_shadow(target):
            # A host without a call in a breakout room has left it (its token stays).
            await ctx.remove_participant(conference, target.uuid, None)
        else:
            ctx.media_left(conference)
    return _null()


async def dtmf(request: web.Request) -> web.Response:
    _ctx, _auth, target, _call_state = call_of(request)
    body = await parse_body(request, bodies.Digits)
    target.dtmf.append(body.digits)
    return ok(True)


async def new_candidate(request: web.Request) -> web.Response:
    _ctx, _auth, _target, call = call_of(request)
    body = await parse_body(request, bodies.NewCandidate)
    call.candidates += 1
    if call.peer is not None:
        try:
            await call.peer.add_candidate(body.candidate, body.mid)
        except Exception as exc:
            # A candidate the node cannot use (garbage, unresolvable mDNS name) is dropped,
            # not an error: ICE simply goes on with the others.
            log.info("candidate %r ignored: %s", body.candidate, exc)
    return _null()


async def update(request: web.Request) -> web.Response:
    _ctx, _auth, _target, call = call_of(request)
    body = await parse_body(request, bodies.Update)
    if call.peer is None:
        raise ApiError(403, "Not a WebRTC call")
    if not body.sdp:
        local = call.peer.pc.localDescription
        return ok({"call_uuid": call.uuid, "sdp": local.sdp if local else ""})
    try:
        answer = await asyncio.wait_for(call.peer.update(body.sdp), ANSWER_TIMEOUT)
    except PeerError as exc:
        # update lists no 400; 500 is read by the SDK as a plain failure string.
        raise ApiError(500, str(exc)) from None
    return ok(answer)


async def statistics(request: web.Request) -> web.Response:
    _ctx, _auth, _target, call = call_of(request)
    body = await parse_body(request, bodies.Statistics)
    call.statistics.append(body.model_dump(exclude_none=True))
    del call.statistics[:-20]  # the newest few are enough for inspection
    return _null()


async def presentation_jpeg(request: web.Request) -> web.Response:
    """The latest slide as a JPEG (`?id=<frame id>&token=...`; the id only busts caches)."""
    ctx = request.app[NODE]
    auth = ctx.authenticate(request)
    mixer = ctx.media.existing(auth.conference)
    jpeg = None if mixer is None else await mixer.slide_jpeg()
    if jpeg is None:
        raise ApiError(404, "No presentation")
    return web.Response(body=jpeg, content_type="image/jpeg", headers={"Cache-Control": "no-store"})


def add_routes(app: web.Application) -> None:
    r = app.router
    r.add_get(PREFIX + "/presentation.jpeg", presentation_jpeg, name="presentation_jpeg")
    # One route for both `calls_webrtc_participant` and `calls_rtmp_participant`.
    r.add_post(P_PREFIX + "/calls", calls, name="calls")
    r.add_post(C_PREFIX + "/ack", ack, name="ack")
    r.add_post(C_PREFIX + "/disconnect", disconnect, name="disconnect_call")
    r.add_post(C_PREFIX + "/dtmf", dtmf, name="dtmf")
    r.add_post(C_PREFIX + "/new_candidate", new_candidate, name="new_candidate")
    r.add_post(C_PREFIX + "/update", update, name="update")
    r.add_post(C_PREFIX + "/statistics", statistics, name="statistics")
