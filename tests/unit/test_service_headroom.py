"""`CpuHeadroom`: the CPU budget's room for more bots, from measured CPU (a fake clock and
CPU counter), the container's limit for "auto", and a worker that claims within it."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from agent.service import JobHandle, JobOutcome, MemoryJobStore, Worker, WorkerSettings
from agent.service._headroom import CpuHeadroom, auto_budget, cgroup_cpu_limit
from tests.unit.test_service_worker import _create, _states, _until, running


class FakeCpu:
    """A process whose bots each burn `per_bot` cores, on a clock the test moves."""

    def __init__(self, per_bot: float, base: float = 0.0) -> None:
        self.now = 0.0
        self.cpu = 0.0
        self.per_bot = per_bot
        self.base = base
        self.bots = 0

    def advance(self, seconds: float) -> None:
        self.cpu += (self.base + self.per_bot * self.bots) * seconds
        self.now += seconds

    def headroom(self, budget: float, bot_cores: float = 0.05) -> CpuHeadroom:
        return CpuHeadroom(
            budget, bot_cores=bot_cores, cpu_seconds=lambda: self.cpu, clock=lambda: self.now
        )


def test_before_any_bot_the_default_cost_decides() -> None:
    cpu = FakeCpu(per_bot=0.2)
    room = cpu.headroom(1.0, bot_cores=0.1)
    assert room.room(0) == 10
    cpu.advance(1.0)
    assert room.room(0) == 10  # an idle process: the whole budget, at the default cost


def test_measured_cost_replaces_the_default() -> None:
    cpu = FakeCpu(per_bot=0.2)
    room = cpu.headroom(1.0, bot_cores=0.05)
    cpu.bots = 2
    room.room(2)
    for _ in range(6):  # a full window with two bots at 0.2 cores each
        cpu.advance(1.0)
        left = room.room(2)
    assert room.used == pytest.approx(0.4)
    assert room.bot_cores() == pytest.approx(0.2)
    assert left == 3  # (1.0 - 0.4) / 0.2


def test_a_spent_budget_has_no_room_and_it_comes_back_when_bots_leave() -> None:
    cpu = FakeCpu(per_bot=0.3)
    room = cpu.headroom(1.0)
    cpu.bots = 4
    room.room(4)
    for _ in range(6):
        cpu.advance(1.0)
        assert room.room(4) == 0  # 1.2 cores used of 1.0
    cpu.bots = 1
    for _ in range(7):  # the window forgets the four
        cpu.advance(1.0)
        left = room.room(1)
    assert room.used == pytest.approx(0.3)
    assert left == 2  # (1.0 - 0.3) / 0.3


def test_more_load_never_gives_more_room() -> None:
    results = []
    for per_bot in (0.01, 0.05, 0.1, 0.2, 0.4):
        cpu = FakeCpu(per_bot=per_bot)
        room = cpu.headroom(2.0)
        cpu.bots = 3
        room.room(3)
        for _ in range(6):
            cpu.advance(1.0)
            left = room.room(3)
        results.append(left)
    assert results == sorted(results, reverse=True)


def test_idle_bots_do_not_let_in_a_flood() -> None:
    cpu = FakeCpu(per_bot=0.0)
    room = cpu.headroom(1.0, bot_cores=0.1)
    cpu.bots = 2
    room.room(2)
    for _ in range(6):
        cpu.advance(1.0)
        left = room.room(2)
    # Two running bots at half the default cost (0.05) each, not at 0 (unbounded).
    assert left == 18


def test_budget_and_cost_must_be_positive() -> None:
    with pytest.raises(ValueError):
        CpuHeadroom(0)
    with pytest.raises(ValueError):
        CpuHeadroom(1.0, bot_cores=0)


def test_the_container_limit_sets_auto(tmp_path: Path) -> None:
    (tmp_path / "cpu.max").write_text("150000 100000\n")
    assert cgroup_cpu_limit(tmp_path) == 1.5
    assert auto_budget(tmp_path) == pytest.approx(1.2)
    (tmp_path / "cpu.max").write_text("max 100000\n")
    assert cgroup_cpu_limit(tmp_path) is None
    v1 = tmp_path / "v1"
    (v1 / "cpu").mkdir(parents=True)
    (v1 / "cpu" / "cpu.cfs_quota_us").write_text("50000\n")
    (v1 / "cpu" / "cpu.cfs_period_us").write_text("100000\n")
    assert cgroup_cpu_limit(v1) == 0.5
    (v1 / "cpu" / "cpu.cfs_quota_us").write_text("-1\n")
    assert cgroup_cpu_limit(v1) is None


def test_without_a_limit_auto_uses_the_usable_cpus(tmp_path: Path) -> None:
    import os

    assert auto_budget(tmp_path) == pytest.approx(0.8 * len(os.sched_getaffinity(0)))


class Burning:
    """A runner whose bots each add `per_bot` cores to the fake CPU while they run."""

    def __init__(self, cpu: FakeCpu) -> None:
        self.cpu = cpu
        self.peak = 0

    async def __call__(self, handle: JobHandle) -> JobOutcome:
        self.cpu.bots += 1
        self.peak = max(self.peak, self.cpu.bots)
        handle.report(state="in_call", joined_at=time.time())
        try:
            await handle.stop.wait()
        finally:
            self.cpu.bots -= 1
        return JobOutcome("left", detail=handle.stop_reason)


async def test_a_worker_claims_only_what_its_budget_holds() -> None:
    # Ten jobs, capacity 10, but a budget of 1 core at 0.3 core per bot: three fit.
    store = MemoryJobStore()
    await store.open()
    cpu = FakeCpu(per_bot=0.3)
    room = cpu.headroom(1.0, bot_cores=0.3)
    runner = Burning(cpu)
    settings = WorkerSettings(capacity=10, lease_seconds=2, drain_seconds=0.1)
    worker = Worker(store, settings, runner, name="w", headroom=room)
    ids = await _create(store, 10)

    async def ticking() -> None:
        while True:
            await asyncio.sleep(0.05)
            cpu.advance(0.5)  # fake seconds pass ten times faster

    ticker = asyncio.create_task(ticking())
    try:
        async with running(worker):

            async def three_in() -> bool:
                return (await _states(store, ids)).count("in_call") == 3

            await _until(three_in)
            await asyncio.sleep(1.5)  # several fake windows: still three
            assert (await _states(store, ids)).count("in_call") == 3
            assert runner.peak == 3
    finally:
        ticker.cancel()
        await asyncio.gather(ticker, return_exceptions=True)
        await store.aclose()
