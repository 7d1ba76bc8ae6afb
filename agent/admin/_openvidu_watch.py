"""`MediaNodeWatcher`: media-node load and health from polling and OpenVidu's webhooks.

Polling gives every node's load and status; webhooks (`mediaNodeStatusChanged`,
`nodeCrashed`, `nodeRecovered`) bring status changes and crashes at once. The two are merged
by time on the watcher's own clock: a poll's statuses are applied only to nodes that got no
webhook since the poll was *sent*, so a poll in flight cannot undo a newer crash. Load comes
from polls only.

A node that crashed (webhook, or `connected: false` in a poll) counts as `failed` until
`nodeRecovered` or a newer poll shows it connected.

Alerts are edge-triggered: crossing the autoscaling limits (average load of running nodes
above 70 / below 20 by default) raises one alert, not one per poll, and re-arms only after
the load is back inside the band by `hysteresis` points.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections import Counter, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ._openvidu_alerts import Alert, AlertKind, AlertSink, LogAlertSink, Severity
from ._openvidu_client import OpenViduClient
from ._openvidu_errors import OpenViduError
from ._openvidu_models import (
    DEFAULT_MAX_LOAD,
    DEFAULT_MIN_LOAD,
    MediaNode,
    MediaNodeStatus,
    MediaNodeStatusChanged,
    NodeCrashed,
    NodeRecovered,
    WebhookEvent,
)

log = logging.getLogger("agent.admin.openvidu.watch")

LoadBand = Literal["low", "normal", "high"]
_CONNECTED_STATUSES = ("running", "waiting-idle-to-terminate")


class WatchConfig(BaseModel):
    """Polling interval and alert limits (defaults: OpenVidu's autoscaling 70/20)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: Seconds between two polls of the media-node list.
    interval: float = Field(default=10.0, gt=0)
    #: Alert when the average load of running nodes goes above this (autoscaling default).
    max_load: float = Field(default=DEFAULT_MAX_LOAD, ge=0, le=100)
    #: Alert when it goes below this while more than `min_nodes` nodes run.
    min_load: float = Field(default=DEFAULT_MIN_LOAD, ge=0, le=100)
    min_nodes: int = Field(default=1, ge=0)
    #: Load points back inside the band before a load alert re-arms.
    hysteresis: float = Field(default=5.0, ge=0)

    @model_validator(mode="after")
    def _band(self) -> WatchConfig:
        if self.min_load >= self.max_load:
            raise ValueError("min_load must be below max_load")
        return self


@dataclass
class NodeView:
    """What the watcher knows about one media node."""

    id: str
    ip: str | None = None
    uri: str | None = None
    status: MediaNodeStatus | None = None
    connected: bool | None = None
    load: float | None = None
    crashed: bool = False
    #: Watcher-clock time of the last webhook about this node.
    event_at: float = -math.inf

    @property
    def effective_status(self) -> MediaNodeStatus | None:
        return "failed" if self.crashed else self.status


class MediaNodeWatcher:
    """Polls an `OpenViduClient`, takes webhook events (`handle_event`), raises alerts.

    async with MediaNodeWatcher(client, WatchConfig(interval=5)) as watcher:
        ...  # serve watcher_app(watcher) for /metrics and the webhook
    """

    def __init__(
        self,
        client: OpenViduClient,
        config: WatchConfig | None = None,
        *,
        sinks: Sequence[AlertSink] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.config = config if config is not None else WatchConfig()
        self.sinks: list[AlertSink] = list(sinks) if sinks is not None else [LogAlertSink()]
        self._clock = clock
        self.nodes: dict[str, NodeView] = {}
        #: The most recent alerts, newest last.
        self.alerts: deque[Alert] = deque(maxlen=1000)
        self.alert_counts: Counter[str] = Counter()
        self.webhook_events: Counter[str] = Counter()
        self.polls = 0
        self.poll_errors = 0
        self.band: LoadBand = "normal"
        self.api_down = False
        self._queue: asyncio.Queue[Alert] = asyncio.Queue(maxsize=1000)
        self._poll_task: asyncio.Task[None] | None = None
        self._dispatch_task: asyncio.Task[None] | None = None

    # -- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        if self._poll_task is not None:
            raise RuntimeError("watcher already started")
        self._dispatch_task = asyncio.create_task(self._dispatch_loop(), name="openvidu-alerts")
        self._poll_task = asyncio.create_task(self._poll_loop(), name="openvidu-watch-poll")

    async def stop(self, *, flush_timeout: float = 5.0) -> None:
        """Stop polling, deliver pending alerts (bounded), close the sinks."""
        if self._poll_task is not None:
            self._poll_task.cancel()
            await asyncio.gather(self._poll_task, return_exceptions=True)
            self._poll_task = None
        if self._dispatch_task is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._queue.join(), flush_timeout)
            self._dispatch_task.cancel()
            await asyncio.gather(self._dispatch_task, return_exceptions=True)
            self._dispatch_task = None
        for sink in self.sinks:
            await sink.aclose()

    async def __aenter__(self) -> MediaNodeWatcher:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def _poll_loop(self) -> None:
        while True:
            await self.poll_once()
            await asyncio.sleep(self.config.interval)

    async def _dispatch_loop(self) -> None:
        while True:
            alert = await self._queue.get()
            try:
                for sink in self.sinks:
                    try:
                        await sink.send(alert)
                    except Exception:
                        log.exception("alert sink %s failed", type(sink).__name__)
            finally:
                self._queue.task_done()

    # -- alerts ---------------------------------------------------------------------------

    def _alert(
        self, kind: AlertKind, severity: Severity, message: str, node: str | None = None
    ) -> None:
        alert = Alert(
            kind=kind,
            severity=severity,
            message=message,
            node_id=node,
            average_load=self.average_load(),
        )
        self.alerts.append(alert)
        self.alert_counts[kind] += 1
        if self._queue.full():
            dropped = self._queue.get_nowait()
            self._queue.task_done()
            log.warning("alert queue full: dropped %s", dropped.kind)
        self._queue.put_nowait(alert)

    # -- state ----------------------------------------------------------------------------

    def running_nodes(self) -> list[NodeView]:
        return [v for v in self.nodes.values() if v.effective_status == "running"]

    def average_load(self) -> float | None:
        """Average load of the running media nodes (what autoscaling compares)."""
        loads = [v.load for v in self.running_nodes() if v.load is not None]
        return sum(loads) / len(loads) if loads else None

    def _view(self, node_id: str) -> NodeView:
        view = self.nodes.get(node_id)
        if view is None:
            view = self.nodes[node_id] = NodeView(node_id)
        return view

    def _set_status(self, view: NodeView, status: MediaNodeStatus | None) -> None:
        if status is None or status == view.status:
            return
        old, view.status = view.status, status
        if status == "failed":
            self._alert("node_failed", "critical", f"media node {view.id} failed", view.id)
        elif status == "terminated":
            self._alert("node_terminated", "warning", f"media node {view.id} terminated", view.id)
        else:
            log.info("media node %s: %s -> %s", view.id, old or "-", status)

    def _set_crashed(self, view: NodeView, crashed: bool, how: str) -> None:
        if crashed == view.crashed:
            return
        view.crashed = crashed
        if crashed:
            text = f"media node {view.id} crashed ({how})"
            self._alert("node_crashed", "critical", text, view.id)
        else:
            text = f"media node {view.id} recovered ({how})"
            self._alert("node_recovered", "info", text, view.id)

    def _apply_poll(self, node: MediaNode, sent_at: float) -> None:
        view = self._view(node.id)
        view.ip = node.ip or view.ip
        view.uri = node.uri or view.uri
        view.load = node.load
        if sent_at < view.event_at:
            return  # a webhook arrived after this poll was sent: it is newer
        self._set_status(view, node.status)
        view.connected = node.connected
        # Only a node that should be connected can crash or recover: launching, failed
        # or terminating nodes are not connected, and that says nothing.
        if node.connected is not None and (
            node.status is None or node.status in _CONNECTED_STATUSES
        ):
            how = "reported connected by a poll" if node.connected else "disconnected in a poll"
            self._set_crashed(view, not node.connected, how)

    def _forget(self, node_id: str) -> None:
        view = self.nodes.pop(node_id)
        if view.status != "terminated":
            self._alert(
                "node_terminated",
                "warning",
                f"media node {node_id} is no longer listed (last status {view.status or '-'})",
                node_id,
            )

    def _check_load(self) -> None:
        cfg = self.config
        average = self.average_load()
        if average is None:
            return
        scale_in = len(self.running_nodes()) > cfg.min_nodes
        if average > cfg.max_load or (
            self.band == "high" and average > cfg.max_load - cfg.hysteresis
        ):
            band: LoadBand = "high"
        elif scale_in and (
            average < cfg.min_load
            or (self.band == "low" and average < cfg.min_load + cfg.hysteresis)
        ):
            band = "low"
        else:
            band = "normal"
        if band == self.band:
            return
        old, self.band = self.band, band
        if band == "high":
            text = f"average media-node load {average:.1f} is above {cfg.max_load:g}"
            self._alert("load_high", "warning", text)
        elif band == "low":
            text = f"average media-node load {average:.1f} is below {cfg.min_load:g}"
            self._alert("load_low", "info", text)
        else:
            text = f"average media-node load {average:.1f} is back to normal (was {old})"
            self._alert("load_normal", "info", text)

    # -- inputs ---------------------------------------------------------------------------

    async def poll_once(self) -> None:
        """One poll of the media-node list; errors are counted and alerted, not raised."""
        sent_at = self._clock()
        try:
            listing = await self.client.list_media_nodes()
        except OpenViduError as exc:
            self.poll_errors += 1
            log.warning("poll failed: %s", exc)
            if not self.api_down:
                self.api_down = True
                self._alert("api_unreachable", "critical", f"OpenVidu poll failed: {exc}")
            return
        self.polls += 1
        if self.api_down:
            self.api_down = False
            self._alert("api_recovered", "info", "OpenVidu answers polls again")
        listed = set()
        for node in listing.content:
            listed.add(node.id)
            self._apply_poll(node, sent_at)
        for node_id in [n for n in self.nodes if n not in listed]:
            self._forget(node_id)
        self._check_load()

    def handle_event(self, event: WebhookEvent) -> None:
        """Apply one OpenVidu webhook event (others than media-node events are counted)."""
        self.webhook_events[event.event] += 1
        if not isinstance(event, MediaNodeStatusChanged | NodeCrashed | NodeRecovered):
            return
        if event.node_role not in (None, "medianode"):
            return  # master-node events: not a media node's health
        view = self._view(event.id)
        view.event_at = self._clock()
        view.ip = event.ip or view.ip
        view.uri = event.uri or view.uri
        if isinstance(event, MediaNodeStatusChanged):
            self._set_status(view, event.new_status)
        elif isinstance(event, NodeCrashed):
            view.connected = False
            self._set_crashed(view, True, "nodeCrashed webhook")
        else:
            view.connected = True
            self._set_crashed(view, False, "nodeRecovered webhook")
        self._check_load()
