"""The job stores the service tests run against (the in-process one and Redis on a
throwaway `redis-server`), and a queued job to put in them."""

from __future__ import annotations

import secrets
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from agent.service import BotRequest, JobRecord, JobStore, MemoryJobStore, RedisJobStore
from agent.service._store import new_job_id

REQUEST = BotRequest.model_validate({"meeting": {"node": "http://127.0.0.1:1", "alias": "meet"}})
KINDS = ("memory", "redis")


def queued_job(join_at: float | None = None) -> JobRecord:
    """A new queued job for `REQUEST` (scheduled when `join_at` is given)."""
    return JobRecord(
        id=new_job_id(),
        request=REQUEST.model_dump_json(),
        request_hash="h",
        state="queued",
        created_at=time.time(),
        join_at=join_at,
    )


@asynccontextmanager
async def open_store(kind: str, redis_url: str) -> AsyncIterator[JobStore]:
    """An open, empty store of `kind` ("memory" or "redis": its own key prefix)."""
    store: JobStore
    if kind == "memory":
        store = MemoryJobStore()
    else:
        store = RedisJobStore(redis_url, prefix=f"t{secrets.token_hex(4)}")
    await store.open()
    try:
        yield store
    finally:
        await store.aclose()
