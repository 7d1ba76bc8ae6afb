"""Route table of the management API.

Status (`/api/admin/status/v1/`): `conference/`, `participant/`,
`participant/<id>/media_stream/`, `worker_vm/`, `system_location/`.
History (`/api/admin/history/v1/`): `conference/`, `participant/`,
`participant/<id>/media_stream/` (v26) and `media_stream/` (later releases).
Each list also answers `<id>/` (single object) and `schema/`; the trailing slash is optional.
Command (`/api/admin/command/v1/`): see `command.COMMANDS`.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from pydantic import BaseModel

from ..context import NODE
from . import command, history, status, tastypie
from .auth import AdminHandler, NotFound, protected
from .history import HistoryView
from .models import (
    ConferenceStatus,
    HistoryConference,
    HistoryMediaStream,
    HistoryParticipant,
    ParticipantStatusDetail,
    SystemLocationStatus,
    WorkerVmStatus,
)
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
        page = tastypie.list_response(resource, objects, request.query, request.path)
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


def _resource(
    app: web.Application,
    name: str,
    resource: tastypie.Resource,
    model: type[BaseModel],
    source: ListSource,
    detail: DetailSource | None = None,
) -> None:
    base = resource.uri.rstrip("/")
    what = base.rsplit("/", 1)[-1]
    r = app.router
    r.add_get(base + "/schema" + SLASH, protected(_schema_handler(resource, model)))
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


def _command_handler(action: command.Command) -> AdminHandler:
    async def handler(request: web.Request) -> web.StreamResponse:
        return command.success(await action(status_view(request), request))

    return handler


def add_routes(app: web.Application) -> None:
    r = app.router
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
    for path, action in command.COMMANDS.items():
        r.add_post(
            f"{command.COMMAND}/{path}" + SLASH,
            protected(_command_handler(action)),
            name="admin_command_" + path.replace("/", "_"),
        )
