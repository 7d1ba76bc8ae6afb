"""The OpenVidu Pro REST routes, mounted per path profile.

The same handlers serve `/openvidu/api/...` (2.16+: node objects gain `object`,
`launchingTime`, and `recordingIds`/`broadcasts` with `recordings=true`) and `/pro/...`
(2.13-2.15 shapes). Every path answers with and without a trailing slash (the seed writes
`/pro/restart/`). Errors are Spring-style `{timestamp, status, error, message, path}`.
"""

from __future__ import annotations

import base64
import binascii
import json
import secrets
from collections.abc import Awaitable, Callable
from http import HTTPStatus
from typing import Any

from aiohttp import hdrs, web
from aiohttp.typedefs import Handler

from .cluster import ClusterError, Node, now_ms
from .state import STATE, parse_restart_body

Route = Callable[[web.Request], Awaitable[web.StreamResponse]]

CONTROL_PREFIX = "/_openvidu/"
MODERN = "/openvidu/api"
LEGACY = "/pro"


def error_response(status: int, message: str, path: str) -> web.Response:
    body = {
        "timestamp": now_ms(),
        "status": status,
        "error": HTTPStatus(status).phrase,
        "message": message,
        "path": path,
    }
    return web.json_response(body, status=status)


def _authorized(request: web.Request, secret: str) -> bool:
    scheme, _, encoded = request.headers.get(hdrs.AUTHORIZATION, "").strip().partition(" ")
    if scheme.lower() != "basic":
        return False
    try:
        user, _, password = base64.b64decode(encoded, validate=True).decode().partition(":")
    except (binascii.Error, ValueError):
        return False
    return user == "OPENVIDUAPP" and secrets.compare_digest(password.encode(), secret.encode())


@web.middleware
async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Basic auth on the REST API (not on the control API), and errors as JSON."""
    state = request.app[STATE]
    if not request.path.startswith(CONTROL_PREFIX) and not _authorized(request, state.secret):
        return web.Response(status=401, headers={hdrs.WWW_AUTHENTICATE: 'Basic realm="OpenVidu"'})
    try:
        return await handler(request)
    except ClusterError as exc:
        return error_response(exc.status, exc.message, request.path)


def flag(request: web.Request, name: str) -> bool:
    value = request.query.get(name)
    if value is None:
        return False
    if value.lower() not in ("true", "false"):
        raise ClusterError(400, f"query parameter {name} must be true or false")
    return value.lower() == "true"


async def json_body(request: web.Request) -> Any:
    raw = await request.read()
    if not raw.strip():
        return {}
    try:
        return json.loads(raw)
    except ValueError:
        raise ClusterError(400, "body is not valid JSON") from None


def _session_json(node: Node, session_id: str, created_at: int, modern: bool) -> dict[str, Any]:
    data: dict[str, Any] = {
        "sessionId": session_id,
        "createdAt": created_at,
        "mediaNodeId": node.id,
        "recording": False,
        "connections": {"numberOfElements": 0, "content": []},
    }
    if modern:
        data = {"id": session_id, "object": "session", **data}
    return data


def node_json(
    node: Node,
    *,
    modern: bool,
    sessions: bool = False,
    extra_info: bool = False,
    recordings: bool = False,
) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": node.id,
        "environmentId": node.environment_id,
        "ip": node.ip,
        "uri": node.uri,
        "connected": node.connected,
        "connectionTime": node.connection_time,
        "load": node.load,
        "status": node.status,
    }
    if modern:
        data = {"object": "mediaNode", **data, "launchingTime": node.launching_time}
    if not node.connected and node.disconnection_time is not None:
        data["disconnectionTime"] = node.disconnection_time
    if sessions:
        data["sessions"] = [
            _session_json(node, s.id, s.created_at, modern) for s in node.sessions.values()
        ]
    if extra_info:
        data["kurentoInfo"] = {"version": "6.18.0", "modules": [{"name": "core"}]}
    if modern and recordings:
        data["recordingIds"] = []
        data["broadcasts"] = []
    return data


def _listing(nodes: list[Node], modern: bool, request: web.Request | None) -> dict[str, Any]:
    opts: dict[str, bool] = {}
    if request is not None:
        opts = {
            "sessions": flag(request, "sessions"),
            "extra_info": flag(request, "extra-info"),
            "recordings": flag(request, "recordings"),
        }
    return {
        "numberOfElements": len(nodes),
        "content": [node_json(n, modern=modern, **opts) for n in nodes],
    }


def _handlers(modern: bool) -> dict[str, Route]:
    async def list_nodes(request: web.Request) -> web.Response:
        nodes = list(request.app[STATE].cluster.nodes.values())
        return web.json_response(_listing(nodes, modern, request))

    async def get_node(request: web.Request) -> web.Response:
        node = request.app[STATE].cluster.get(request.match_info["node_id"])
        return web.json_response(
            node_json(
                node,
                modern=modern,
                sessions=flag(request, "sessions"),
                extra_info=flag(request, "extra-info"),
                recordings=flag(request, "recordings"),
            )
        )

    async def add_node(request: web.Request) -> web.Response:
        body = await json_body(request)
        if not isinstance(body, dict):
            raise ClusterError(400, "body must be a JSON object")
        uri = body.get("uri")
        if uri is not None and not isinstance(uri, str):
            raise ClusterError(400, "uri must be a string")
        node = await request.app[STATE].cluster.add(uri, wait=flag(request, "wait"))
        return web.json_response(node_json(node, modern=modern))

    async def autodiscover(request: web.Request) -> web.Response:
        found = request.app[STATE].cluster.autodiscover()
        return web.json_response(_listing(found, modern, None))

    async def remove_node(request: web.Request) -> web.Response:
        strategy = request.query.get("deletion-strategy", "if-no-sessions")
        status = await request.app[STATE].cluster.remove(
            request.match_info["node_id"], strategy, wait=flag(request, "wait")
        )
        return web.Response(status=status)

    async def patch_node(request: web.Request) -> web.Response:
        body = await json_body(request)
        if not isinstance(body, dict) or "status" not in body:
            raise ClusterError(400, "body must be a JSON object with a status")
        node = request.app[STATE].cluster.patch(request.match_info["node_id"], body["status"])
        if node is None:
            return web.Response(status=204)
        return web.json_response(node_json(node, modern=modern))

    async def config(request: web.Request) -> web.Response:
        return web.json_response(request.app[STATE].properties)

    async def restart(request: web.Request) -> web.Response:
        body = parse_restart_body(await request.read())
        request.app[STATE].restart(body)
        return web.Response(status=200)

    return {
        "list": list_nodes,
        "get": get_node,
        "add": add_node,
        "autodiscover": autodiscover,
        "remove": remove_node,
        "patch": patch_node,
        "config": config,
        "restart": restart,
    }


def _route(app: web.Application, method: str, path: str, handler: Route) -> None:
    app.router.add_route(method, path, handler)
    app.router.add_route(method, path + "/", handler)


async def _health(request: web.Request) -> web.Response:
    return web.json_response({"status": "UP"})


def add_routes(app: web.Application, profile: str) -> None:
    prefixes = {
        "openvidu-api": [MODERN],
        "pro": [LEGACY],
        "both": [MODERN, LEGACY],
        "v3": [],
    }[profile]
    for prefix in prefixes:
        h = _handlers(modern=prefix == MODERN)
        nodes, node = f"{prefix}/media-nodes", f"{prefix}/media-nodes/{{node_id}}"
        _route(app, "GET", nodes, h["list"])
        _route(app, "POST", nodes, h["add"])
        _route(app, "PUT", nodes, h["autodiscover"])
        _route(app, "GET", node, h["get"])
        _route(app, "DELETE", node, h["remove"])
        _route(app, "PATCH", node, h["patch"])
        _route(app, "GET", f"{prefix}/config", h["config"])
        _route(app, "POST", f"{prefix}/restart", h["restart"])
    if profile in ("pro", "both"):
        _route(app, "GET", "/config", _handlers(modern=False)["config"])  # OpenVidu CE's
    if profile in ("openvidu-api", "both", "v3"):
        _route(app, "GET", f"{MODERN}/health", _health)
    if profile == "v3":
        # v3 keeps config (VERSION 3.x) but has no media-node API at all.
        _route(app, "GET", f"{MODERN}/config", _handlers(modern=True)["config"])
