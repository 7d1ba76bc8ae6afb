"""The client library against the local node over real HTTP on 127.0.0.1.

Unit tests prove each branch with scripted answers; these prove the flows work end to end
with the pooled aiohttp transport: PIN roles, Virtual Reception, waiting room admission,
token rotation, event-stream drops with resync, chat, and release on leave.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest

from agent.infinity import (
    Changed,
    InfinitySession,
    InvalidPinError,
    Joined,
    JoinOptions,
    Left,
    PinRequiredError,
    Roster,
    RosterChange,
    StreamOpened,
)
from agent.infinity.models.events import MessageReceived
from agent.node import LocalNode, NodeConfig, default_config
from tests.support.inspect_node import node_state, set_faults, with_control


@pytest.fixture
async def node() -> AsyncIterator[LocalNode]:
    async with LocalNode(with_control()) as n:
        yield n


def session(node: LocalNode, alias: str, name: str, **opts: Any) -> InfinitySession:
    return InfinitySession.connect(node.base_url, alias, JoinOptions(display_name=name, **opts))


def name(change: RosterChange) -> str:
    return (change.after if isinstance(change, Changed) else change.participant).display_name


class Watcher:
    """Follows one session's events into a roster; records every change and event."""

    def __init__(self, s: InfinitySession) -> None:
        self.session = s
        self.roster = Roster()
        self.changes: list[RosterChange] = []
        self.events: list[object] = []
        self.opened = 0
        self._synced = asyncio.Event()
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        async for item in self.session.events(max_attempts=None):
            self.events.append(item)
            if isinstance(item, StreamOpened):
                self.opened += 1
            self.changes.extend(self.roster.apply(item))
            if type(item).__name__ == "ParticipantSyncEnd":
                self._synced.set()

    async def synced(self) -> None:
        await asyncio.wait_for(self._synced.wait(), 5)

    async def until(self, predicate: Any, timeout: float = 5.0) -> None:
        async with asyncio.timeout(timeout):
            while not predicate():  # noqa: ASYNC110 (polls state several tasks change)
                await asyncio.sleep(0.02)

    async def stop(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


async def test_pin_roles_and_failures(node: LocalNode) -> None:
    async with session(node, "secure", "Host", pin="1234") as host:
        assert host.role == "HOST"
    async with session(node, "secure", "Guest", pin="5678") as guest:
        assert guest.role == "GUEST"
    with pytest.raises(InvalidPinError):
        await session(node, "secure", "Wrong", pin="0000").open()
    with pytest.raises(PinRequiredError) as info:
        await session(node, "secure", "NoPin").open()
    assert info.value.host_pin and info.value.guest_pin
    # `lecture`: host PIN, guests without one (the literal `none`).
    async with session(node, "lecture", "Audience") as audience:
        assert audience.role == "GUEST"


async def test_virtual_reception_forwards_to_the_conference(node: LocalNode) -> None:
    async with session(node, "lobby", "Bot", extension="secure", pin="1234") as s:
        assert s.role == "HOST"
        names = [p["display_name"] for p in (await node_state(node))["secure"]["participants"]]
        assert "Bot" in names


async def test_waiting_room_admission_seen_through_events(node: LocalNode) -> None:
    async with session(node, "locked", "Waiter") as waiter:
        assert waiter.in_waiting_room
        async with session(node, "locked", "Host", pin="1234") as host:
            watcher = Watcher(host)
            await watcher.synced()
            assert waiter.participant_uuid in watcher.roster.participants
            await host.conference.participant(waiter.participant_uuid).unlock()
            await watcher.until(
                lambda: (
                    (p := watcher.roster.get(waiter.participant_uuid)) is not None
                    and p.service_type == "conference"
                )
            )
            await watcher.stop()


async def test_token_rotates_on_refresh_and_release_on_leave(node: LocalNode) -> None:
    await set_faults(node, token_lifetime=3)
    s = session(node, "meet", "Refresher")
    async with s:
        first = s.token
        await asyncio.sleep(2.4)  # refresh every expires/3 = 1 s
        assert s.refreshes >= 2 and s.token != first and s.lost is None
        assert any(
            p["display_name"] == "Refresher"
            for p in (await node_state(node))["meet"]["participants"]
        )
    assert not (await node_state(node)).get("meet", {}).get("participants")


async def test_stream_drops_resync_without_spurious_changes(node: LocalNode) -> None:
    async with session(node, "meet", "Other"), session(node, "meet", "Observer") as observer:
        # Every connection is cut after 0.3 s: the stream reconnects and resyncs each time.
        await set_faults(node, drop_events_after_seconds=0.3)
        watcher = Watcher(observer)
        await watcher.synced()
        await watcher.until(lambda: watcher.opened >= 4)
        assert [(type(c), name(c)) for c in watcher.changes] == [
            (Joined, "Other"),
            (Joined, "Observer"),
        ], "a resync produced join/leave/change noise"
        # A real change between the drops is still seen, exactly once each way.
        async with session(node, "meet", "Late"):
            await watcher.until(lambda: len(watcher.changes) >= 3)
        await watcher.until(lambda: len(watcher.changes) >= 4)
        await watcher.until(lambda: watcher.opened >= 7)
        late = [(type(c), name(c)) for c in watcher.changes[2:]]
        assert late == [(Joined, "Late"), (Left, "Late")]
        await set_faults(node, reset=True)
        await watcher.stop()


async def test_chat_reaches_the_other_participant(node: LocalNode) -> None:
    async with session(node, "meet", "Sender") as sender, session(node, "meet", "Reader") as reader:
        watcher = Watcher(reader)
        await watcher.synced()
        await sender.conference.send_message("hello from a bot")
        await watcher.until(
            lambda: any(
                isinstance(e, MessageReceived) and e.payload == "hello from a bot"
                for e in watcher.events
            )
        )
        await watcher.stop()


async def test_node_config_is_independent_per_node() -> None:
    # Two nodes in one process do not share state (no module-level globals).
    config = with_control(NodeConfig(services=default_config().services))
    async with LocalNode(config) as a, LocalNode(with_control()) as b, session(a, "meet", "OnlyA"):
        assert (await node_state(a))["meet"]["participants"]
        assert not (await node_state(b)).get("meet", {}).get("participants")


async def test_chat_disabled_service_refuses_messages() -> None:
    from agent.infinity import ForbiddenError
    from agent.node.config import ServiceConfig

    config = NodeConfig(services=[ServiceConfig(name="quiet", chat_enabled=False)])
    async with LocalNode(config) as n, session(n, "quiet", "Talker") as s:
        assert s.joined.chat_enabled is False
        with pytest.raises(ForbiddenError, match="Chat is disabled"):
            await s.conference.send_message("anyone?")
        with pytest.raises(ForbiddenError, match="Chat is disabled"):
            await s.me.send_message("note to self")
