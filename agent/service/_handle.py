"""What a job runner gets from its worker (`JobHandle`) and gives back (`JobOutcome`).

The handle carries the job, says whether the lease is surely still held (for the fenced
transport), signals when the bot must stop (a stop request, a drain, a lost lease) and
takes state reports, which a per-job writer stores in order, fenced, without ever making
the runner wait for Redis.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from ._store import JobRecord, Lease

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class JobOutcome:
    state: str  # "left" or "failed"
    reason: str | None = None
    detail: str = ""
    exit_code: int = 0
    artifacts: list[dict[str, Any]] = field(default_factory=list)
    #: The bot released its participant (left the meeting cleanly), or never joined.
    released: bool = True


class JobHandle:
    """The worker's side of one running job, as its runner sees it."""

    def __init__(
        self,
        lease: Lease,
        *,
        deadline: float,
        write: Callable[[dict[str, Any]], Awaitable[bool]],
        resumed: bool,
    ) -> None:
        self.lease = lease
        self.resumed = resumed
        #: Monotonic time until which the lease is surely this worker's.
        self.deadline = deadline
        self.stop = asyncio.Event()
        self.stop_reason = ""
        #: Set when the worker must not write anything more for the job.
        self.quiet = False
        self.lost = False
        #: The runner is done and its end is being stored (finish or hand back): a lease
        #: the store no longer renews from then on was ended by that, not taken over.
        self.settling = False
        self._write = write
        self._pending: dict[str, Any] = {}
        self._dirty = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._writer: asyncio.Task[None] | None = None

    @property
    def job(self) -> JobRecord:
        return self.lease.job

    def lease_valid(self) -> bool:
        return time.monotonic() < self.deadline

    def request_stop(self, reason: str) -> None:
        if not self.stop.is_set():
            self.stop_reason = reason
            self.stop.set()

    def report(self, **changes: Any) -> None:
        """Store these fields (coalesced with others not yet written; never blocks)."""
        if self.quiet:
            return
        self._pending.update(changes)
        self._idle.clear()
        self._dirty.set()
        if self._writer is None:
            self._writer = asyncio.create_task(self._write_loop(), name=f"report:{self.job.id}")

    async def _write_loop(self) -> None:
        while True:
            await self._dirty.wait()
            self._dirty.clear()
            changes, self._pending = self._pending, {}
            if changes and not self.quiet:
                try:
                    if not await self._write(changes):
                        self.lost = True
                        self.quiet = True
                        self.request_stop("Lease lost to another worker")
                except Exception as exc:  # the store is unreachable: the heartbeat decides
                    log.warning("job %s: state not stored (%s)", self.job.id, exc)
            if not self._pending:
                self._idle.set()

    async def flush(self, timeout: float = 5.0) -> None:
        """Wait (bounded) until every report so far was written."""
        try:
            async with asyncio.timeout(timeout):
                await self._idle.wait()
        except TimeoutError:
            log.warning("job %s: state reports still pending", self.job.id)

    async def aclose(self) -> None:
        if self._writer is not None:
            self._writer.cancel()
            await asyncio.gather(self._writer, return_exceptions=True)
            self._writer = None


class JobRunner(Protocol):
    """Runs one job to its end (the worker's bot runner, or a benchmark's dummy)."""

    async def __call__(self, handle: JobHandle) -> JobOutcome: ...
