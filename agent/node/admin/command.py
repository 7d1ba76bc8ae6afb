"""Command resources: `POST /api/admin/command/v1/{participant|conference}/<action>/`.

Bodies are JSON or form-encoded (the document's examples post forms; most clients post
JSON). Success is 202 with `{"status": "success", "data": ...}` (`data.participant_id` for
dial); a command that cannot be carried out is 400 with `{"status": "error", "message"}`.
Every command goes through the same state-changing functions as the client API
(`actions.py`, `NodeContext`), so clients see the same events: a management mute is a
`participant_update`, a lock a `conference_update`.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

from .. import actions
from ..state import ConferenceState, ParticipantState
from .auth import AdminError, CommandError
from .models import (
    CloudNodeCommand,
    CommandResult,
    ConferenceCommand,
    DialCommand,
    ParticipantCommand,
    RoleCommand,
    TransferCommand,
    TransformLayoutCommand,
)
from .status import LOCATION_NAME, StatusView

ModelT = TypeVar("ModelT", bound=BaseModel)
Command = Callable[[StatusView, web.Request], Awaitable[Any]]

COMMAND = "/api/admin/command/v1"
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
PARTICIPANT_DISCONNECT = "API initiated participant disconnect"
CONFERENCE_DISCONNECT = "API initiated conference termination"


async def parse(request: web.Request, model: type[ModelT]) -> ModelT:
    body: Any
    if request.content_type in FORM_TYPES:
        form = await request.post()
        body = {key: value for key, value in form.items() if isinstance(value, str)}
    else:
        raw = await request.read()
        try:
            body = json.loads(raw) if raw.strip() else {}
        except (ValueError, UnicodeDecodeError):
            raise CommandError("Invalid JSON in request body") from None
    if not isinstance(body, dict):
        raise CommandError("Request body must be an object")
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "body"
        raise CommandError(f"Invalid request: {where}: {first['msg']}") from None


def _participant(view: StatusView, participant_id: str) -> tuple[ConferenceState, ParticipantState]:
    found = view.find_participant(participant_id)
    if found is None:
        raise CommandError(f"Participant {participant_id} not found")
    return found


def _conference(view: StatusView, conference_id: str) -> ConferenceState:
    conference = view.find_conference(conference_id)
    if conference is None:
        raise CommandError(f"Conference {conference_id} not found")
    return conference


# -- participant -----------------------------------------------------------------------------


async def dial(view: StatusView, request: web.Request) -> Any:
    body = await parse(request, DialCommand)
    conference = view.ctx.state.by_alias(body.conference_alias)
    if conference is None or conference.service.kind == "reception":
        raise CommandError(f"Conference alias {body.conference_alias} not found")
    if body.node is not None:
        try:
            ipaddress.ip_address(body.node)
        except ValueError:
            raise CommandError("node must be an IP address, not an FQDN") from None
        if body.node != view.node_ip:
            raise CommandError(f"Conferencing Node {body.node} not found")
    elif body.system_location is not None:
        if body.system_location.lower() != LOCATION_NAME.lower():
            raise CommandError(f"System location {body.system_location} not found")
    else:
        raise CommandError("One of node or system_location must be specified")
    participant = view.ctx.dial(
        conference,
        body.destination,
        "HOST" if body.role == "chair" else "GUEST",
        body.protocol,
        body.remote_display_name or body.destination,
    )
    return {"participant_id": participant.uuid, "participant_ids": [participant.uuid]}


async def participant_disconnect(view: StatusView, request: web.Request) -> Any:
    body = await parse(request, ParticipantCommand)
    conference, participant = _participant(view, body.participant_id)
    await view.ctx.remove_participant(conference, participant.uuid, PARTICIPANT_DISCONNECT)
    return None


async def mute(view: StatusView, request: web.Request) -> Any:
    body = await parse(request, ParticipantCommand)
    actions.set_muted(*_participant(view, body.participant_id), True)
    return None


async def unmute(view: StatusView, request: web.Request) -> Any:
    body = await parse(request, ParticipantCommand)
    actions.set_muted(*_participant(view, body.participant_id), False)
    return None


async def participant_unlock(view: StatusView, request: web.Request) -> Any:
    body = await parse(request, ParticipantCommand)
    view.ctx.admit(*_participant(view, body.participant_id))
    return None


async def transfer(view: StatusView, request: web.Request) -> Any:
    body = await parse(request, TransferCommand)
    conference, participant = _participant(view, body.participant_id)
    role: actions.JoinRole = "GUEST" if body.role == "guest" else "HOST"
    if not await actions.transfer(view.ctx, conference, participant, body.conference_alias, role):
        raise CommandError(f"Conference alias {body.conference_alias} not found")
    return None


async def role(view: StatusView, request: web.Request) -> Any:
    body = await parse(request, RoleCommand)
    actions.set_role(*_participant(view, body.participant_id), body.role)
    return None


# -- conference ------------------------------------------------------------------------------


async def conference_disconnect(view: StatusView, request: web.Request) -> Any:
    body = await parse(request, ConferenceCommand)
    await actions.disconnect_all(
        view.ctx, _conference(view, body.conference_id), CONFERENCE_DISCONNECT
    )
    return None


async def lock(view: StatusView, request: web.Request) -> Any:
    body = await parse(request, ConferenceCommand)
    actions.lock(_conference(view, body.conference_id))
    return None


async def conference_unlock(view: StatusView, request: web.Request) -> Any:
    body = await parse(request, ConferenceCommand)
    actions.unlock(view.ctx, _conference(view, body.conference_id))
    return None


async def mute_guests(view: StatusView, request: web.Request) -> Any:
    body = await parse(request, ConferenceCommand)
    actions.set_guests_muted(_conference(view, body.conference_id), True)
    return None


async def unmute_guests(view: StatusView, request: web.Request) -> Any:
    body = await parse(request, ConferenceCommand)
    actions.set_guests_muted(_conference(view, body.conference_id), False)
    return None


async def transform_layout(view: StatusView, request: web.Request) -> Any:
    body = await parse(request, TransformLayoutCommand)
    if not (body.layout or body.host_layout or body.guest_layout):
        raise CommandError("One of layout, host_layout or guest_layout must be given")
    actions.transform_layout(
        _conference(view, body.conference_id), body.layout, body.host_layout, body.guest_layout
    )
    return None


async def start_cloudnode(view: StatusView, request: web.Request) -> Any:
    """The local node has no overflow cloud nodes: the document's answer for an unknown
    `instance_id` (a field error, not `{status, message}`)."""
    await parse(request, CloudNodeCommand)
    raise AdminError(400, {"start_cloudnode": {"instance_id": ["Failed to find the cloud node."]}})


COMMANDS: dict[str, Command] = {
    "participant/dial": dial,
    "participant/disconnect": participant_disconnect,
    "participant/mute": mute,
    "participant/unmute": unmute,
    "participant/unlock": participant_unlock,
    "participant/transfer": transfer,
    "participant/role": role,
    "conference/disconnect": conference_disconnect,
    "conference/lock": lock,
    "conference/unlock": conference_unlock,
    "conference/mute_guests": mute_guests,
    "conference/unmute_guests": unmute_guests,
    "conference/transform_layout": transform_layout,
    "platform/start_cloudnode": start_cloudnode,
}


def success(data: Any) -> web.Response:
    result = CommandResult(status="success", data=data)
    return web.json_response(result.model_dump(mode="json", exclude={"message"}), status=202)
