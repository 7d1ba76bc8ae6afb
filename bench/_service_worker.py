"""One benchmark worker process: `python -m bench._service_worker URL PREFIX NAME CAPACITY`.

A real `agent.service.Worker` on Redis whose jobs are dummies (no bot, no media): each
ends as soon as it is acquired, so what is measured is the dispatch path alone.
"""

from __future__ import annotations

import asyncio
import sys

from agent.service import (
    JobHandle,
    JobOutcome,
    RedisJobStore,
    WorkerSettings,
    work,
)


class Dummy:
    async def __call__(self, handle: JobHandle) -> JobOutcome:
        return JobOutcome("left", detail="dummy")


def main() -> None:
    url, prefix, name, capacity = sys.argv[1:5]
    settings = WorkerSettings(capacity=int(capacity), lease_seconds=30, drain_seconds=1)
    store = RedisJobStore(url, prefix=prefix)
    print("ready", flush=True)
    worker = asyncio.run(work(store, settings, Dummy(), name))
    print(f"finished {worker.finished}", flush=True)


if __name__ == "__main__":
    main()
