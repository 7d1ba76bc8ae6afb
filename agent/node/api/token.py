"""request_token, refresh_token, release_token."""

from __future__ import annotations

from typing import Literal

from aiohttp import web

from agent.infinity.models.token import RefreshTokenResult, RequestTokenResult, Version

from ..context import INVALID_TOKEN, NODE, NodeContext
from ..http import ApiError, ok, parse_body
from ..state import ConferenceState, ParticipantState, new_uuid
from . import bodies
from .paths import PREFIX

INVALID_PIN = "Invalid PIN"
PIN_RETRIES_EXCEEDED = "Participant exceeded PIN entry retries"
EXTENSION_NOT_FOUND = "Conference extension not found"
LIMIT_REACHED = "Participant limit reached"


def _version(ctx: NodeContext) -> dict[str, str]:
    return {"version_id": ctx.config.version_id, "pseudo_version": ctx.config.pseudo_version}


def _forward(
    ctx: NodeContext, reception: ConferenceState, extension: str | None
) -> ConferenceState:
    """Virtual Reception: the first attempt learns an extension is needed, the retry names it."""
    if not extension:
        raise ApiError(
            403,
            {"conference_extension": "required", "conference_extension_type": "standard"},
            status="success",
        )
    alias = reception.service.extensions.get(extension, extension)
    target = ctx.state.by_alias(alias)
    if target is None or target.service.kind == "reception":
        raise ApiError(403, EXTENSION_NOT_FOUND)
    return target


def _role(
    ctx: NodeContext, conference: ConferenceState, pin: str | None, address: str, name: str
) -> Literal["HOST", "GUEST"]:
    service = conference.service
    if not service.pin_protected:
        # No PINs: everyone who joins is a host, as on a real VMR without PINs.
        return "HOST"
    if pin is None:
        raise ApiError(
            403,
            {
                "pin": "required",
                "guest_pin": "required" if service.guest_pin is not None else "none",
                "version": _version(ctx),
            },
            status="success",
        )
    if ctx.pins.locked_out(conference.name, address):
        # Right or wrong, the PIN is not even looked at: no more guesses from there.
        raise ApiError(403, PIN_RETRIES_EXCEEDED)
    pin = pin.strip()
    # The SDK's default PIN is the literal "none": a guest where guests need no PIN.
    no_guest_pin = service.guest_pin is None and service.allow_guests
    role: Literal["HOST", "GUEST"] | None = None
    if pin == service.host_pin:
        role = "HOST"
    elif pin == service.guest_pin or (no_guest_pin and pin.lower() in ("none", "")):
        role = "GUEST"
    if role is not None:
        ctx.pins.succeeded(conference.name, address, name)
        return role
    if ctx.pins.failed(conference.name, address, name):
        raise ApiError(403, PIN_RETRIES_EXCEEDED)
    raise ApiError(403, INVALID_PIN)


async def request_token(request: web.Request) -> web.Response:
    ctx = request.app[NODE]
    conference = ctx.conference(request.match_info["alias"])
    # 415 is the only client-error status the SDK's request_token accepts.
    body = await parse_body(request, bodies.RequestToken, bad_status=415)
    if conference.service.kind == "reception":
        conference = _forward(ctx, conference, body.conference_extension)
    # A one-time token (`refer`, a breakout room's guest token) joins without a PIN, past a
    # lock, possibly into one of the conference's breakout rooms.
    referred = ctx.state.take_refer(conference, body.token)
    if referred is not None:
        conference, role = referred
    else:
        role = _role(
            ctx, conference, request.headers.get("pin"), request.remote or "", body.display_name
        )
    service = conference.service
    if service.participant_limit is not None and (
        len(conference.participants) >= service.participant_limit
    ):
        raise ApiError(403, LIMIT_REACHED)

    base_type: Literal["conference", "lecture", "test_call"] = (
        "lecture"
        if service.kind == "lecture"
        else "test_call"
        if service.kind == "test_call"
        else "conference"
    )
    waiting = role == "GUEST" and (
        (conference.locked and referred is None) or conference.waits_for_host
    )
    participant = ParticipantState(
        uuid=new_uuid(),
        display_name=body.display_name,
        role="chair" if role == "HOST" else "guest",
        service_type="waiting_room" if waiting else base_type,
        call_tag=body.call_tag,
        supports_direct_chat=bool(body.supports_direct_chat),
    )
    lifetime = ctx.faults.config.token_lifetime
    record = ctx.tokens.issue(participant.uuid, conference.name, lifetime)
    ctx.add_participant(conference, participant)
    result = RequestTokenResult(
        token=record.token,
        expires=str(lifetime),
        participant_uuid=participant.uuid,
        version=Version(**_version(ctx)),
        role=role,
        display_name=body.display_name,
        current_service_type="waiting_room" if waiting else base_type,
        service_type=base_type,
        call_type="video",
        conference_name=conference.display_name,
        service_name=conference.main.name,
        call_tag=body.call_tag,
        chat_enabled=service.chat_enabled,
        guests_can_present=service.guests_can_present,
        analytics_enabled=False,
        fecc_enabled=False,
        allow_1080p=True,
        vp9_enabled=False,
        rtmp_enabled=True,
        rtsp_enabled=False,
        trickle_ice_enabled=True,
        direct_media=False,
        breakout_rooms=True,
        use_relay_candidates_only=False,
        client_stats_update_interval=ctx.config.client_stats_update_interval,
        # `stun`/`turn` are left out on purpose: an empty list breaks the web SDK and the
        # node must never point clients at a public server.
    )
    return ok(result.model_dump(mode="json", exclude_none=True))


async def refresh_token(request: web.Request) -> web.Response:
    ctx = request.app[NODE]
    auth = ctx.authenticate(request)
    if ctx.faults.config.refuse_refresh:
        raise ApiError(403, INVALID_TOKEN)
    lifetime = ctx.faults.config.token_lifetime
    new = ctx.tokens.refresh(auth.token, lifetime, ctx.config.token_grace)
    result = RefreshTokenResult(
        token=new.token,
        expires=str(lifetime),
        role="HOST" if auth.is_host else "GUEST",
    )
    return ok(result.model_dump(mode="json", exclude_none=True))


async def release_token(request: web.Request) -> web.Response:
    ctx = request.app[NODE]
    # Accepted after the node already sent `disconnect` (the SDK still releases then).
    auth = ctx.authenticate(request, allow_ended=True)
    live = not auth.token.ended and not auth.token.released
    # A live participant's token must still be valid (not expired) to release it.
    if live and ctx.tokens.valid(auth.token.token) is None:
        raise ApiError(403, INVALID_TOKEN)
    # The body (`{reason}`) is not needed yet and, from a beacon, may be mangled: a bad
    # body must never keep the participant in the room, so it is not parsed.
    ctx.tokens.release(auth.token)
    await ctx.remove_participant(auth.conference, auth.participant.uuid, None)
    return ok(True)


def add_routes(app: web.Application) -> None:
    app.router.add_post(PREFIX + "/request_token", request_token, name="request_token")
    app.router.add_post(PREFIX + "/refresh_token", refresh_token, name="refresh_token")
    app.router.add_post(PREFIX + "/release_token", release_token, name="release_token")
