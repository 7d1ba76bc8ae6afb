"""`OpenViduServer`: the emulated OpenVidu Pro server's aiohttp application and lifecycle.

async with OpenViduServer(config) as server:
    print(server.base_url)
"""

from __future__ import annotations

from types import TracebackType

from aiohttp import web

from . import control, routes
from .cluster import Cluster
from .config import OpenViduServerConfig, default_config
from .state import STATE, ServerState
from .webhooks import WebhookEmitter


class OpenViduServer:
    def __init__(
        self,
        config: OpenViduServerConfig | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.config = config if config is not None else default_config()
        self.host = host
        self.port = port
        self.webhooks = WebhookEmitter()
        self.cluster = Cluster(self.config, self.webhooks.emit)
        self.state = ServerState(
            config=self.config,
            cluster=self.cluster,
            webhooks=self.webhooks,
            secret=self.config.secret.get_secret_value(),
        )
        self._runner: web.AppRunner | None = None

    @property
    def base_url(self) -> str:
        if self._runner is None:
            raise RuntimeError("server not started")
        return f"http://{self.host}:{self.port}"

    def build_app(self) -> web.Application:
        app = web.Application(middlewares=[routes.middleware])
        app[STATE] = self.state
        routes.add_routes(app, self.config.profile)
        control.add_routes(app)
        return app

    async def start(self) -> None:
        runner = web.AppRunner(self.build_app(), access_log=None, shutdown_timeout=2.0)
        await runner.setup()
        await web.TCPSite(runner, self.host, self.port).start()
        self._runner = runner
        for address in runner.addresses:
            self.port = int(address[1])
            break
        self.cluster.start()
        self.state.init_properties(self.base_url, self.port)
        self.webhooks.start()

    async def stop(self) -> None:
        await self.cluster.close()
        await self.webhooks.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> OpenViduServer:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()
