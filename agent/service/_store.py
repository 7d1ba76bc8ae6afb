"""The job store's contract: what the API and the workers ask of Redis (or of the
in-process queue that stands in for it).

A job is a record (a Redis hash) plus one entry in a stream read by a consumer group.
A worker that reads an entry must then *acquire* the job: a lease with a fencing token
(the job's `fence`, bumped on every acquisition). The lease is kept alive by heartbeats
(`renew`); every write a worker makes is fenced (refused unless its token is still the
job's), so a worker that was paused past its lease can no longer touch the job. An entry
whose consumer stopped heart-beating goes idle in the group's pending list and another
worker `reclaim`s it (XAUTOCLAIM), then acquires the job once the old lease has expired.

`on_node` says a bot of this job may still be in the meeting (taken, not released): a
successor waits that bot's token lifetime out before joining, so the node never shows
two bots for one job.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field, fields, replace
from enum import StrEnum
from typing import Any, Protocol

from ._models import TERMINAL_STATES


def new_job_id() -> str:
    return "bot_" + secrets.token_hex(8)


@dataclass(frozen=True)
class JobRecord:
    """A job as stored. Times are Unix seconds (wall clock)."""

    id: str
    request: str  # the BotRequest as JSON (secrets only by reference)
    request_hash: str
    state: str
    created_at: float
    join_at: float | None = None
    reason: str | None = None
    detail: str = ""
    exit_code: int | None = None
    worker: str = ""
    fence: int = 0
    attempts: int = 0
    claimed_at: float | None = None
    joined_at: float | None = None
    ended_at: float | None = None
    artifacts: list[dict[str, Any]] = field(default_factory=list)
    on_node: bool = False
    token_seconds: float | None = None
    leave_requested: bool = False
    stop_received_at: float | None = None
    #: The stream entry that stands for the job now (a handed-back job gets a new one).
    entry: str = ""
    #: Who created it (a hash of the API key, never the key).
    owner: str = ""
    seq: int = 0

    @property
    def finished(self) -> bool:
        return self.state in TERMINAL_STATES

    def to_fields(self) -> dict[str, str]:
        return {f.name: encode(getattr(self, f.name)) for f in fields(self)}

    @classmethod
    def from_fields(cls, raw: dict[str, str]) -> JobRecord:
        kwargs: dict[str, Any] = {}
        for f in fields(cls):
            if f.name in raw:
                kwargs[f.name] = decode(f.name, raw[f.name])
        return cls(**kwargs)

    def with_fields(self, changes: dict[str, Any]) -> JobRecord:
        return replace(self, **changes)


_FLOATS = {
    "created_at",
    "join_at",
    "claimed_at",
    "joined_at",
    "ended_at",
    "token_seconds",
    "stop_received_at",
}
_INTS = {"exit_code", "fence", "attempts", "seq"}
_BOOLS = {"on_node", "leave_requested"}


def encode(value: Any) -> str:
    """A field as a Redis hash value: "" for None, 1/0 for booleans, JSON for lists."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, list | dict):
        return json.dumps(value)
    return str(value)


def decode(name: str, raw: str) -> Any:
    if name in _BOOLS:
        return raw == "1"
    if name == "artifacts":
        return json.loads(raw) if raw else []
    if name in _FLOATS:
        return float(raw) if raw else None
    if name == "exit_code":
        return int(raw) if raw else None
    if name in _INTS:
        return int(raw) if raw else 0
    if name == "reason":
        return raw or None
    return raw


def encode_fields(changes: dict[str, Any]) -> dict[str, str]:
    return {k: encode(v) for k, v in changes.items()}


@dataclass(frozen=True)
class Claim:
    """A stream entry a worker was handed (new, or reclaimed from a silent worker)."""

    entry: str
    job_id: str


@dataclass(frozen=True)
class Lease:
    """A worker's hold on a job: `fence` fences every write it makes."""

    job: JobRecord
    worker: str
    fence: int
    entry: str
    #: A bot of an earlier holder may still be in the meeting (not released) ...
    predecessor_on_node: bool = False
    #: ... for at most this long after its last refresh (its token lifetime, if known).
    predecessor_token_seconds: float | None = None

    @property
    def token(self) -> str:
        return f"{self.worker}|{self.fence}"


@dataclass(frozen=True)
class Renewal:
    held: bool
    leave_requested: bool = False


class LeaveOutcome(StrEnum):
    """What `POST /v1/bots/{id}/leave` did."""

    NOT_FOUND = "not_found"
    FINISHED = "finished"  # already left or failed
    CANCELLED = "cancelled"  # never started: now left
    REQUESTED = "requested"  # its worker was told


class JobStore(Protocol):
    """Redis (`RedisJobStore`) or one process (`MemoryJobStore`): the same behaviour."""

    async def open(self) -> None: ...

    async def aclose(self) -> None: ...

    # -- the API's side ---------------------------------------------------------------

    async def create(
        self, job: JobRecord, idempotency_key: str | None, ttl: float
    ) -> tuple[JobRecord, bool]:
        """Store and enqueue (or schedule, with `join_at` in the future) a new job; with an
        idempotency key already used, the job it made and False instead."""
        ...

    async def get(self, job_id: str) -> JobRecord | None: ...

    async def page(
        self, state: str | None, cursor: int | None, limit: int
    ) -> tuple[list[JobRecord], int | None]:
        """Newest first; the cursor is the last item's `seq`."""
        ...

    async def request_leave(self, job_id: str, now: float) -> LeaveOutcome: ...

    # -- the workers' side ------------------------------------------------------------

    async def read_new(self, consumer: str, count: int, block: float) -> list[Claim]: ...

    async def reclaim(self, consumer: str, count: int, min_idle: float) -> list[Claim]: ...

    async def acquire(
        self, claim: Claim, worker: str, lease_seconds: float, now: float
    ) -> Lease | None:
        """Take the job (None: someone holds it, or it is over or stale: then acked)."""
        ...

    async def renew(self, leases: list[Lease], lease_seconds: float) -> list[Renewal]: ...

    async def update(self, lease: Lease, changes: dict[str, Any]) -> bool:
        """Fenced write (False: the lease was lost to another worker)."""
        ...

    async def finish(self, lease: Lease, changes: dict[str, Any], retention: float) -> bool:
        """Fenced: final fields, lease and entry released."""
        ...

    async def hand_back(self, lease: Lease, changes: dict[str, Any], on_node: bool) -> bool:
        """Fenced: back to the queue at once (a draining worker)."""
        ...

    async def requeue(self, claim: Claim) -> None:
        """An entry read but never acquired goes back to the queue (draining)."""
        ...

    async def promote_due(self, now: float) -> int:
        """Scheduled jobs whose `join_at` has come, queued; how many."""
        ...

    def stop_requests(self) -> AsyncGenerator[str, None]:
        """Ids of jobs the API was asked to stop, as they come (pub/sub)."""
        ...
