"""Route table of the management API.

Status (`/api/admin/status/v1/`): `conference/`, `participant/`,
`participant/<id>/media_stream/`, `worker_vm/`, `system_location/`.
History (`/api/admin/history/v1/`): `conference/`, `participant/`,
`participant/<id>/media_stream/` (v26) and `media_stream/` (later releases).
Each list also answers `<id>/` (single object) and `schema/`; the trailing slash is optional.
Status also has `alarm/` and the load statistics `worker_vm/<id>/statistics/`,
`system_location/<id>/statistics/`. Configuration, read only (`/api/admin/configuration/v1/`):
`conference/`, `conference_alias/`, `system_location/`.
Command (`/api/admin/command/v1/`): see `command.COMMANDS`.
OAuth2: `POST /oauth/token/` (see `oauth.py`). Any other `/api/admin/...` path is a 404.
"""

from __future__ import annotations

import asyncio
import types
import typing
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from pydantic import BaseModel

from ..context import NODE
from . import command, configuration, history, status, tastypie
from .admin_state import ADMIN, AdminState
from .auth import AdminHandler, NotFound, protected
from .configuration import ConfigurationView
from .history import HistoryView
from .models import (
    AlarmStatus,
    ConferenceStatus,
    HistoryConference,
    HistoryMediaStream,
    HistoryParticipant,
    ParticipantStatusDetail,
    SystemLocationStatus,
    WorkerVmStatus,
)
from .oauth import TOKEN_PATH, OAuthError, OAuthTokens
from .sink import SinkEmitter
from .status import StatusView

Objects = list[dict[str, Any]]
ListSource = Callable[[web.Request], Awaitable[Objects | None]]
DetailSource = Callable[[web.Request, str], Awaitable[dict[str, Any] | None]]

SLASH = "{slash:/?}"


def node_ip(request: web.Request) -> str:
    """The address the request came in on: the node's own IP, as a real node reports it."""
    sockname = request.transport.get_extra_info("sockname") if request.transport else None
    if isinstance(sockname, tuple) and sockname:
        return str(sockname[0])
    return request.url.host or "127.0.0.1"


def status_view(request: web.Request) -> StatusView:
    return StatusView(request.app[NODE], node_ip(request))


def history_view(request: web.Request) -> HistoryView:
    return HistoryView(request.app[NODE], node_ip(request))


def _list_handler(resource: tastypie.Resource, source: ListSource, what: str) -> AdminHandler:
    async def handler(request: web.Request) -> web.StreamResponse:
        objects = await source(request)
        if objects is None:
            raise NotFound(what)
        args = (resource, objects, request.query, request.path)
        if tastypie.has_regex(request.query):
            # Bounded (tastypie.REGEX_BUDGET) and off the event loop.
            page = await asyncio.to_thread(tastypie.list_response, *args)
        else:
            page = tastypie.list_response(*args)
        return web.json_response(page.model_dump(mode="json"))

    return handler


def _detail_handler(source: DetailSource, what: str) -> AdminHandler:
    async def handler(request: web.Request) -> web.StreamResponse:
        found = await source(request, request.match_info["id"])
        if found is None:
            raise NotFound(what)
        return web.json_response(found)

    return handler


def _from_list(source: ListSource) -> DetailSource:
    async def detail(request: web.Request, object_id: str) -> dict[str, Any] | None:
        for obj in await source(request) or []:
            if str(obj.get("id")) == object_id:
                return obj
        return None

    return detail


def _type_name(annotation: Any) -> str:
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if isinstance(annotation, types.UnionType) and args:
        return _type_name(args[0])
    origin = typing.get_origin(annotation)
    if origin is list:
        return "related" if "History" in str(annotation) else "list"
    if origin is typing.Literal:
        return "string"
    return {bool: "boolean", int: "integer", float: "float"}.get(annotation, "string")


def _schema_handler(resource: tastypie.Resource, model: type[BaseModel]) -> AdminHandler:
    types_ = {name: _type_name(f.annotation) for name, f in model.model_fields.items()}

    async def handler(request: web.Request) -> web.StreamResponse:
        return web.json_response(resource.schema(types_))

    return handler


def _plain_schema(resource: tastypie.Resource) -> AdminHandler:
    async def handler(request: web.Request) -> web.StreamResponse:
        return web.json_response(resource.schema({}))

    return handler


def _resource(
    app: web.Application,
    name: str,
    resource: tastypie.Resource,
    model: type[BaseModel] | None,
    source: ListSource,
    detail: DetailSource | None = None,
) -> None:
    base = resource.uri.rstrip("/")
    what = base.rsplit("/", 1)[-1]
    r = app.router
    schema = _plain_schema(resource) if model is None else _schema_handler(resource, model)
    r.add_get(base + "/schema" + SLASH, protected(schema))
    r.add_get(base + SLASH, protected(_list_handler(resource, source, what)), name=name)
    r.add_get(
        base + "/{id:[^/]+}" + SLASH,
        protected(_detail_handler(detail or _from_list(source), what)),
        name=name + "_detail",
    )


# -- sources ---------------------------------------------------------------------------------


async def _status_conferences(request: web.Request) -> Objects:
    return status_view(request).conferences()


async def _status_participants(request: web.Request) -> Objects:
    return await status_view(request).participants()


async def _status_participant(request: web.Request, participant_id: str) -> dict[str, Any] | None:
    return await status_view(request).participant_detail(participant_id)


async def _status_media_streams(request: web.Request) -> Objects | None:
    return await status_view(request).media_streams(request.match_info["participant"])


async def _worker_vms(request: web.Request) -> Objects:
    return status_view(request).worker_vms()


async def _system_locations(request: web.Request) -> Objects:
    return status_view(request).system_locations()


async def _history_conferences(request: web.Request) -> Objects:
    return history_view(request).conferences()


async def _history_participants(request: web.Request) -> Objects:
    return history_view(request).participants()


async def _history_participant_streams(request: web.Request) -> Objects | None:
    return history_view(request).media_streams(request.match_info["participant"])


async def _history_media_streams(request: web.Request) -> Objects | None:
    return history_view(request).media_streams()


async def _alarms(request: web.Request) -> Objects:
    return status_view(request).alarms(request.app[ADMIN].alarms.raised)


async def _config_conferences(request: web.Request) -> Objects:
    return ConfigurationView(request.app[NODE]).conferences()


async def _config_aliases(request: web.Request) -> Objects:
    return ConfigurationView(request.app[NODE]).aliases()


async def _config_locations(request: web.Request) -> Objects:
    return ConfigurationView(request.app[NODE]).system_locations()


def _statistics_handler(kind: str) -> AdminHandler:
    async def handler(request: web.Request) -> web.StreamResponse:
        found = status_view(request).statistics(kind, request.match_info["id"])
        if found is None:
            raise NotFound(kind)
        return web.json_response(found)

    return handler


async def _oauth_token(request: web.Request) -> web.StreamResponse:
    ctx = request.app[NODE]
    clients = ctx.config.management.oauth2_clients
    try:
        if not clients:
            raise OAuthError("unauthorized_client", "OAuth2 is not enabled on this node", 400)
        if request.content_length is not None and request.content_length > 16384:
            raise OAuthError("invalid_request", "request too large")
        form = await request.post()
        fields = {k: v for k, v in form.items() if isinstance(v, str)}
        # The audience is this token URL as the client reached it.
        audience = str(request.url.with_query(None))
        answer = request.app[ADMIN].oauth.grant(clients, fields, audience)
    except OAuthError as exc:
        return exc.response()
    return web.json_response(answer, headers={"Cache-Control": "no-store"})


async def _unknown(request: web.Request) -> web.StreamResponse:
    return web.json_response({"error": f"No resource at {request.path}"}, status=404)


def _command_handler(action: command.Command) -> AdminHandler:
    async def handler(request: web.Request) -> web.StreamResponse:
        return command.success(await action(status_view(request), request))

    return handler


def add_routes(app: web.Application) -> None:
    ctx = app[NODE]
    app[ADMIN] = AdminState(oauth=OAuthTokens(ctx.config.management.oauth2_token_lifetime))
    r = app.router
    r.add_post(TOKEN_PATH, _oauth_token, name="admin_oauth_token")
    for kind in ("worker_vm", "system_location"):
        r.add_get(
            f"{status.STATUS}/{kind}/{{id:[^/]+}}/statistics" + SLASH,
            protected(_statistics_handler(kind)),
            name=f"admin_status_{kind}_statistics",
        )
    # Nested media streams first: `participant/{id}/` must not swallow them.
    r.add_get(
        status.STATUS + "/participant/{participant}/media_stream" + SLASH,
        protected(_list_handler(status.MEDIA_STREAM, _status_media_streams, "participant")),
        name="admin_status_media_stream",
    )
    r.add_get(
        history.HISTORY + "/participant/{participant}/media_stream" + SLASH,
        protected(_list_handler(history.MEDIA_STREAM, _history_participant_streams, "participant")),
        name="admin_history_participant_media_stream",
    )
    _resource(
        app, "admin_status_conference", status.CONFERENCE, ConferenceStatus, _status_conferences
    )
    _resource(
        app,
        "admin_status_participant",
        status.PARTICIPANT,
        ParticipantStatusDetail,
        _status_participants,
        _status_participant,
    )
    _resource(app, "admin_status_worker_vm", status.WORKER_VM, WorkerVmStatus, _worker_vms)
    _resource(
        app,
        "admin_status_system_location",
        status.SYSTEM_LOCATION,
        SystemLocationStatus,
        _system_locations,
    )
    _resource(
        app,
        "admin_history_conference",
        history.CONFERENCE,
        HistoryConference,
        _history_conferences,
    )
    _resource(
        app,
        "admin_history_participant",
        history.PARTICIPANT,
        HistoryParticipant,
        _history_participants,
    )
    _resource(
        app,
        "admin_history_media_stream",
        history.MEDIA_STREAM,
        HistoryMediaStream,
        _history_media_streams,
    )
    _resource(app, "admin_status_alarm", status.ALARM, AlarmStatus, _alarms)
    _resource(
        app,
        "admin_configuration_conference",
        configuration.CONFERENCE,
        None,
        _config_conferences,
    )
    _resource(
        app,
        "admin_configuration_conference_alias",
        configuration.CONFERENCE_ALIAS,
        None,
        _config_aliases,
    )
    _resource(
        app,
        "admin_configuration_system_location",
        configuration.SYSTEM_LOCATION,
        None,
        _config_locations,
    )
    for path, action in command.COMMANDS.items():
        r.add_post(
            f"{command.COMMAND}/{path}" + SLASH,
            protected(_command_handler(action)),
            name="admin_command_" + path.replace("/", "_"),
        )
    # Last: whatever else is under /api/admin/ is not a resource (Tastypie answers 404).
    r.add_get("/api/admin/{tail:.*}", _unknown, name="admin_unknown")


def start_event_sinks(app: web.Application, node_address: str) -> None:
    """Start one emitter per configured event sink (`[[management.event_sinks]]`); their
    tasks belong to the node context and end with it."""
    ctx = app[NODE]
    admin = app[ADMIN]
    for config in ctx.config.management.event_sinks:
        emitter = SinkEmitter(ctx, config, node_address, admin.alarms)
        admin.sinks.append(emitter)
        emitter.start()
