"""Running the service: the API (with an embedded worker when there is no Redis) and
stand-alone workers, until SIGINT/SIGTERM.

SIGTERM drains a worker (see `Worker.drain`); a second signal stops at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass

from aiohttp import web

from .._http_server import HttpServer
from ._api import ServiceApi
from ._auth import ApiKeys
from ._handle import JobRunner
from ._spec import SecretPolicy
from ._store import JobStore
from ._worker import Worker, WorkerSettings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Listen:
    host: str = "127.0.0.1"
    port: int = 8080


class ApiServer(HttpServer):
    """The API on host:port (`async with`); `url` once started."""

    kind = "service API"

    def __init__(self, api: ServiceApi, listen: Listen) -> None:
        super().__init__(host=listen.host, port=listen.port)
        self._api = api

    @property
    def url(self) -> str:
        return self.base_url

    def build_app(self) -> web.Application:
        return self._api.app()


def _on_signals(first: Callable[[], None], second: Callable[[], None]) -> Callable[[], None]:
    # Imported here: the launcher imports the bot (aiortc), slow and not needed before.
    from ..runtime.launch import install_signal_handlers  # noqa: PLC0415

    seen = 0

    def handle(name: str) -> None:
        nonlocal seen
        seen += 1
        log.info("%s: %s", name, "draining" if seen == 1 else "stopping now")
        (first if seen == 1 else second)()

    return install_signal_handlers(handle)


async def serve(
    store: JobStore,
    keys: ApiKeys,
    listen: Listen,
    *,
    secrets: SecretPolicy,
    worker: tuple[WorkerSettings, JobRunner] | None = None,
    ready: Callable[[str], None] = print,
) -> None:
    """The API until a signal; with `worker`, a worker on the same store in this process."""
    await store.open()
    stop = asyncio.Event()
    async with contextlib.AsyncExitStack() as stack:
        stack.push_async_callback(store.aclose)
        server = await stack.enter_async_context(
            ApiServer(ServiceApi(store, keys, secrets), listen)
        )
        embedded = Worker(store, *worker) if worker is not None else None
        task = asyncio.create_task(embedded.run(), name="worker") if embedded else None

        def drain() -> None:
            if embedded is not None:
                embedded.drain()
            stop.set()

        def now() -> None:
            if task is not None:
                task.cancel()
            stop.set()

        remove = _on_signals(drain, now)
        stack.callback(remove)
        ready(server.url)
        await stop.wait()
        if task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def work(store: JobStore, settings: WorkerSettings, runner: JobRunner, name: str) -> Worker:
    """One worker until a signal drains it; returns it (its counters) when done."""
    worker = Worker(store, settings, runner, name=name)
    task = asyncio.create_task(worker.run(), name="worker")

    def now() -> None:
        task.cancel()

    remove = _on_signals(worker.drain, now)
    try:
        with contextlib.suppress(asyncio.CancelledError):
            await task
    finally:
        remove()
        await store.aclose()
    return worker
