"""`OpenViduServer`: the emulated OpenVidu Pro server's aiohttp application and lifecycle.

async with OpenViduServer(config) as server:
    print(server.base_url)
"""

from __future__ import annotations

from aiohttp import web

from .._http_server import HttpServer
from . import control, routes
from .cluster import Cluster
from .config import OpenViduServerConfig, default_config
from .state import STATE, ServerState
from .webhooks import WebhookEmitter


class OpenViduServer(HttpServer):
    shutdown_timeout = 2.0

    def __init__(
        self,
        config: OpenViduServerConfig | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        super().__init__(host=host, port=port)
        self.config = config if config is not None else default_config()
        self.webhooks = WebhookEmitter()
        self.cluster = Cluster(self.config, self.webhooks.emit)
        self.state = ServerState(
            config=self.config,
            cluster=self.cluster,
            webhooks=self.webhooks,
            secret=self.config.secret.get_secret_value(),
        )

    def build_app(self) -> web.Application:
        app = web.Application(middlewares=[routes.middleware])
        app[STATE] = self.state
        routes.add_routes(app, self.config.profile)
        control.add_routes(app)
        return app

    async def start(self) -> None:
        await super().start()
        self.cluster.start()
        self.state.init_properties(self.base_url, self.port)
        self.webhooks.start()

    async def stop(self) -> None:
        await self.cluster.close()
        await self.webhooks.close()
        await super().stop()
