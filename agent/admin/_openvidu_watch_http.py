"""The watcher's HTTP face: OpenVidu's webhook receiver and Prometheus `/metrics`.

`add_watch_routes` mounts both on any aiohttp application (a service can host them next
to its own routes); `WatchServer` serves them on their own port for `pexbot openvidu watch`.
"""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Awaitable, Callable, Iterator

from aiohttp import hdrs, web
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from pydantic import ValidationError

from .._http_server import HttpServer
from ._openvidu_models import MEDIA_NODE_STATUSES, parse_webhook_event
from ._openvidu_watch import MediaNodeWatcher

log = logging.getLogger("agent.admin.openvidu.watch")

DEFAULT_WEBHOOK_PATH = "/openvidu/webhook"


class WatcherCollector(Collector):
    """Read at scrape time: one series per media node and status, plus watcher counters."""

    def __init__(self, watcher: MediaNodeWatcher) -> None:
        self._watcher = watcher

    def collect(self) -> Iterator[Metric]:
        w = self._watcher
        load = GaugeMetricFamily(
            "openvidu_media_node_load", "CPU load of the media node (0-100)", labels=["node"]
        )
        status = GaugeMetricFamily(
            "openvidu_media_node_status",
            "1 for the node's status (a crashed node counts as failed)",
            labels=["node", "status"],
        )
        connected = GaugeMetricFamily(
            "openvidu_media_node_connected", "1 if OpenVidu is connected to it", labels=["node"]
        )
        for view in w.nodes.values():
            if view.load is not None:
                load.add_metric([view.id], view.load)
            for s in MEDIA_NODE_STATUSES:
                status.add_metric([view.id, s], 1.0 if view.effective_status == s else 0.0)
            connected.add_metric([view.id], 0.0 if view.crashed or view.connected is False else 1.0)
        yield from (load, status, connected)
        average = w.average_load()
        if average is not None:
            yield GaugeMetricFamily(
                "openvidu_cluster_average_load",
                "Average load of the running media nodes",
                value=average,
            )
        yield GaugeMetricFamily(
            "openvidu_cluster_running_nodes", "Running media nodes", value=len(w.running_nodes())
        )
        yield CounterMetricFamily("openvidu_watch_polls", "Successful polls", value=w.polls)
        yield CounterMetricFamily("openvidu_watch_poll_errors", "Failed polls", value=w.poll_errors)
        events = CounterMetricFamily(
            "openvidu_watch_webhook_events", "OpenVidu webhook events received", labels=["event"]
        )
        for name, count in sorted(w.webhook_events.items()):
            events.add_metric([name], count)
        alerts = CounterMetricFamily("openvidu_watch_alerts", "Alerts raised", labels=["kind"])
        for name, count in sorted(w.alert_counts.items()):
            alerts.add_metric([name], count)
        yield from (events, alerts)


def watcher_registry(watcher: MediaNodeWatcher) -> CollectorRegistry:
    """A registry of its own holding the watcher's collector (no global state)."""
    registry = CollectorRegistry()
    registry.register(WatcherCollector(watcher))
    return registry


def webhook_handler(
    watcher: MediaNodeWatcher, *, authorization: str | None = None
) -> Callable[[web.Request], Awaitable[web.Response]]:
    """The receiver of OpenVidu's webhook POSTs. With `authorization`, the request's
    `Authorization` header must equal it (set OpenVidu's `OPENVIDU_WEBHOOK_HEADERS` to
    send it)."""

    async def handle(request: web.Request) -> web.Response:
        if authorization is not None:
            given = request.headers.get(hdrs.AUTHORIZATION, "")
            if not secrets.compare_digest(given.encode(), authorization.encode()):
                return web.Response(status=401, text="unauthorized")
        raw = await request.read()
        try:
            event = parse_webhook_event(json.loads(raw))
        except ValidationError as exc:
            err = exc.errors()[0]
            where = ".".join(str(p) for p in err["loc"]) or "(top level)"
            return _refuse(f"{where}: {err['msg']}")
        except ValueError as exc:  # includes JSONDecodeError
            return _refuse(str(exc).splitlines()[0])
        watcher.handle_event(event)
        return web.Response(status=200)

    return handle


def _refuse(why: str) -> web.Response:
    log.warning("refused an OpenVidu webhook: %s", why)
    return web.Response(status=400, text=f"invalid webhook event: {why}")


def add_watch_routes(
    app: web.Application,
    watcher: MediaNodeWatcher,
    *,
    webhook_path: str = DEFAULT_WEBHOOK_PATH,
    authorization: str | None = None,
    metrics_path: str = "/metrics",
) -> None:
    """Mount `/metrics` and the webhook receiver on an application of yours."""
    registry = watcher_registry(watcher)

    async def metrics(request: web.Request) -> web.Response:
        body = generate_latest(registry)
        return web.Response(body=body, headers={"Content-Type": "text/plain; version=0.0.4"})

    app.router.add_get(metrics_path, metrics)
    app.router.add_post(webhook_path, webhook_handler(watcher, authorization=authorization))


class WatchServer(HttpServer):
    """`/metrics` and the webhook receiver on host:port (port 0 picks a free one)."""

    kind = "watch server"

    def __init__(
        self,
        watcher: MediaNodeWatcher,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        webhook_path: str = DEFAULT_WEBHOOK_PATH,
        authorization: str | None = None,
    ) -> None:
        super().__init__(host=host, port=port)
        self.watcher = watcher
        self.webhook_path = webhook_path
        self._authorization = authorization

    @property
    def metrics_url(self) -> str:
        return f"{self.base_url}/metrics"

    @property
    def webhook_url(self) -> str:
        return f"{self.base_url}{self.webhook_path}"

    def build_app(self) -> web.Application:
        app = web.Application()
        add_watch_routes(
            app, self.watcher, webhook_path=self.webhook_path, authorization=self._authorization
        )
        return app
