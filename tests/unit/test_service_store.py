"""The job store contract, run against Redis (a real `redis-server` on a free port) and
against the in-process store: both must behave the same."""

from __future__ import annotations

import asyncio
import time

from agent.service import Claim, JobStore, LeaveOutcome, Renewal
from tests.support.job_stores import queued_job


async def _claim(store: JobStore, consumer: str = "w1") -> Claim:
    claims = await store.read_new(consumer, 1, block=1.0)
    assert len(claims) == 1
    return claims[0]


async def test_create_read_acquire(store: JobStore) -> None:
    job, created = await store.create(queued_job(), None, 60)
    assert created and job.state == "queued" and job.entry
    claim = await _claim(store)
    assert claim.job_id == job.id
    lease = await store.acquire(claim, "w1", 5, time.time())
    assert lease is not None and lease.fence == 1 and not lease.predecessor_on_node
    assert lease.job.state == "joining" and lease.job.attempts == 1
    # Held: nobody else gets it, not even through the same entry.
    assert await store.acquire(claim, "w2", 5, time.time()) is None
    stored = await store.get(job.id)
    assert stored is not None and stored.worker == "w1" and stored.on_node


async def test_idempotency_key_returns_the_firstqueued_job(store: JobStore) -> None:
    first, made = await store.create(queued_job(), "key-1", 60)
    again, made_again = await store.create(queued_job(), "key-1", 60)
    other, made_other = await store.create(queued_job(), "key-2", 60)
    assert made and not made_again and made_other
    assert again.id == first.id and other.id != first.id
    # Only two jobs were queued.
    claims = await store.read_new("w1", 10, block=0.2)
    assert sorted(c.job_id for c in claims) == sorted([first.id, other.id])


async def test_scheduled_job_waits_for_its_time(store: JobStore) -> None:
    now = time.time()
    job, _ = await store.create(queued_job(join_at=now + 3600), None, 60)
    assert job.state == "scheduled"
    assert await store.read_new("w1", 1, block=0.2) == []
    assert await store.promote_due(now) == 0
    assert await store.promote_due(now + 3600) == 1
    stored = await store.get(job.id)
    assert stored is not None and stored.state == "queued"
    assert (await _claim(store)).job_id == job.id


async def test_pages_newest_first_with_a_state_filter(store: JobStore) -> None:
    ids = [(await store.create(queued_job(), None, 60))[0].id for _ in range(5)]
    scheduled, _ = await store.create(queued_job(join_at=time.time() + 3600), None, 60)
    seen: list[str] = []
    cursor = None
    while True:
        page, cursor = await store.page("queued", cursor, 2)
        seen += [j.id for j in page]
        assert all(j.state == "queued" for j in page)
        if cursor is None:
            break
    assert seen == ids[::-1]
    everything, _ = await store.page(None, None, 100)
    assert [j.id for j in everything] == [scheduled.id, *ids[::-1]]
    only, more = await store.page("scheduled", None, 10)
    assert [j.id for j in only] == [scheduled.id] and more is None


async def test_a_paused_holder_is_fenced_off_and_its_job_taken_over(store: JobStore) -> None:
    job, _ = await store.create(queued_job(), None, 60)
    old = await store.acquire(await _claim(store, "a"), "a", 0.3, time.time())
    assert old is not None
    assert await store.update(old, {"state": "in_call", "token_seconds": 7.0})
    # "a" stops heart-beating: its entry goes idle and its lease expires.
    assert await store.reclaim("b", 5, min_idle=0.6) == []
    await asyncio.sleep(0.7)
    claims = await store.reclaim("b", 5, min_idle=0.6)
    assert [c.job_id for c in claims] == [job.id]
    new = await store.acquire(claims[0], "b", 5, time.time())
    assert new is not None and new.fence == 2
    # The successor learns a bot of the job may still be in the meeting, and for how long.
    assert new.predecessor_on_node and new.predecessor_token_seconds == 7.0
    # "a" comes back: every write and the renewal are refused.
    assert await store.renew([old], 5) == [Renewal(False)]
    assert not await store.update(old, {"state": "leaving"})
    assert not await store.finish(old, {"state": "left"}, 60)
    assert not await store.hand_back(old, {}, on_node=False)
    assert await store.finish(new, {"state": "left", "detail": "done", "exit_code": 0}, 60)
    stored = await store.get(job.id)
    assert stored is not None
    assert (stored.state, stored.attempts, stored.worker, stored.on_node) == ("left", 2, "", False)


async def test_heartbeats_keep_a_job_from_being_reclaimed(store: JobStore) -> None:
    await store.create(queued_job(), None, 60)
    lease = await store.acquire(await _claim(store, "a"), "a", 0.4, time.time())
    assert lease is not None
    for _ in range(6):
        await asyncio.sleep(0.15)
        (renewal,) = await store.renew([lease], 0.4)
        assert renewal.held and not renewal.leave_requested
        assert await store.reclaim("b", 5, min_idle=0.5) == []


async def test_leave_of_a_queued_job_cancels_it(store: JobStore) -> None:
    job, _ = await store.create(queued_job(), None, 60)
    claim = await _claim(store)
    assert await store.request_leave(job.id, time.time()) == LeaveOutcome.CANCELLED
    stored = await store.get(job.id)
    assert stored is not None and stored.state == "left" and stored.leave_requested
    assert await store.acquire(claim, "w1", 5, time.time()) is None  # and acked
    assert await store.reclaim("w2", 5, min_idle=0) == []
    assert await store.request_leave(job.id, time.time()) == LeaveOutcome.FINISHED
    assert await store.request_leave("bot_nope", time.time()) == LeaveOutcome.NOT_FOUND


async def test_leave_of_a_running_job_reaches_its_worker(store: JobStore) -> None:
    job, _ = await store.create(queued_job(), None, 60)
    lease = await store.acquire(await _claim(store), "w1", 5, time.time())
    assert lease is not None
    stops = store.stop_requests()
    listening = asyncio.ensure_future(anext(stops))
    await asyncio.sleep(0.2)  # subscribed
    assert await store.request_leave(job.id, time.time()) == LeaveOutcome.REQUESTED
    assert await asyncio.wait_for(listening, 2) == job.id
    await stops.aclose()
    (renewal,) = await store.renew([lease], 5)
    assert renewal.held and renewal.leave_requested


async def test_hand_back_queues_the_job_at_once(store: JobStore) -> None:
    job, _ = await store.create(queued_job(), None, 60)
    lease = await store.acquire(await _claim(store, "a"), "a", 30, time.time())
    assert lease is not None
    assert await store.hand_back(lease, {"detail": "drained"}, on_node=False)
    stored = await store.get(job.id)
    assert stored is not None and (stored.state, stored.worker) == ("queued", "")
    claim = await _claim(store, "b")  # no waiting for the 30 s lease
    new = await store.acquire(claim, "b", 30, time.time())
    assert new is not None and new.fence == 2 and not new.predecessor_on_node


async def test_requeue_of_an_entry_never_acquired(store: JobStore) -> None:
    job, _ = await store.create(queued_job(), None, 60)
    claim = await _claim(store, "a")
    await store.requeue(claim)
    again = await _claim(store, "b")
    assert again.job_id == job.id and again.entry != claim.entry
    assert await store.acquire(claim, "a", 5, time.time()) is None  # the old entry is stale
    assert await store.acquire(again, "b", 5, time.time()) is not None


async def test_finished_jobs_expire_after_their_retention(store: JobStore) -> None:
    job, _ = await store.create(queued_job(), None, 60)
    lease = await store.acquire(await _claim(store), "w1", 5, time.time())
    assert lease is not None
    assert await store.finish(lease, {"state": "failed", "reason": "invalid_pin"}, 1)
    stored = await store.get(job.id)
    assert stored is not None and stored.reason == "invalid_pin"
    await asyncio.sleep(1.3)
    assert await store.get(job.id) is None
    page, _ = await store.page("failed", None, 10)
    assert page == []
