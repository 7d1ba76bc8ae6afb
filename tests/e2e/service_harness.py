"""The service under test as a user runs it: a `redis-server`, `pexbot serve --redis` and
`pexbot worker` processes (signals go to real processes), a local node in the test's
loop with one conference per job, and a roster watcher that records, 20 times a second,
how many participants of each display name the node shows."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import os
import signal
import time
from collections import defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp

from agent.node import LocalNode, NodeConfig, settle_heap
from agent.node.config import ServiceConfig
from agent.node.faults import FaultConfig
from tests.support.pexbot_cmd import PEXBOT, REPO
from tests.support.redis_server import RedisServer

API_KEY = "service-test-key-0123456789"
#: Short tokens: a dead worker's bot is gone from the node 3 s after its last refresh.
TOKEN_SECONDS = 3
LEASE_SECONDS = 3.0
#: The worker's default takeover margin, added to the old bot's token lifetime.
TAKEOVER_MARGIN = 2.0


def logged_at(log: str, needle: str) -> float:
    """When the first line of a `pexbot` log holding `needle` was written (its own clock,
    seconds since the epoch; the text format's `2026-01-31 12:00:00,123` local time)."""
    for line in log.splitlines():
        if needle in line:
            stamp = datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f")
            return stamp.timestamp()
    raise AssertionError(f"no {needle!r} in the log:\n{log}")


def node_config(rooms: int) -> NodeConfig:
    services = [ServiceConfig(name=f"room-{i:02d}") for i in range(rooms)]
    return NodeConfig(services=services, faults=FaultConfig(token_lifetime=TOKEN_SECONDS))


@dataclass
class Roster:
    """Presence of each display name on the node over time, sampled every 50 ms."""

    node: LocalNode
    most: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    #: name -> [(since, until)] while present (until None: still there).
    spans: dict[str, list[list[float | None]]] = field(default_factory=lambda: defaultdict(list))

    def now_present(self) -> dict[str, int]:
        counts: dict[str, int] = defaultdict(int)
        for conference in self.node.ctx.state.conferences.values():
            for p in conference.participants.values():
                counts[p.display_name] += 1
        return counts

    async def watch(self) -> None:
        while True:
            now = time.time()
            counts = self.now_present()
            for name, n in counts.items():
                self.most[name] = max(self.most[name], n)
                spans = self.spans[name]
                if not spans or spans[-1][1] is not None:
                    spans.append([now, None])
            for name, spans in self.spans.items():
                if name not in counts and spans[-1][1] is None:
                    spans[-1][1] = now
            await asyncio.sleep(0.05)

    def present(self, name: str) -> bool:
        spans = self.spans.get(name)
        return bool(spans) and spans[-1][1] is None  # type: ignore[index]


class Process:
    """A `pexbot` subprocess with its output in files (a full pipe must never stall it)."""

    def __init__(self, proc: asyncio.subprocess.Process, log: Path) -> None:
        self.proc = proc
        self.log = log

    @property
    def pid(self) -> int:
        return self.proc.pid

    def signal(self, sig: signal.Signals) -> None:
        self.proc.send_signal(sig)

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    async def wait(self, timeout: float) -> int:
        return await asyncio.wait_for(self.proc.wait(), timeout)

    async def stop(self) -> None:
        if self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(signal.SIGCONT)
                self.proc.kill()
            await self.proc.wait()


async def spawn(args: list[str], log: Path, env: dict[str, str] | None = None) -> Process:
    out = log.open("wb")
    proc = await asyncio.create_subprocess_exec(
        str(PEXBOT),
        *args,
        stdout=out,
        stderr=out,
        cwd=REPO,
        env={**os.environ, **(env or {})},
    )
    out.close()
    return Process(proc, log)


class Service:
    def __init__(self, tmp: Path, redis: RedisServer, node: LocalNode) -> None:
        self.tmp = tmp
        self.redis = redis
        self.node = node
        self.output = tmp / "recordings"
        self.url = ""
        self.roster = Roster(node)
        self.procs: list[Process] = []
        self.http = aiohttp.ClientSession(headers={"Authorization": f"Bearer {API_KEY}"})

    async def start_api(self) -> None:
        log = self.tmp / "serve.log"
        proc = await spawn(
            ["serve", "--port", "0", "--redis", self.redis.url],
            log,
            env={"PEXBOT_API_KEYS": API_KEY},
        )
        self.procs.append(proc)
        end = time.monotonic() + 30
        while time.monotonic() < end:
            first = proc.text().split("\n", 1)[0]
            if first.startswith("http://"):
                self.url = first.strip()
                return
            await asyncio.sleep(0.05)
        raise AssertionError(f"pexbot serve did not start:\n{proc.text()}")

    async def worker(self, name: str, capacity: int, *extra: str) -> Process:
        args = [
            "worker",
            "--redis",
            self.redis.url,
            "--name",
            name,
            "--capacity",
            str(capacity),
            "--lease-seconds",
            str(LEASE_SECONDS),
            "--output-dir",
            str(self.output),
            *extra,
        ]
        proc = await spawn(args, self.tmp / f"{name}.log")
        self.procs.append(proc)
        end = time.monotonic() + 30
        while "ready" not in proc.text():
            assert time.monotonic() < end, proc.text()
            await asyncio.sleep(0.05)
        return proc

    async def create(
        self, body: dict[str, Any], headers: dict[str, str] | None = None
    ) -> dict[str, Any]:
        async with self.http.post(f"{self.url}/v1/bots", json=body, headers=headers) as r:
            data: dict[str, Any] = await r.json()
            assert r.status in (200, 201), data
            return data

    async def get(self, bot_id: str) -> dict[str, Any]:
        async with self.http.get(f"{self.url}/v1/bots/{bot_id}") as r:
            assert r.status == 200
            data: dict[str, Any] = await r.json()
            return data

    async def leave(self, bot_id: str) -> tuple[int, dict[str, Any]]:
        async with self.http.post(f"{self.url}/v1/bots/{bot_id}/leave") as r:
            return r.status, await r.json()

    async def wait_states(
        self, ids: list[str], states: set[str], timeout: float, worker: str | None = None
    ) -> list[dict[str, Any]]:
        end = time.monotonic() + timeout
        while True:
            bots = [await self.get(i) for i in ids]
            if all(
                b["state"] in states and (worker is None or b["worker"] == worker) for b in bots
            ):
                return bots
            if time.monotonic() > end:
                raise AssertionError(
                    json.dumps([(b["id"], b["state"], b["worker"], b["detail"]) for b in bots])
                    + "\n"
                    + "\n".join(p.text()[-3000:] for p in self.procs)
                )
            await asyncio.sleep(0.2)

    async def close(self) -> None:
        for proc in self.procs:
            await proc.stop()
        await self.http.close()


def recorder_job(node: str, room: int, seconds: float) -> dict[str, Any]:
    """A light recorder: audio only, nothing sent, no video received."""
    return {
        "meeting": {
            "node": node,
            "alias": f"room-{room:02d}",
            "display_name": f"rec-{room:02d}",
        },
        "plugins": [{"name": "recorder", "config": {"audio_only": True, "cluster_ms": 200}}],
        "media": {"audio": "none", "video": "none", "receive_video": False},
        "leave": {"duration": seconds},
        "metadata": {"room": str(room)},
    }


@contextlib.asynccontextmanager
async def service(tmp: Path, rooms: int) -> AsyncIterator[Service]:
    with RedisServer() as redis:
        async with LocalNode(node_config(rooms)) as node:
            # The node shares pytest's process, whose large heap made a mass join's full
            # garbage collection stall every call's media (`agent.node.heap`).
            settle_heap()
            svc = Service(tmp, redis, node)
            watcher = asyncio.create_task(svc.roster.watch())
            try:
                await svc.start_api()
                yield svc
            finally:
                watcher.cancel()
                await asyncio.gather(watcher, return_exceptions=True)
                await svc.close()
                gc.unfreeze()
