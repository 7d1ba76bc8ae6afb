"""The emulated cluster: media nodes, their status machine, sessions and load.

Statuses and transitions follow `openvidu-pro/scalability` and the REST reference:
launching -> running | failed | canceled; canceled -> launching, or terminated when its
launch completes; running <-> waiting-idle-to-terminate; both -> terminating -> terminated.
A terminated node leaves the list. Every change is a `mediaNodeStatusChanged` webhook.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import re
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, Literal, cast, get_args

from .config import NodeSpec, OpenViduServerConfig

log = logging.getLogger("agent.openvidu_server.cluster")

Status = Literal[
    "launching",
    "canceled",
    "failed",
    "running",
    "waiting-idle-to-terminate",
    "terminating",
    "terminated",
]
STATUSES: tuple[str, ...] = get_args(Status)
STRATEGIES = ("now", "if-no-sessions", "when-no-sessions")
_WS_URI = re.compile(r"^wss?://[^/\s]+")

# The transitions PATCH may ask for; the same status is a no-op, anything else a 400.
PATCHABLE: frozenset[tuple[str, str]] = frozenset(
    {
        ("launching", "canceled"),
        ("canceled", "launching"),
        ("running", "waiting-idle-to-terminate"),
        ("waiting-idle-to-terminate", "running"),
        ("running", "terminating"),
        ("waiting-idle-to-terminate", "terminating"),
    }
)

Emit = Callable[[str, dict[str, Any]], None]


class ClusterError(Exception):
    """An operation refused with an HTTP status and a message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def now_ms() -> int:
    return int(time.time() * 1000)


@dataclass
class Session:
    id: str
    created_at: int = field(default_factory=now_ms)


@dataclass
class Node:
    id: str
    environment_id: str
    ip: str | None
    uri: str | None
    status: Status
    load: float = 0.0
    connected: bool = True
    connection_time: int | None = None
    disconnection_time: int | None = None
    launching_time: int = field(default_factory=now_ms)
    sessions: dict[str, Session] = field(default_factory=dict)
    #: Set once a launch settles (running, failed or terminated).
    settled: asyncio.Event = field(default_factory=asyncio.Event)
    #: Set once terminated.
    gone: asyncio.Event = field(default_factory=asyncio.Event)


@dataclass
class Faults:
    """Scripted failures (control API): the next cloud launch / termination fails."""

    fail_next_launch: bool = False
    fail_next_termination: bool = False
    unreachable_uris: set[str] = field(default_factory=set)


class Cluster:
    def __init__(self, config: OpenViduServerConfig, emit: Emit) -> None:
        self.config = config
        self._emit = emit
        self.nodes: dict[str, Node] = {}
        self.faults = Faults()
        self._numbers = itertools.count(1)
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def on_premise(self) -> bool:
        return self.config.environment == "on_premise"

    # -- tasks ----------------------------------------------------------------------------

    def _spawn(self, coro: Coroutine[Any, Any, None], name: str) -> None:
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("task %s failed", task.get_name(), exc_info=task.exception())

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    # -- building -------------------------------------------------------------------------

    def _new_node(self, spec: NodeSpec | None, status: Status, uri: str | None) -> Node:
        n = next(self._numbers)
        node_id = spec.id if spec and spec.id else f"kms_{n:08d}"
        while node_id in self.nodes:
            node_id = f"kms_{next(self._numbers):08d}"
        uri = uri or (spec.uri if spec else None)
        ip = spec.ip if spec and spec.ip else None
        if uri is None and status not in ("launching", "canceled"):
            uri = f"ws://10.0.0.{n}:8888/kurento"
        if ip is None and uri is not None:
            ip = uri.split("://", 1)[1].split("/", 1)[0].rsplit(":", 1)[0]
        node = Node(
            id=node_id,
            environment_id=(spec.environment_id if spec else None) or f"env-{node_id}",
            ip=ip,
            uri=uri,
            status=status,
            load=spec.load if spec else 0.0,
            connected=status not in ("launching", "canceled", "failed"),
        )
        if node.connected:
            node.connection_time = now_ms()
        if status not in ("launching", "canceled"):
            node.settled.set()
        self.nodes[node.id] = node
        return node

    def start(self) -> None:
        """Create the configured nodes (no webhooks: they were there before) and start
        their load scripts and pending launches."""
        for spec in self.config.nodes:
            node = self._new_node(spec, spec.status, spec.uri)
            for sid in spec.sessions:
                node.sessions[sid] = Session(sid)
            if spec.load_script:
                self._spawn(self._script(node, spec.load_script), f"load-{node.id}")
            if spec.status in ("launching", "canceled"):
                self._spawn(self._launch(node), f"launch-{node.id}")

    async def _script(self, node: Node, loads: list[float]) -> None:
        for load in loads:
            node.load = load
            await asyncio.sleep(self.config.load_interval)

    # -- status machine -------------------------------------------------------------------

    def _set(self, node: Node, new: Status, *, old_none: bool = False) -> None:
        old, node.status = node.status, new
        self._emit(
            "mediaNodeStatusChanged",
            {
                "id": node.id,
                "environmentId": node.environment_id,
                "ip": node.ip,
                "uri": node.uri,
                "clusterId": self.config.cluster_id,
                "oldStatus": None if old_none else old,
                "newStatus": new,
            },
        )
        if new in ("running", "failed", "terminated"):
            node.settled.set()
        if new == "terminated":
            node.connected = False
            self.nodes.pop(node.id, None)
            node.gone.set()

    async def _launch(self, node: Node) -> None:
        await asyncio.sleep(self.config.launch_delay)
        if node.status == "canceled":
            self._terminate(node, "mediaServerDisconnect")
        elif node.status == "launching":
            if self.faults.fail_next_launch and not self.on_premise:
                self.faults.fail_next_launch = False
                self._set(node, "failed")
                return
            if node.uri is None:  # a cloud instance gets its address once up
                node.ip = f"10.0.2.{next(self._numbers) % 250 + 1}"
                node.uri = f"ws://{node.ip}:8888/kurento"
            node.connected = True
            node.connection_time = now_ms()
            self._set(node, "running")

    def _terminate(self, node: Node, reason: str) -> None:
        if node.status in ("terminating", "terminated"):
            return
        self._set(node, "terminating")  # first: closing the last session must not recurse
        self._close_sessions(node, reason)
        self._spawn(self._finish(node), f"terminate-{node.id}")

    async def _finish(self, node: Node) -> None:
        await asyncio.sleep(self.config.termination_delay)
        self._set(node, "terminated")

    def _close_sessions(self, node: Node, reason: str) -> None:
        for session in list(node.sessions.values()):
            self.close_session(node.id, session.id, reason)

    # -- REST operations ------------------------------------------------------------------

    def get(self, node_id: str) -> Node:
        node = self.nodes.get(node_id)
        if node is None:
            raise ClusterError(404, f"Media Node {node_id} does not exist")
        return node

    async def add(self, uri: str | None, *, wait: bool) -> Node:
        if self.on_premise:
            if not uri:
                raise ClusterError(501, "On Premises deployments need the Media Node uri")
            if not _WS_URI.match(uri):
                raise ClusterError(400, f"uri must be a ws:// or wss:// URI, got {uri}")
            reachable = self.config.reachable_uris
            if uri in self.faults.unreachable_uris or (
                reachable is not None and uri not in reachable
            ):
                raise ClusterError(404, f"Media Node {uri} is not within reach")
            if any(n.uri == uri for n in self.nodes.values()):
                raise ClusterError(409, f"Media Node {uri} is already registered")
        else:
            uri = None  # other environments launch a new instance and ignore uri
        node = self._new_node(None, "launching", uri)
        self._set(node, "launching", old_none=True)
        self._spawn(self._launch(node), f"launch-{node.id}")
        if wait:
            await node.settled.wait()
            if node.status == "failed":
                raise ClusterError(502, f"launching Media Node {node.id} failed")
        return node

    async def remove(self, node_id: str, strategy: str, *, wait: bool) -> int:
        node = self.get(node_id)
        if strategy not in STRATEGIES:
            raise ClusterError(400, f"deletion-strategy must be one of {', '.join(STRATEGIES)}")
        if self.faults.fail_next_termination and not self.on_premise:
            self.faults.fail_next_termination = False
            raise ClusterError(502, f"terminating Media Node {node.id} failed")
        busy = bool(node.sessions)
        if busy and strategy == "if-no-sessions":
            raise ClusterError(409, f"Media Node {node.id} has {len(node.sessions)} sessions")
        if busy and strategy == "when-no-sessions":
            if node.status == "running":
                self._set(node, "waiting-idle-to-terminate")
            return 202
        self._terminate(node, "mediaServerDisconnect")
        if wait:
            await node.gone.wait()
        return 204

    def patch(self, node_id: str, status: object) -> Node | None:
        """The node after the change; None when it already had that status."""
        node = self.get(node_id)
        if not isinstance(status, str) or status not in STATUSES:
            raise ClusterError(400, f"status must be one of {', '.join(STATUSES)}")
        if status == node.status:
            return None
        if (node.status, status) not in PATCHABLE:
            raise ClusterError(400, f"Media Node cannot go from {node.status} to {status}")
        if status == "terminating":
            self._terminate(node, "mediaServerDisconnect")
        elif status == "waiting-idle-to-terminate" and not node.sessions:
            # Nothing to wait for: straight on to termination.
            self._set(node, "waiting-idle-to-terminate")
            self._terminate(node, "mediaServerDisconnect")
        else:
            self._set(node, cast(Status, status))  # checked against STATUSES above
        return node

    def autodiscover(self) -> list[Node]:
        specs = self.config.discoverable
        if specs is None:
            if self.on_premise:
                raise ClusterError(405, "no autodiscover script available On Premises")
            return []
        known = {n.uri for n in self.nodes.values()} | set(self.nodes)
        found = []
        for spec in specs:
            if (spec.uri and spec.uri in known) or (spec.id and spec.id in known):
                continue
            node = self._new_node(spec, "launching", spec.uri)
            self._set(node, "launching", old_none=True)
            node.connected, node.connection_time = True, now_ms()
            self._set(node, "running")
            found.append(node)
        return found

    # -- control (tests, users' CI) -------------------------------------------------------

    def set_load(self, node_id: str, load: float) -> None:
        if not 0 <= load <= 100:
            raise ClusterError(400, "load must be between 0 and 100")
        self.get(node_id).load = load

    def add_session(self, node_id: str, session_id: str) -> None:
        node = self.get(node_id)
        if node.status != "running":
            raise ClusterError(409, f"Media Node {node.id} is {node.status}: no new sessions")
        if session_id in node.sessions:
            raise ClusterError(409, f"session {session_id} already exists")
        node.sessions[session_id] = Session(session_id)
        self._emit("sessionCreated", {"sessionId": session_id})

    def close_session(self, node_id: str, session_id: str, reason: str) -> None:
        node = self.get(node_id)
        session = node.sessions.pop(session_id, None)
        if session is None:
            raise ClusterError(404, f"session {session_id} does not exist")
        self._emit(
            "sessionDestroyed",
            {
                "sessionId": session_id,
                "startTime": session.created_at,
                "duration": (now_ms() - session.created_at) // 1000,
                "reason": reason,
            },
        )
        if not node.sessions and node.status == "waiting-idle-to-terminate":
            self._terminate(node, reason)

    def close_all_sessions(self, reason: str) -> None:
        for node in list(self.nodes.values()):
            self._close_sessions(node, reason)

    def crash(self, node_id: str) -> None:
        node = self.get(node_id)
        if not node.connected:
            return
        node.connected = False
        node.disconnection_time = now_ms()
        self._emit(
            "nodeCrashed",
            {
                "id": node.id,
                "environmentId": node.environment_id,
                "ip": node.ip,
                "uri": node.uri,
                "nodeRole": "medianode",
                "sessionIds": list(node.sessions),
                "recordingIds": [],
                "broadcasts": [],
                "clusterId": self.config.cluster_id,
            },
        )

    def recover(self, node_id: str) -> None:
        node = self.get(node_id)
        if node.connected:
            return
        node.connected = True
        node.disconnection_time = None
        node.connection_time = now_ms()
        self._emit(
            "nodeRecovered",
            {
                "id": node.id,
                "environmentId": node.environment_id,
                "ip": node.ip,
                "uri": node.uri,
                "nodeRole": "medianode",
                "clusterId": self.config.cluster_id,
            },
        )
