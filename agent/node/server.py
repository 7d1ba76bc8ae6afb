"""`LocalNode`: the aiohttp application and its lifecycle.

async with LocalNode(config, host="127.0.0.1", port=0) as node:
    print(node.base_url)
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from aiohttp import web
from aiohttp.typedefs import Handler

from .._http_server import HttpServer
from . import api, control, limits
from .admin import routes as admin_routes
from .config import NodeConfig, default_config
from .context import NODE, NOT_FOUND, NodeContext
from .heap import settle_heap
from .http import ApiError, error_response
from .media import MediaHandler

log = logging.getLogger(__name__)


@web.middleware
async def _errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every failure leaves as `{status: "failed", result: <string>}`; the node never crashes
    on bad input."""
    try:
        return await handler(request)
    except ApiError as exc:
        return error_response(exc.http_status, exc.result, exc.status)
    except web.HTTPRequestEntityTooLarge:
        return error_response(413, f"Request body too large (over {limits.BODY_BYTES} bytes)")
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        reason = _not_found(request) if exc.status == 404 else exc.reason
        return error_response(exc.status, reason)
    except Exception:
        log.exception("unhandled error in %s %s", request.method, request.path)
        return error_response(500, "Internal error")


def _not_found(request: web.Request) -> str:
    """A path no route matches: an unknown function of a known conference says so; only
    an unknown alias is "Neither conference nor gateway found" (what clients show)."""
    prefix = "/api/client/v2/conferences/"
    path = request.path
    if path.startswith(prefix):
        alias, _, function = path.removeprefix(prefix).partition("/")
        if function and request.app[NODE].state.by_alias(alias) is not None:
            return f"Unknown function: {function[:100]}"
    return NOT_FOUND


@web.middleware
async def _faults(request: web.Request, handler: Handler) -> web.StreamResponse:
    route = request.match_info.route.name
    if route is not None:
        injected = await request.app[NODE].faults.apply(route)
        if injected is not None:
            return injected
    return await handler(request)


async def _health(request: web.Request) -> web.Response:
    """Liveness for container health checks and load balancers: always on, says nothing
    about the conferences (the control API, which does, is off unless asked for)."""
    return web.json_response({"status": "ok"})


def build_app(ctx: NodeContext) -> web.Application:
    app = web.Application(middlewares=[_errors, _faults], client_max_size=limits.BODY_BYTES)
    app[NODE] = ctx
    app.router.add_get("/health", _health, name="health")
    api.add_routes(app)
    control.add_routes(app)
    admin_routes.add_routes(app)
    return app


class LocalNode(HttpServer):
    """The local Infinity node: client API v2, management API and control API."""

    kind = "node"
    # Short shutdown: event streams are ended by ctx.close() before the runner stops.
    shutdown_timeout = 2.0

    def __init__(
        self,
        config: NodeConfig | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        # None: the conference mixer (real media); DiscardMedia: drain only.
        media_factory: Callable[[], MediaHandler] | None = None,
        # True when the node owns its process (`pexbot node`): see `heap.py`.
        settle_heap: bool = False,
    ) -> None:
        super().__init__(host=host, port=port)
        self._settle_heap = settle_heap
        self.config = config if config is not None else default_config()
        self.ctx = NodeContext(self.config, media_factory=media_factory)

    @property
    def control_token(self) -> str | None:
        """The control API's bearer token; None when the control API is off."""
        return self.ctx.control_token

    def api_url(self, alias: str) -> str:
        return f"{self.base_url}/api/client/v2/conferences/{alias}"

    async def start(self) -> None:
        app = build_app(self.ctx)
        await self.listen(app)
        self.ctx.spawn(self.ctx.reaper(), "token-reaper")
        admin_routes.start_event_sinks(app, self.host)
        if self._settle_heap:
            settle_heap()

    async def stop(self) -> None:
        await self.ctx.close()
        await self.unlisten()
