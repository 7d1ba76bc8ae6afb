"""`HttpServer`: the lifecycle every pexbot HTTP server shares (the local node, the
OpenVidu server, the event sink, the metrics, watch and service endpoints).

One aiohttp application on `host:port`; port 0 takes a free port, and `port` and
`base_url` hold the real one once started. Use it with `async with`, or `start`/`stop`.
A subclass builds its application in `build_app` (or calls `listen` from its own
`start`) and adds its own teardown around `stop`.
"""

from __future__ import annotations

from types import TracebackType
from typing import Self

from aiohttp import web


class HttpServer:
    #: Named in "... not started".
    kind = "server"
    #: Seconds `stop` gives requests still open (aiohttp's own default is 60).
    shutdown_timeout = 60.0
    #: Cancel a handler whose client went away (aiohttp's `handler_cancellation`).
    handler_cancellation = False

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self.port = port
        self._runner: web.AppRunner | None = None

    @property
    def running(self) -> bool:
        return self._runner is not None

    @property
    def base_url(self) -> str:
        if self._runner is None:
            raise RuntimeError(f"{self.kind} not started")
        return f"http://{self.host}:{self.port}"

    def build_app(self) -> web.Application:
        raise NotImplementedError(f"{type(self).__name__} builds no application")

    async def start(self) -> None:
        await self.listen(self.build_app())

    async def stop(self) -> None:
        await self.unlisten()

    async def listen(self, app: web.Application) -> None:
        """Serve `app`; when the port cannot be bound nothing is left open."""
        if self._runner is not None:
            raise RuntimeError(f"{self.kind} already started")
        runner = web.AppRunner(
            app,
            access_log=None,
            shutdown_timeout=self.shutdown_timeout,
            handler_cancellation=self.handler_cancellation,
        )
        await runner.setup()
        try:
            await web.TCPSite(runner, self.host, self.port).start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self.port = int(runner.addresses[0][1])

    async def unlisten(self) -> None:
        """Close the listening socket and the open connections (idempotent)."""
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()


class AppServer(HttpServer):
    """A ready-made application: `async with AppServer(app) as server: server.base_url`."""

    def __init__(self, app: web.Application, *, host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__(host=host, port=port)
        self.app = app

    def build_app(self) -> web.Application:
        return self.app
