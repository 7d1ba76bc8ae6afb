"""`MemoryJobStore`: the job store inside one process, for `pexbot serve` without Redis.

It keeps the Redis store's behaviour (stream entries pending per consumer, idle times,
leases with fencing tokens, stop notifications) with plain dicts, so the worker and the
API run unchanged on it. Nothing survives the process.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass
from typing import Any

from ._models import TERMINAL_STATES
from ._store import Claim, JobRecord, Lease, LeaveOutcome, Renewal


@dataclass
class _Pending:
    consumer: str
    job_id: str
    since: float  # monotonic: delivered or last claimed


class MemoryJobStore:
    """The job store in this process (see the module doc)."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._jobs: dict[str, JobRecord] = {}
        self._queue: deque[tuple[str, str]] = deque()  # (entry, job id), not yet delivered
        self._pending: dict[str, _Pending] = {}
        self._leases: dict[str, tuple[str, float]] = {}  # job id -> (token, expires)
        self._schedule: dict[str, float] = {}
        self._idem: dict[str, tuple[str, float]] = {}
        self._expires: dict[str, float] = {}  # finished job -> when it is forgotten
        self._seq = 0
        self._entries = 0
        self._arrived = asyncio.Event()
        self._subscribers: list[asyncio.Queue[str]] = []

    async def open(self) -> None:
        return None

    async def aclose(self) -> None:
        return None

    # -- helpers -----------------------------------------------------------------------

    def _enqueue(self, job_id: str) -> str:
        self._entries += 1
        entry = f"{int(time.time() * 1000)}-{self._entries}"
        self._queue.append((entry, job_id))
        self._arrived.set()
        return entry

    def _set(self, job_id: str, changes: dict[str, Any]) -> JobRecord:
        job = self._jobs[job_id].with_fields(changes)
        self._jobs[job_id] = job
        return job

    def _lease_token(self, job_id: str) -> str | None:
        held = self._leases.get(job_id)
        if held is None:
            return None
        if held[1] <= self._clock():
            del self._leases[job_id]
            return None
        return held[0]

    def _ack(self, entry: str) -> None:
        self._pending.pop(entry, None)

    def _forget_expired(self) -> None:
        now = self._clock()
        for job_id, when in list(self._expires.items()):
            if when <= now:
                del self._expires[job_id]
                self._jobs.pop(job_id, None)

    # -- the API's side ---------------------------------------------------------------

    async def create(
        self, job: JobRecord, idempotency_key: str | None, ttl: float
    ) -> tuple[JobRecord, bool]:
        now = self._clock()
        if len(self._idem) > 10_000:  # forget expired keys now and then
            self._idem = {k: v for k, v in self._idem.items() if v[1] > now}
        if idempotency_key is not None:
            held = self._idem.get(idempotency_key)
            if held is not None and held[1] > now and held[0] in self._jobs:
                return self._jobs[held[0]], False
        self._seq += 1
        self._jobs[job.id] = job.with_fields({"seq": self._seq})
        if job.join_at is not None and job.join_at > job.created_at:
            self._set(job.id, {"state": "scheduled"})
            self._schedule[job.id] = job.join_at
        else:
            self._set(job.id, {"state": "queued", "entry": self._enqueue(job.id)})
        if idempotency_key is not None:
            self._idem[idempotency_key] = (job.id, now + ttl)
        return self._jobs[job.id], True

    async def get(self, job_id: str) -> JobRecord | None:
        self._forget_expired()
        return self._jobs.get(job_id)

    async def page(
        self, state: str | None, cursor: int | None, limit: int
    ) -> tuple[list[JobRecord], int | None]:
        self._forget_expired()
        jobs = sorted(self._jobs.values(), key=lambda j: j.seq, reverse=True)
        chosen = [
            j
            for j in jobs
            if (state is None or j.state == state) and (cursor is None or j.seq < cursor)
        ][:limit]
        more = len(chosen) == limit
        return chosen, (chosen[-1].seq if chosen and more else None)

    async def request_leave(self, job_id: str, now: float) -> LeaveOutcome:
        job = self._jobs.get(job_id)
        if job is None:
            return LeaveOutcome.NOT_FOUND
        if job.finished:
            return LeaveOutcome.FINISHED
        self._set(job_id, {"leave_requested": True})
        if job.state in ("queued", "scheduled") and self._lease_token(job_id) is None:
            self._set(
                job_id,
                {
                    "state": "left",
                    "detail": "stopped before it started",
                    "ended_at": now,
                    "exit_code": 0,
                },
            )
            self._schedule.pop(job_id, None)
            return LeaveOutcome.CANCELLED
        for queue in self._subscribers:
            queue.put_nowait(job_id)
        return LeaveOutcome.REQUESTED

    # -- the workers' side ------------------------------------------------------------

    async def read_new(self, consumer: str, count: int, block: float) -> list[Claim]:
        if not self._queue:
            self._arrived.clear()
            try:
                async with asyncio.timeout(block):
                    await self._arrived.wait()
            except TimeoutError:
                return []
        claims: list[Claim] = []
        while self._queue and len(claims) < count:
            entry, job_id = self._queue.popleft()
            self._pending[entry] = _Pending(consumer, job_id, self._clock())
            claims.append(Claim(entry, job_id))
        return claims

    async def reclaim(self, consumer: str, count: int, min_idle: float) -> list[Claim]:
        now = self._clock()
        claims: list[Claim] = []
        for entry, pending in self._pending.items():
            if len(claims) >= count:
                break
            if now - pending.since >= min_idle:
                pending.consumer, pending.since = consumer, now
                claims.append(Claim(entry, pending.job_id))
        return claims

    async def acquire(
        self, claim: Claim, worker: str, lease_seconds: float, now: float
    ) -> Lease | None:
        job = self._jobs.get(claim.job_id)
        if job is None or job.finished or job.entry != claim.entry:
            self._ack(claim.entry)
            return None
        if self._lease_token(job.id) is not None:
            return None
        if job.leave_requested:
            self._set(
                job.id,
                {
                    "state": "left",
                    "detail": "stopped before it could be resumed",
                    "ended_at": now,
                    "worker": "",
                    "exit_code": 0,
                },
            )
            self._ack(claim.entry)
            return None
        fence = job.fence + 1
        on_node, token_seconds = job.on_node, job.token_seconds
        job = self._set(
            job.id,
            {
                "fence": fence,
                "attempts": job.attempts + 1,
                "state": "joining",
                "worker": worker,
                "claimed_at": now,
                "on_node": True,
                "detail": "",
            },
        )
        self._leases[job.id] = (f"{worker}|{fence}", self._clock() + lease_seconds)
        return Lease(job, worker, fence, claim.entry, on_node, token_seconds)

    async def renew(self, leases: list[Lease], lease_seconds: float) -> list[Renewal]:
        out = []
        for lease in leases:
            if self._lease_token(lease.job.id) != lease.token:
                out.append(Renewal(False))
                continue
            self._leases[lease.job.id] = (lease.token, self._clock() + lease_seconds)
            pending = self._pending.get(lease.entry)
            if pending is not None:
                pending.consumer, pending.since = lease.worker, self._clock()
            out.append(Renewal(True, self._jobs[lease.job.id].leave_requested))
        return out

    def _fenced(self, lease: Lease) -> bool:
        job = self._jobs.get(lease.job.id)
        return job is not None and job.fence == lease.fence

    async def update(self, lease: Lease, changes: dict[str, Any]) -> bool:
        if not self._fenced(lease):
            return False
        self._set(lease.job.id, changes)
        return True

    def _drop_lease(self, lease: Lease) -> None:
        if self._lease_token(lease.job.id) == lease.token:
            del self._leases[lease.job.id]

    async def finish(self, lease: Lease, changes: dict[str, Any], retention: float) -> bool:
        if changes.get("state") not in TERMINAL_STATES:
            raise ValueError("finish needs a final state")
        if not self._fenced(lease):
            return False
        self._set(lease.job.id, {**changes, "on_node": False, "worker": ""})
        self._drop_lease(lease)
        self._ack(lease.entry)
        self._expires[lease.job.id] = self._clock() + retention
        return True

    async def hand_back(self, lease: Lease, changes: dict[str, Any], on_node: bool) -> bool:
        if not self._fenced(lease):
            return False
        self._ack(lease.entry)
        entry = self._enqueue(lease.job.id)
        self._set(
            lease.job.id,
            {**changes, "on_node": on_node, "state": "queued", "worker": "", "entry": entry},
        )
        self._drop_lease(lease)
        return True

    async def requeue(self, claim: Claim) -> None:
        self._ack(claim.entry)
        job = self._jobs.get(claim.job_id)
        if job is not None and job.entry == claim.entry:
            self._set(job.id, {"entry": self._enqueue(job.id)})

    async def promote_due(self, now: float) -> int:
        due = [job_id for job_id, at in self._schedule.items() if at <= now]
        for job_id in due:
            del self._schedule[job_id]
            job = self._jobs.get(job_id)
            if job is not None and job.state == "scheduled":
                self._set(job_id, {"state": "queued", "entry": self._enqueue(job_id)})
        return len(due)

    async def stop_requests(self) -> AsyncGenerator[str, None]:
        queue: asyncio.Queue[str] = asyncio.Queue()
        self._subscribers.append(queue)
        try:
            while True:
                yield await queue.get()
        finally:
            self._subscribers.remove(queue)
