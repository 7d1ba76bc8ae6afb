"""`RedisJobStore`: the job store on Redis (Streams + consumer group, hashes, leases with
fencing tokens, pub/sub), through the maintained `redis` client (redis.asyncio).

Each step that must be atomic is one Lua script (`_lua.py`); reads are plain commands.
Blocking reads (XREADGROUP ... BLOCK) hold one pooled connection while they wait.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncGenerator
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError, ResponseError

from . import _lua
from ._models import TERMINAL_STATES
from ._store import (
    Claim,
    JobRecord,
    Lease,
    LeaveOutcome,
    Renewal,
    encode_fields,
)

log = logging.getLogger(__name__)

GROUP = "workers"
#: Approximate cap of the jobs stream. An entry is only ever needed while its job is
#: pending; with this cap a job would have to wait behind a million newer ones to lose it.
STREAM_MAXLEN = 1_000_000


class StoreUnavailable(RuntimeError):
    """Redis could not be reached (the message names the URL without credentials)."""


def _redacted(url: str) -> str:
    # redis://user:password@host:port/0 -> redis://host:port/0
    scheme, sep, rest = url.partition("://")
    return f"{scheme}{sep}{rest.rpartition('@')[2]}" if sep else url


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _pairs(flat: list[Any]) -> dict[str, str]:
    return {_text(flat[i]): _text(flat[i + 1]) for i in range(0, len(flat) - 1, 2)}


class RedisJobStore:
    """The job store on Redis at `url` (keys under `prefix`; see `_lua.py`)."""

    def __init__(
        self,
        url: str,
        *,
        prefix: str = "pexbot",
        client: aioredis.Redis | None = None,
    ) -> None:
        self.url = url
        self.prefix = prefix
        self._redis = client or aioredis.Redis.from_url(
            url, decode_responses=True, protocol=2, health_check_interval=30
        )
        r = self._redis
        self._create = r.register_script(_lua.CREATE)
        self._acquire = r.register_script(_lua.ACQUIRE)
        self._renew = r.register_script(_lua.RENEW)
        self._update = r.register_script(_lua.UPDATE)
        self._finish = r.register_script(_lua.FINISH)
        self._hand_back = r.register_script(_lua.HAND_BACK)
        self._requeue = r.register_script(_lua.REQUEUE)
        self._leave = r.register_script(_lua.LEAVE)
        self._promote = r.register_script(_lua.PROMOTE)
        self._autoclaim_cursor = "0-0"

    def _key(self, *parts: str) -> str:
        return ":".join((self.prefix, *parts))

    @property
    def where(self) -> str:
        return _redacted(self.url)

    async def open(self) -> None:
        try:
            await self._redis.ping()
            await self._redis.xgroup_create(self._key("jobs"), GROUP, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise StoreUnavailable(f"Redis at {self.where}: {exc}") from None
        except (RedisError, OSError) as exc:
            raise StoreUnavailable(f"cannot reach Redis at {self.where}: {exc}") from None

    async def aclose(self) -> None:
        await self._redis.aclose()

    # -- the API's side ---------------------------------------------------------------

    async def create(
        self, job: JobRecord, idempotency_key: str | None, ttl: float
    ) -> tuple[JobRecord, bool]:
        fields = job.to_fields()
        scheduled = job.join_at is not None and job.join_at > job.created_at
        made, job_id, raw = await self._create(
            args=[
                self.prefix,
                job.id,
                json.dumps(fields),
                idempotency_key or "",
                max(int(ttl), 1),
                "1" if scheduled else "0",
                job.join_at or 0,
                STREAM_MAXLEN,
            ]
        )
        if not raw:  # an idempotency key outliving its (expired) job
            raise LookupError(f"job {_text(job_id)} is gone")
        return JobRecord.from_fields(_pairs(list(raw))), bool(int(made))

    async def get(self, job_id: str) -> JobRecord | None:
        raw: Any = await self._redis.hgetall(self._key("job", job_id))
        return JobRecord.from_fields(raw) if raw else None

    async def page(
        self, state: str | None, cursor: int | None, limit: int
    ) -> tuple[list[JobRecord], int | None]:
        index = self._key("state", state) if state else self._key("all")
        top: str | int = f"({cursor}" if cursor is not None else "+inf"
        out: list[JobRecord] = []
        next_cursor: int | None = None
        # Jobs past their retention expire; their ids linger in the indexes until met here.
        while len(out) < limit:
            ids: Any = await self._redis.zrevrangebyscore(
                index, top, "-inf", start=0, num=limit - len(out), withscores=True
            )
            if not ids:
                next_cursor = None
                break
            pipe = self._redis.pipeline(transaction=False)
            for job_id, _ in ids:
                pipe.hgetall(self._key("job", job_id))
            rows = await pipe.execute()
            gone: list[str] = []
            for (job_id, score), raw in zip(ids, rows, strict=True):
                if raw:
                    out.append(JobRecord.from_fields(raw))
                else:
                    gone.append(job_id)
                next_cursor = int(score)
            if gone:
                await self._redis.zrem(index, *gone)
            top = f"({next_cursor}"
        if len(out) < limit:
            next_cursor = None
        return out, next_cursor

    async def request_leave(self, job_id: str, now: float) -> LeaveOutcome:
        result = await self._leave(args=[self.prefix, job_id, now])
        return LeaveOutcome(_text(result))

    # -- the workers' side ------------------------------------------------------------

    async def read_new(self, consumer: str, count: int, block: float) -> list[Claim]:
        reply: Any = await self._redis.xreadgroup(
            GROUP, consumer, {self._key("jobs"): ">"}, count=count, block=int(block * 1000)
        )
        claims: list[Claim] = []
        for _stream, entries in reply or []:
            for entry, data in entries:
                if data and "id" in data:
                    claims.append(Claim(_text(entry), data["id"]))
        return claims

    async def reclaim(self, consumer: str, count: int, min_idle: float) -> list[Claim]:
        reply: Any = await self._redis.xautoclaim(
            self._key("jobs"),
            GROUP,
            consumer,
            min_idle_time=int(min_idle * 1000),
            start_id=self._autoclaim_cursor,
            count=count,
        )
        # [next cursor, [[entry, [k, v, ...]] ...], [deleted entries]] (Redis 7)
        self._autoclaim_cursor = _text(reply[0])
        claims = []
        for item in reply[1]:
            entry, data = item[0], item[1]
            fields = data if isinstance(data, dict) else _pairs(list(data or []))
            if "id" in fields:
                claims.append(Claim(_text(entry), fields["id"]))
        return claims

    async def acquire(
        self, claim: Claim, worker: str, lease_seconds: float, now: float
    ) -> Lease | None:
        reply = await self._acquire(
            args=[
                self.prefix,
                claim.job_id,
                claim.entry,
                worker,
                int(lease_seconds * 1000),
                now,
                GROUP,
            ]
        )
        if int(reply[0]) <= 0:
            return None
        fence, on_node, token_s, raw = int(reply[0]), _text(reply[1]), _text(reply[2]), reply[3]
        return Lease(
            job=JobRecord.from_fields(_pairs(list(raw))),
            worker=worker,
            fence=fence,
            entry=claim.entry,
            predecessor_on_node=on_node == "1",
            predecessor_token_seconds=float(token_s) if token_s else None,
        )

    async def renew(self, leases: list[Lease], lease_seconds: float) -> list[Renewal]:
        if not leases:
            return []
        args: list[Any] = [self.prefix, GROUP, int(lease_seconds * 1000), leases[0].worker]
        for lease in leases:
            args += [lease.job.id, lease.token, lease.entry]
        reply = await self._renew(args=args)
        return [Renewal(held=int(r) > 0, leave_requested=int(r) == 2) for r in reply]

    async def update(self, lease: Lease, changes: dict[str, Any]) -> bool:
        reply = await self._update(
            args=[self.prefix, lease.job.id, lease.fence, json.dumps(encode_fields(changes))]
        )
        return bool(int(reply))

    async def finish(self, lease: Lease, changes: dict[str, Any], retention: float) -> bool:
        if changes.get("state") not in TERMINAL_STATES:
            raise ValueError("finish needs a final state")
        reply = await self._finish(
            args=[
                self.prefix,
                lease.job.id,
                lease.fence,
                lease.token,
                lease.entry,
                GROUP,
                json.dumps(encode_fields({**changes, "on_node": False, "worker": ""})),
                max(int(retention), 1),
            ]
        )
        return bool(int(reply))

    async def hand_back(self, lease: Lease, changes: dict[str, Any], on_node: bool) -> bool:
        reply = await self._hand_back(
            args=[
                self.prefix,
                lease.job.id,
                lease.fence,
                lease.token,
                lease.entry,
                GROUP,
                json.dumps(encode_fields({**changes, "on_node": on_node})),
                STREAM_MAXLEN,
            ]
        )
        return bool(int(reply))

    async def requeue(self, claim: Claim) -> None:
        await self._requeue(args=[self.prefix, claim.job_id, claim.entry, GROUP, STREAM_MAXLEN])

    async def promote_due(self, now: float) -> int:
        return int(await self._promote(args=[self.prefix, now, 100, STREAM_MAXLEN]))

    async def stop_requests(self) -> AsyncGenerator[str, None]:
        """Job ids from the stop channel. Reconnects after a dropped connection (a stop
        missed meanwhile still arrives with the next heartbeat)."""
        channel = self._key("stop")
        while True:
            pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(channel)
                while True:
                    message = await pubsub.get_message(timeout=1.0)
                    if message is not None and message.get("type") == "message":
                        yield _text(message["data"])
            except (RedisError, OSError) as exc:
                log.warning("stop channel lost (%s); resubscribing", type(exc).__name__)
                await asyncio.sleep(1.0)
            finally:
                await pubsub.aclose()  # type: ignore[no-untyped-call]
