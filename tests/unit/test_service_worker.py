"""The worker's loops with a stand-in runner (no media), on Redis and on the in-process
store: jobs run to the end, a stop comes through pub/sub, a drain hands jobs back, a dead
worker's jobs are reclaimed."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any

from agent.service import (
    Claim,
    JobHandle,
    JobOutcome,
    JobStore,
    LeaveOutcome,
    MemoryJobStore,
    Worker,
    WorkerSettings,
)
from tests.support.job_stores import queued_job


class Runner:
    """Stays `seconds` in its 'meeting' unless stopped; records what it was given."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.runs: list[tuple[str, bool, float]] = []  # (job, resumed, started)
        self.stopped: dict[str, float] = {}

    async def __call__(self, handle: JobHandle) -> JobOutcome:
        self.runs.append((handle.job.id, handle.resumed, time.monotonic()))
        handle.report(state="in_call", joined_at=handle.job.joined_at or time.time())
        try:
            async with asyncio.timeout(self.seconds):
                await handle.stop.wait()
        except TimeoutError:
            return JobOutcome("left", detail="done")
        self.stopped[handle.job.id] = time.monotonic()
        return JobOutcome("left", detail=handle.stop_reason)


async def _create(store: JobStore, n: int) -> list[str]:
    ids = []
    for _ in range(n):
        ids.append((await store.create(queued_job(), None, 60))[0].id)
    return ids


async def _until(check: object, timeout: float = 10.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if await check():  # type: ignore[operator]
            return
        await asyncio.sleep(0.05)
    raise AssertionError("condition not met in time")


async def _states(store: JobStore, ids: list[str]) -> list[str]:
    return [j.state for j in [await store.get(i) for i in ids] if j is not None]


@contextlib.asynccontextmanager
async def running(worker: Worker) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(worker.run())
    try:
        yield task
    finally:
        worker.drain()
        await asyncio.wait_for(task, 30)


async def test_jobs_run_to_the_end_within_capacity(store: JobStore) -> None:
    runner = Runner(0.3)
    worker = Worker(store, WorkerSettings(capacity=2, lease_seconds=2), runner, name="w")
    ids = await _create(store, 5)
    async with running(worker):

        async def all_left() -> bool:
            return await _states(store, ids) == ["left"] * 5

        await _until(all_left)
    jobs = [await store.get(i) for i in ids]
    assert all(j is not None and j.detail == "done" and j.attempts == 1 for j in jobs)
    # Never more than two at once: the third started after the first two ended.
    starts = sorted(t for _, _, t in runner.runs)
    assert starts[2] - starts[0] >= 0.25
    assert worker.finished == 5


async def test_a_stop_reaches_the_right_worker_through_pubsub(store: JobStore) -> None:
    # Heartbeats 30 s apart: only the stop channel can be this fast.
    settings = WorkerSettings(capacity=1, lease_seconds=120, drain_seconds=0.1)
    a_runner, b_runner = Runner(60), Runner(60)
    a = Worker(store, settings, a_runner, name="a")
    b = Worker(store, settings, b_runner, name="b")
    ids = await _create(store, 2)
    async with running(a), running(b):

        async def both_in() -> bool:
            return await _states(store, ids) == ["in_call"] * 2

        await _until(both_in)
        target = ids[0]
        owner = (await store.get(target)).worker  # type: ignore[union-attr]
        asked = time.time()
        assert await store.request_leave(target, asked) == LeaveOutcome.REQUESTED

        async def stopped() -> bool:
            job = await store.get(target)
            return job is not None and job.state == "left"

        await _until(stopped, 5)
        job = await store.get(target)
        assert job is not None and job.stop_received_at is not None
        assert job.stop_received_at - asked < 1.0
        assert job.detail == "Stopped by API request"
        # The other job's worker was not disturbed.
        other = await store.get(ids[1])
        assert other is not None and other.state == "in_call"
        owner_runner = a_runner if owner == "a" else b_runner
        assert list(owner_runner.stopped) == [target]


async def test_drain_hands_jobs_back_and_another_worker_resumes_them(store: JobStore) -> None:
    settings = WorkerSettings(capacity=2, lease_seconds=30, drain_seconds=0.3)
    first, second = Runner(60), Runner(60)
    a = Worker(store, settings, first, name="a")
    ids = await _create(store, 2)
    task = asyncio.create_task(a.run())

    async def both_in() -> bool:
        return await _states(store, ids) == ["in_call"] * 2

    await _until(both_in)
    b = Worker(store, settings, second, name="b")
    async with running(b):
        a.drain()
        await asyncio.wait_for(task, 10)
        assert a.handed_back == 2 and a.finished == 0
        drained = time.monotonic()

        async def resumed() -> bool:
            return len(second.runs) == 2

        # At once: no lease to wait for, no token to wait out (the bots left cleanly).
        await _until(resumed, 5)
        assert all(r for _, r, _ in second.runs)
        assert max(t for _, _, t in second.runs) - drained < 2.0
        jobs = [await store.get(i) for i in ids]
        assert all(j is not None and j.worker == "b" and j.attempts == 2 for j in jobs)


class SlowReads(MemoryJobStore):
    """Once `slow`, a read of new jobs finds nothing and takes 1.5 s doing so (a busy
    Redis under a long blocking read); `reading` is set while one is under way."""

    def __init__(self) -> None:
        super().__init__()
        self.slow = False
        self.reading = asyncio.Event()

    async def read_new(self, consumer: str, count: int, block: float) -> list[Claim]:
        if not self.slow:
            return await super().read_new(consumer, count, block)
        self.reading.set()
        try:
            await asyncio.sleep(1.5)
            return []
        finally:
            self.reading.clear()


async def test_the_drain_deadline_counts_from_the_signal() -> None:
    # SIGTERM lands while the claim loop is in a slow read: the read's time comes out of
    # the drain budget (the orchestrator's grace period started with the signal), so the
    # jobs are handed back drain_seconds after the signal, not a read later.
    store = SlowReads()
    await store.open()
    settings = WorkerSettings(capacity=3, lease_seconds=30, drain_seconds=2.0)
    runner = Runner(60)
    worker = Worker(store, settings, runner, name="a")
    ids = await _create(store, 2)
    task = asyncio.create_task(worker.run())

    async def both_in() -> bool:
        return await _states(store, ids) == ["in_call"] * 2

    await _until(both_in)
    store.slow = True
    await asyncio.wait_for(store.reading.wait(), 5)
    signalled = time.monotonic()
    worker.drain()
    await asyncio.wait_for(task, 10)
    assert worker.handed_back == 2
    stopped = [at - signalled for at in runner.stopped.values()]
    assert len(stopped) == 2 and all(2.0 <= s < 2.8 for s in stopped), stopped
    await store.aclose()


async def test_a_dead_worker_s_jobs_are_reclaimed_within_the_bound(store: JobStore) -> None:
    settings = WorkerSettings(
        capacity=3,
        lease_seconds=1,
        reclaim_seconds=0.2,
        drain_seconds=0.1,
        takeover_margin=0.1,
        default_token_seconds=0.5,
    )
    first, second = Runner(60), Runner(60)
    a = Worker(store, settings, first, name="a")
    ids = await _create(store, 3)
    task = asyncio.create_task(a.run())

    async def all_in() -> bool:
        return await _states(store, ids) == ["in_call"] * 3

    await _until(all_in)
    # "a" dies: its loops stop, nothing is released or written.
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    died = time.monotonic()
    b = Worker(store, settings, second, name="b")
    async with running(b):

        async def resumed() -> bool:
            return len(second.runs) == 3

        await _until(resumed, 10)
    # lease (1) + idle margin + reclaim interval (0.2) + the old bot's token (0.5 + 0.1).
    bound = 1 + 0.25 + 0.2 + 0.6 + 0.5
    assert max(t for _, _, t in second.runs) - died <= bound
    assert all(r for _, r, _ in second.runs)


async def test_a_scheduled_job_starts_at_its_time(store: JobStore) -> None:
    runner = Runner(0.1)
    settings = WorkerSettings(capacity=2, lease_seconds=2, reclaim_seconds=0.1, drain_seconds=0.1)
    worker = Worker(store, settings, runner, name="w")
    join_at = time.time() + 1.0
    await store.create(queued_job(join_at), None, 60)
    async with running(worker):

        async def started() -> bool:
            return len(runner.runs) == 1

        await _until(started, 5)
        assert time.time() >= join_at
        assert time.time() - join_at < 1.0


class _SlowFinish(MemoryJobStore):
    """Stores a job's end, then answers only after a heartbeat renewed meanwhile (a slow
    round trip under load: the heartbeat sees the lease already ended)."""

    def __init__(self) -> None:
        super().__init__()
        self.renewed_after_finish = asyncio.Event()
        self._finished = False

    async def renew(self, leases: list[Any], lease_seconds: float) -> list[Any]:
        renewals = await super().renew(leases, lease_seconds)
        if self._finished and leases:
            self.renewed_after_finish.set()
        return renewals

    async def finish(self, lease: Any, changes: dict[str, Any], retention: float) -> bool:
        done = await super().finish(lease, changes, retention)
        self._finished = True
        await asyncio.wait_for(self.renewed_after_finish.wait(), 5)
        return done


async def test_a_heartbeat_during_the_finish_is_no_lost_lease() -> None:
    store = _SlowFinish()
    await store.open()
    settings = WorkerSettings(capacity=1, lease_seconds=2, heartbeat_seconds=0.05)
    worker = Worker(store, settings, Runner(0.2), name="w")
    (job_id,) = await _create(store, 1)
    try:
        async with running(worker):

            async def left() -> bool:
                return await _states(store, [job_id]) == ["left"]

            await _until(left)
            await asyncio.wait_for(store.renewed_after_finish.wait(), 5)
        assert (worker.finished, worker.lost) == (1, 0)
    finally:
        await store.aclose()
