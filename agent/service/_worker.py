"""`Worker`: claims jobs up to its capacity and runs each (a bot) under a lease.

Four owned loops:
- claims: new stream entries (XREADGROUP), as many as there are free slots;
- upkeep: queues scheduled jobs whose time has come, and reclaims entries whose worker
  went silent (XAUTOCLAIM, idle longer than a lease) while there are free slots;
- heartbeat: renews every lease in one round trip (and marks each entry as alive); a lost
  lease stops that bot at once, a stop request found here stops it too (a fallback for
  a missed pub/sub message);
- stops: the pub/sub stop channel, so a stop reaches the bot in well under a second.

Taking over a job whose earlier bot may still be in the meeting (its worker died or
froze), the worker first waits out that bot's token lifetime: the node drops a
participant whose token was not refreshed, and the old worker can no longer refresh
(its lease is gone, see `_fence.py`). So the node never shows two bots for one job.

`drain()` (SIGTERM): no new claims; running bots get `drain_seconds` to finish; the rest
leave cleanly and their jobs go straight back to the queue (another worker takes them
at once; a resumed recorder continues the same session).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ..runtime.states import EXIT_CODES, FailureReason
from ._handle import JobHandle, JobOutcome, JobRunner
from ._headroom import DEFAULT_BOT_CORES, CpuHeadroom
from ._store import Claim, JobStore, Lease

log = logging.getLogger(__name__)

#: How much sooner than the lease's TTL the worker itself treats it as gone: covers the
#: round trip of the renewal and clock-rate differences.
LEASE_MARGIN = 0.5
#: XAUTOCLAIM waits this much past a lease before it calls an entry abandoned, so the
#: lease has surely expired by the time the job is acquired.
IDLE_MARGIN = 0.25


class WorkerSettings(BaseModel):
    """A worker's capacity, lease, drain and takeover settings."""

    model_config = ConfigDict(extra="forbid")

    capacity: int = Field(ge=1, description="bots at once")
    #: Cores the worker's bots may use together (None: `capacity` alone decides); see
    #: `_headroom.py`.
    cpu_budget: float | None = Field(default=None, gt=0)
    #: A bot's cost before one has been measured (cores).
    bot_cores: float = Field(default=DEFAULT_BOT_CORES, gt=0)
    lease_seconds: float = Field(default=10.0, ge=1.0)
    #: Renewal interval (default: a quarter of the lease).
    heartbeat_seconds: float | None = Field(default=None, gt=0)
    reclaim_seconds: float = Field(default=1.0, gt=0)
    #: SIGTERM: how long running bots may go on before their jobs are handed back.
    drain_seconds: float = Field(default=30.0, ge=0)
    #: How long a finished job stays readable through the API.
    retention_seconds: float = Field(default=7 * 86400.0, gt=0)
    #: Wait out a predecessor's token before joining in its place (see the module doc).
    wait_out_tokens: bool = True
    #: Added to the predecessor's token lifetime (the node's reaping, clock differences).
    takeover_margin: float = Field(default=2.0, ge=0)
    #: Token lifetime assumed when the predecessor never reported one (Pexip: 120 s).
    default_token_seconds: float = Field(default=120.0, gt=0)

    @property
    def heartbeat(self) -> float:
        return self.heartbeat_seconds or self.lease_seconds / 4


def worker_name() -> str:
    """host-pid-random: unique among the group's consumers, readable in `XINFO`."""
    return f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(2)}"


@dataclass
class _Running:
    claim: Claim
    task: asyncio.Task[None]
    handle: JobHandle | None = None
    handing_back: bool = False


class Worker:
    """Claims and runs jobs from a store (see the module doc); `run()` until drained."""

    def __init__(
        self,
        store: JobStore,
        settings: WorkerSettings,
        runner: JobRunner,
        *,
        name: str | None = None,
        clock: Callable[[], float] = time.time,
        headroom: CpuHeadroom | None = None,
    ) -> None:
        self.store = store
        self.settings = settings
        self.runner = runner
        self.name = name or worker_name()
        self._clock = clock
        if headroom is None and settings.cpu_budget is not None:
            headroom = CpuHeadroom(settings.cpu_budget, bot_cores=settings.bot_cores)
        self.headroom = headroom
        self.running: dict[str, _Running] = {}
        self._draining = asyncio.Event()
        self._drain_deadline = 0.0  # monotonic: the signal plus drain_seconds
        self._slot_freed = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        #: Counters for tests, logs and benchmarks.
        self.started = 0
        self.finished = 0
        self.handed_back = 0
        self.lost = 0
        self.reclaimed = 0

    # -- control ---------------------------------------------------------------------

    def drain(self) -> None:
        """Stop claiming; running jobs finish or are handed back (see `run`)."""
        if not self._draining.is_set():
            log.info("worker %s draining (%d running)", self.name, len(self.running))
            # From the signal: the orchestrator's grace period counts from there too.
            self._drain_deadline = time.monotonic() + self.settings.drain_seconds
            self._draining.set()

    @property
    def free(self) -> int:
        """Jobs to claim now: free slots, and no more than the CPU budget has room for."""
        slots = self.settings.capacity - len(self.running)
        if self.headroom is not None and slots > 0:
            slots = min(slots, self.headroom.room(len(self.running)))
        return slots

    async def run(self) -> None:
        """Until `drain()` and then every job finished or handed back."""
        await self.store.open()
        budget = self.headroom.budget if self.headroom is not None else None
        log.info(
            "worker %s ready (capacity %d%s)",
            self.name,
            self.settings.capacity,
            f", CPU budget {budget:g} cores" if budget is not None else "",
        )
        loops: list[tuple[str, Callable[[], Coroutine[Any, Any, None]]]] = [
            ("claims", self._claims),
            ("upkeep", self._upkeep),
            ("heartbeat", self._heartbeat),
            ("stops", self._stops),
        ]
        self._tasks = [asyncio.create_task(fn(), name=f"worker:{n}") for n, fn in loops]
        try:
            await self._draining.wait()
            await self._drain()
        finally:
            for task in self._tasks:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            jobs = [r.task for r in self.running.values()]
            for task in jobs:
                task.cancel()
            await asyncio.gather(*jobs, return_exceptions=True)

    async def _drain(self) -> None:
        # The claim and upkeep loops end by themselves within a blocking read (cancelling
        # one mid-read could strand an entry it was being handed).
        await asyncio.gather(self._tasks[0], self._tasks[1], return_exceptions=True)
        pending = [r.task for r in self.running.values()]
        if pending:
            # What the loops took to end (up to a blocking read) comes out of the budget.
            left = max(self._drain_deadline - time.monotonic(), 0.0)
            await asyncio.wait(pending, timeout=left)
        leftovers = list(self.running.values())
        for running in leftovers:
            running.handing_back = True
            if running.handle is not None:
                running.handle.request_stop("Worker draining; handed back")
        if leftovers:
            log.info("worker %s: handing back %d job(s)", self.name, len(leftovers))
            await asyncio.gather(*(r.task for r in leftovers), return_exceptions=True)

    # -- loops -----------------------------------------------------------------------

    async def _guarded(self, what: str, step: Callable[[], Coroutine[Any, Any, None]]) -> None:
        try:
            await step()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("worker %s: %s failed: %s", self.name, what, exc)
            await asyncio.sleep(1.0)

    async def _claims(self) -> None:
        async def step() -> None:
            free = self.free
            if free <= 0:
                self._slot_freed.clear()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(1.0):
                        await self._slot_freed.wait()
                return
            for claim in await self.store.read_new(self.name, free, block=1.0):
                self._start(claim)

        while not self._draining.is_set():
            await self._guarded("reading new jobs", step)

    async def _upkeep(self) -> None:
        async def step() -> None:
            await self.store.promote_due(self._clock())
            free = self.free
            if free > 0:
                idle = self.settings.lease_seconds + IDLE_MARGIN
                for claim in await self.store.reclaim(self.name, free, idle):
                    self.reclaimed += 1
                    self._start(claim)
            await asyncio.sleep(self.settings.reclaim_seconds)

        while not self._draining.is_set():
            await self._guarded("reclaiming", step)

    async def _heartbeat(self) -> None:
        async def step() -> None:
            await asyncio.sleep(self.settings.heartbeat)
            held = [(r, r.handle) for r in self.running.values() if r.handle is not None]
            leases = [h.lease for _, h in held if not h.lost]
            sent = time.monotonic()
            try:
                renewals = await self.store.renew(leases, self.settings.lease_seconds)
            except Exception:
                self._expire_overdue()
                raise
            valid_until = sent + self.settings.lease_seconds - LEASE_MARGIN
            by_id = {h.lease.job.id: h for _, h in held}
            for lease, renewal in zip(leases, renewals, strict=True):
                handle = by_id[lease.job.id]
                if not renewal.held:
                    if not handle.settling:
                        self._lose(handle, "Lease lost to another worker")
                    continue
                handle.deadline = valid_until
                if renewal.leave_requested:
                    self._stop(handle)

        while True:
            await self._guarded("heartbeat", step)

    def _expire_overdue(self) -> None:
        """The store cannot be reached: leases past their deadline are treated as lost."""
        now = time.monotonic()
        for running in self.running.values():
            handle = running.handle
            if handle is not None and not handle.lost and handle.deadline <= now:
                self._lose(handle, "Lease expired: job store unreachable")

    async def _stops(self) -> None:
        async def step() -> None:
            async for job_id in self.store.stop_requests():
                running = self.running.get(job_id)
                if running is not None and running.handle is not None:
                    self._stop(running.handle)

        while True:
            await self._guarded("stop channel", step)

    def _stop(self, handle: JobHandle) -> None:
        if handle.stop.is_set():
            return
        log.info("job %s: stop requested", handle.job.id)
        handle.report(stop_received_at=self._clock())
        handle.request_stop("Stopped by API request")

    def _lose(self, handle: JobHandle, why: str) -> None:
        if handle.lost:
            return
        log.warning("job %s: %s", handle.job.id, why)
        self.lost += 1
        handle.lost = True
        handle.quiet = True
        handle.deadline = 0.0  # the fenced transport refuses everything but a release
        handle.request_stop(why)

    # -- one job -----------------------------------------------------------------------

    def _start(self, claim: Claim) -> None:
        if claim.job_id in self.running:
            return  # already ours (a duplicate delivery)
        task = asyncio.create_task(self._job(claim), name=f"job:{claim.job_id}")
        self.running[claim.job_id] = _Running(claim, task)

    async def _job(self, claim: Claim) -> None:
        try:
            await self._run_job(claim)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("job %s: worker error", claim.job_id)
        finally:
            self.running.pop(claim.job_id, None)
            self._slot_freed.set()

    async def _run_job(self, claim: Claim) -> None:
        running = self.running[claim.job_id]
        if self._draining.is_set():
            await self.store.requeue(claim)
            return
        sent = time.monotonic()
        lease = await self.store.acquire(
            claim, self.name, self.settings.lease_seconds, self._clock()
        )
        if lease is None:
            return
        self.started += 1
        handle = JobHandle(
            lease,
            deadline=sent + self.settings.lease_seconds - LEASE_MARGIN,
            write=lambda changes: self.store.update(lease, changes),
            resumed=lease.job.attempts > 1,
        )
        running.handle = handle
        if lease.job.leave_requested:
            self._stop(handle)
        try:
            outcome = await self._wait_then_run(handle)
            await handle.flush()
            handle.settling = True
            await self._settle(running, handle, outcome)
        finally:
            await handle.aclose()

    async def _wait_then_run(self, handle: JobHandle) -> JobOutcome:
        lease = handle.lease
        if lease.predecessor_on_node and self.settings.wait_out_tokens:
            token = lease.predecessor_token_seconds or self.settings.default_token_seconds
            wait = token + self.settings.takeover_margin
            log.info("job %s: waiting %.1f s for the previous bot's token", lease.job.id, wait)
            handle.report(detail=f"waiting {wait:.0f} s for the previous bot to be gone")
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait):
                    await handle.stop.wait()
        if handle.stop.is_set():
            # Stopped (or drained) before the bot started: the predecessor's state stands.
            return JobOutcome(
                "left", detail=handle.stop_reason, released=not lease.predecessor_on_node
            )
        try:
            return await self.runner(handle)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.exception("job %s: runner crashed", lease.job.id)
            reason = FailureReason.INTERNAL
            return JobOutcome("failed", reason, type(exc).__name__, EXIT_CODES[reason])

    async def _settle(self, running: _Running, handle: JobHandle, outcome: JobOutcome) -> None:
        lease: Lease = handle.lease
        if handle.lost:
            log.info("job %s: left after losing the lease", lease.job.id)
            return
        if running.handing_back:
            changes: dict[str, Any] = {"detail": "handed back by a draining worker"}
            if await self.store.hand_back(lease, changes, on_node=not outcome.released):
                self.handed_back += 1
            return
        changes = {
            "state": outcome.state,
            "reason": outcome.reason,
            "detail": outcome.detail,
            "exit_code": outcome.exit_code,
            "ended_at": self._clock(),
            "artifacts": outcome.artifacts,
        }
        if await self.store.finish(lease, changes, self.settings.retention_seconds):
            self.finished += 1
        else:
            self.lost += 1
            log.warning("job %s: finished, but another worker holds it now", lease.job.id)
