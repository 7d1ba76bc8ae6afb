"""The roster: joins, leaves and changes, and no spurious ones across reconnect resyncs."""

from __future__ import annotations

import random
from typing import Any

import pytest

from agent.infinity.events import EventStream, StreamInterrupted, StreamItem, StreamOpened
from agent.infinity.models import events as ev
from agent.infinity.models.participant import ParticipantInfo
from agent.infinity.roster import Changed, Joined, Left, Roster, RosterChange, changed_fields
from tests.support.fakes_events import (
    ALIAS,
    Conn,
    FakeTransport,
    Sleeps,
    TokenBox,
    api_for,
    participant,
    sse,
    sync,
)


def info(uuid: str, **fields: Any) -> ParticipantInfo:
    return ParticipantInfo.model_validate(participant(uuid, **fields))


def create(uuid: str, **fields: Any) -> ev.ParticipantCreate:
    return ev.ParticipantCreate(participant=info(uuid, **fields))


def update(uuid: str, **fields: Any) -> ev.ParticipantUpdate:
    return ev.ParticipantUpdate(participant=info(uuid, **fields))


def delete(uuid: str) -> ev.ParticipantDelete:
    return ev.ParticipantDelete(uuid=uuid)


BEGIN = ev.ParticipantSyncBegin()
END = ev.ParticipantSyncEnd()


def apply_all(roster: Roster, events: list[StreamItem]) -> list[RosterChange]:
    changes: list[RosterChange] = []
    for event in events:
        changes += roster.apply(event)
    return changes


def resync(roster: Roster, *creates: ev.ParticipantCreate) -> list[RosterChange]:
    """A full sync; checks that nothing is reported before its end."""
    assert roster.apply(BEGIN) == []
    for c in creates:
        assert roster.apply(c) == []
    return roster.apply(END)


def test_initial_sync_joins_everyone_in_order() -> None:
    roster = Roster()
    changes = resync(roster, create("a"), create("b"), create("c"))
    # Everyone in the first sync was there before the roster's owner joined.
    assert changes == [
        Joined(info("a"), initial=True),
        Joined(info("b"), initial=True),
        Joined(info("c"), initial=True),
    ]
    assert len(roster) == 3
    assert list(roster.participants) == ["a", "b", "c"]
    assert roster.get("b") == info("b")
    assert roster.get("zzz") is None
    assert "a" in roster


def test_identical_resync_reports_nothing() -> None:
    roster = Roster()
    resync(roster, create("a"), create("b", is_muted="YES"))
    assert resync(roster, create("b", is_muted="YES"), create("a")) == []
    assert len(roster) == 2


def test_resync_detects_leave_join_and_change_during_an_outage() -> None:
    roster = Roster()
    resync(roster, create("a"), create("b"), create("c"))
    changes = resync(roster, create("a", is_muted="YES", buzz_time=5), create("c"), create("d"))
    assert changes == [
        Left(info("b")),
        Changed(
            info("a"), info("a", is_muted="YES", buzz_time=5), frozenset({"is_muted", "buzz_time"})
        ),
        Joined(info("d")),
    ]
    assert set(roster.participants) == {"a", "c", "d"}


def test_roster_keeps_the_old_list_until_the_sync_ends() -> None:
    roster = Roster()
    resync(roster, create("a"))
    roster.apply(BEGIN)
    assert roster.syncing
    roster.apply(create("b"))
    assert list(roster.participants) == ["a"]
    assert roster.apply(END) == [Left(info("a")), Joined(info("b"))]
    assert not roster.syncing


def test_updates_and_deletes_during_a_sync_go_into_the_snapshot() -> None:
    roster = Roster()
    resync(roster, create("a"), create("b"))
    changes = apply_all(
        roster,
        [BEGIN, create("a"), create("b"), update("a", display_name="A2"), delete("b"), END],
    )
    assert changes == [
        Left(info("b")),
        Changed(info("a"), info("a", display_name="A2"), frozenset({"display_name"})),
    ]


def test_only_the_first_sync_is_initial() -> None:
    """A greeter greets who joins after the bot: live joins and joins seen in a later
    sync (during an outage) are not `initial`; an interrupted first sync does not count."""
    roster = Roster()
    apply_all(roster, [BEGIN, create("a"), StreamInterrupted("dropped")])
    assert resync(roster, create("a")) == [Joined(info("a"), initial=True)]
    assert roster.apply(create("b")) == [Joined(info("b"))]
    assert resync(roster, create("a"), create("b"), create("c")) == [Joined(info("c"))]


def test_live_events_outside_a_sync() -> None:
    roster = Roster()
    assert roster.apply(create("a")) == [Joined(info("a"))]
    assert roster.apply(create("a")) == []  # same data again
    assert roster.apply(update("a")) == []
    assert roster.apply(update("a", is_presenting="YES")) == [
        Changed(info("a"), info("a", is_presenting="YES"), frozenset({"is_presenting"}))
    ]
    assert roster.apply(create("a", is_presenting="NO")) == [
        Changed(info("a", is_presenting="YES"), info("a"), frozenset({"is_presenting"}))
    ]
    assert roster.apply(update("b")) == [Joined(info("b"))]  # update of an unknown uuid
    assert roster.apply(delete("a")) == [Left(info("a"))]
    assert roster.apply(delete("a")) == []  # unknown uuid
    assert list(roster.participants) == ["b"]


def test_other_events_and_stray_sync_end_change_nothing() -> None:
    roster = Roster()
    resync(roster, create("a"))
    others: list[StreamItem] = [
        END,
        ev.Stage(speakers=()),
        ev.RawEvent(name="x", data=None),
        ev.MalformedEvent(name="participant_update", error="uuid: missing"),
        StreamOpened(attempt=1, connection=2),
    ]
    assert apply_all(roster, others) == []
    assert list(roster.participants) == ["a"]


def test_interruption_during_a_sync_discards_the_partial_replay() -> None:
    roster = Roster()
    resync(roster, create("a"), create("b"))
    # The stream drops after only "a" was replayed: that is no proof that "b" left.
    changes = apply_all(
        roster, [BEGIN, create("a"), StreamInterrupted(reason="drop", retry_in=0.1)]
    )
    assert changes == []
    assert not roster.syncing
    # A stray create after the interruption (no sync running) is a live event.
    assert resync(roster, create("a"), create("b")) == []
    assert set(roster.participants) == {"a", "b"}


def test_second_begin_restarts_the_sync() -> None:
    roster = Roster()
    resync(roster, create("a"))
    changes = apply_all(roster, [BEGIN, create("x"), BEGIN, create("a"), END])
    assert changes == []


def test_participants_view_is_read_only() -> None:
    roster = Roster()
    resync(roster, create("a"))
    with pytest.raises(TypeError):
        roster.participants["b"] = info("b")  # type: ignore[index]


def test_changed_fields_lists_every_difference() -> None:
    before = info("a")
    after = info("a", role="chair", receive_from_video_mix={"mix_name": "main", "timestamp": 1.0})
    assert changed_fields(before, after) == {"role", "receive_from_video_mix"}
    assert changed_fields(before, info("a")) == frozenset()


def test_large_resync_reports_only_the_changed_one_percent() -> None:
    roster = Roster()
    people = [create(f"p{i:04d}", display_name=f"P{i}") for i in range(2000)]
    assert len(resync(roster, *people)) == 2000
    rng = random.Random(3)
    changed = set(rng.sample(range(2000), 20))
    again = [
        create(f"p{i:04d}", display_name=f"P{i}", is_muted="YES" if i in changed else "NO")
        for i in range(2000)
    ]
    changes = resync(roster, *again)
    assert len(changes) == 20
    assert all(isinstance(c, Changed) and c.fields == {"is_muted"} for c in changes)
    assert {c.after.uuid for c in changes} == {f"p{i:04d}" for i in changed}  # type: ignore[union-attr]


# --- through the event stream, across reconnects ------------------------------------------


async def roster_changes(transport: FakeTransport, opens: int) -> tuple[list[RosterChange], int]:
    """Feed the stream into a roster until the `opens`-th open's sync has ended."""
    roster = Roster()
    stream = EventStream(
        api_for(transport), ALIAS, TokenBox(), sleep=Sleeps(), rng=random.Random(1)
    )
    changes: list[RosterChange] = []
    seen_opens = 0
    async with stream:
        async for item in stream:
            changes += roster.apply(item)
            if isinstance(item, StreamOpened):
                seen_opens = item.connection
            if isinstance(item, ev.ParticipantSyncEnd) and seen_opens == opens:
                break
    return changes, len(roster)


async def test_reconnect_resync_yields_no_spurious_join_or_leave() -> None:
    a, b, c = participant("a"), participant("b"), participant("c")
    transport = FakeTransport(
        [
            Conn(chunks=[sync(a, b, c), sse("stage", [])], then="drop"),
            Conn.invalid_token(),
            # Dropped inside the replay, after "a" only: b and c must not be reported as left.
            Conn(
                chunks=[sse("participant_sync_begin") + sse("participant_create", a)], then="drop"
            ),
            Conn(chunks=[sync(c, b, a)], then="hang"),
        ]
    )
    changes, size = await roster_changes(transport, opens=3)
    assert [type(ch).__name__ for ch in changes] == ["Joined"] * 3
    assert size == 3


async def test_leave_join_and_change_during_an_outage_are_detected() -> None:
    a, b, c = participant("a"), participant("b"), participant("c")
    transport = FakeTransport(
        [
            Conn(chunks=[sync(a, b, c)], then="drop"),
            Conn.refused(),
            Conn(
                chunks=[sync(participant("a", is_muted="YES"), c, participant("d"))],
                then="hang",
            ),
        ]
    )
    changes, size = await roster_changes(transport, opens=2)
    assert changes[:3] == [Joined(info(n), initial=True) for n in "abc"]
    assert changes[3:] == [
        Left(info("b")),
        Changed(info("a"), info("a", is_muted="YES"), frozenset({"is_muted"})),
        Joined(info("d")),
    ]
    assert size == 3
