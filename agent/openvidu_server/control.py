"""The control API under `/_openvidu/` (not part of OpenVidu): script load, sessions,
crashes and faults from tests and CI, and inspect what the server did."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .cluster import ClusterError
from .routes import CONTROL_PREFIX, json_body, node_json
from .state import STATE


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LoadBody(_Strict):
    load: float = Field(ge=0, le=100)


class SessionBody(_Strict):
    session_id: str = Field(alias="sessionId", min_length=1)


class FaultsBody(_Strict):
    fail_next_launch: bool | None = None
    fail_next_termination: bool | None = None
    unreachable_uris: list[str] | None = None


def _model(model: type[BaseModel], data: Any) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "(body)"
        raise ClusterError(400, f"{where}: {err['msg']}") from None


async def state(request: web.Request) -> web.Response:
    s = request.app[STATE]
    faults = s.cluster.faults
    return web.json_response(
        {
            "nodes": [node_json(n, modern=True, sessions=True) for n in s.cluster.nodes.values()],
            "faults": {
                "fail_next_launch": faults.fail_next_launch,
                "fail_next_termination": faults.fail_next_termination,
                "unreachable_uris": sorted(faults.unreachable_uris),
            },
            "webhooks": {"delivered": s.webhooks.delivered, "failed": s.webhooks.failed},
            "restarts": s.restarts,
        }
    )


async def events(request: web.Request) -> web.Response:
    return web.json_response(list(request.app[STATE].webhooks.emitted))


async def set_load(request: web.Request) -> web.Response:
    body: LoadBody = _model(LoadBody, await json_body(request))
    request.app[STATE].cluster.set_load(request.match_info["node_id"], body.load)
    return web.Response(status=204)


async def add_session(request: web.Request) -> web.Response:
    body: SessionBody = _model(SessionBody, await json_body(request))
    request.app[STATE].cluster.add_session(request.match_info["node_id"], body.session_id)
    return web.Response(status=201)


async def close_session(request: web.Request) -> web.Response:
    reason = request.query.get("reason", "lastParticipantLeft")
    info = request.match_info
    request.app[STATE].cluster.close_session(info["node_id"], info["session_id"], reason)
    return web.Response(status=204)


async def crash(request: web.Request) -> web.Response:
    request.app[STATE].cluster.crash(request.match_info["node_id"])
    return web.Response(status=204)


async def recover(request: web.Request) -> web.Response:
    request.app[STATE].cluster.recover(request.match_info["node_id"])
    return web.Response(status=204)


async def faults(request: web.Request) -> web.Response:
    body: FaultsBody = _model(FaultsBody, await json_body(request))
    f = request.app[STATE].cluster.faults
    if body.fail_next_launch is not None:
        f.fail_next_launch = body.fail_next_launch
    if body.fail_next_termination is not None:
        f.fail_next_termination = body.fail_next_termination
    if body.unreachable_uris is not None:
        f.unreachable_uris = set(body.unreachable_uris)
    return web.Response(status=204)


def add_routes(app: web.Application) -> None:
    p = CONTROL_PREFIX
    node = f"{p}media-nodes/{{node_id}}"
    app.router.add_get(f"{p}state", state)
    app.router.add_get(f"{p}events", events)
    app.router.add_post(f"{node}/load", set_load)
    app.router.add_post(f"{node}/sessions", add_session)
    app.router.add_delete(f"{node}/sessions/{{session_id}}", close_session)
    app.router.add_post(f"{node}/crash", crash)
    app.router.add_post(f"{node}/recover", recover)
    app.router.add_post(f"{p}faults", faults)
