"""Breakout rooms on the local node, driven through the project's client library: what a
host sees (begin, per-room events, end), how guests move (`refer` and a one-time token),
and how rooms close (transfer back, disconnect, their own timer)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from agent.infinity import BreakoutRooms, ForbiddenError, Joined
from agent.infinity.models import events as ev
from agent.node import LocalNode, NodeConfig, default_config
from tests.e2e.members import Member, member
from tests.support.inspect_node import node_state, with_control

pytestmark = pytest.mark.e2e


@pytest.fixture
async def node() -> AsyncIterator[LocalNode]:
    async with LocalNode(with_control(NodeConfig(services=default_config().services))) as n:
        yield n


async def follow(node: LocalNode, m: Member, target: str) -> ev.Refer:
    refer = await m.expect(ev.Refer)
    assert refer.target == target, refer
    return refer


async def names(node: LocalNode, room_name: str | None = None) -> dict[str, list[str]]:
    """Display names per conference (breakout rooms under their room name)."""
    state = await node_state(node)
    out: dict[str, list[str]] = {}
    for name, conference in state.items():
        key = conference["breakout"]["name"] if conference["breakout"] else name
        out[key] = [p["display_name"] for p in conference["participants"]]
    return out


async def test_a_host_opens_a_room_moves_a_guest_and_sees_the_room(node: LocalNode) -> None:
    async with (
        member(node, "secure", "Host", pin="1234") as host,
        member(node, "secure", "Guest", pin="5678") as guest,
    ):
        rooms = BreakoutRooms()
        breakouts = host.session.conference.breakouts
        room_uuid = await breakouts.create(
            "Room 1", description="first", guests_allowed_to_leave=True
        )
        begin = await host.expect(ev.BreakoutBegin)
        assert begin.breakout_uuid == room_uuid and begin.participant_uuid
        rooms.apply(begin)
        assert await breakouts.move([guest.uuid], room_uuid) is True
        refer = await follow(node, guest, "breakout")
        assert refer.alias == "secure" and refer.breakout_name == "Room 1"
        async with member(node, "secure", "Guest", token=refer.token) as inside:
            assert inside.session.joined.conference_name == "Room 1"
            status = await inside.session.conference.conference_status()
            assert status.breakout is True and status.breakout_name == "Room 1"
            assert status.breakout_guests_allowed_to_leave is True
            # The host sees the guest join the room, through `breakout_event`.
            joined: list[tuple[str, Joined]] = []
            while not joined:
                for change in rooms.apply(await host.expect(ev.BreakoutEvent)):
                    if isinstance(change.change, Joined):
                        joined.append((change.room, change.change))
            assert joined[0][0] == room_uuid
            assert joined[0][1].participant.display_name == "Guest"
            where = await names(node)
            assert where["Room 1"] == ["Guest"] and "Guest" not in where["secure"]
            # Help from the room shows in the main room's status.
            assert await inside.session.conference.breakout_buzz() is True
            main_status = await host.session.conference.conference_status()
            assert main_status.breakoutbuzz and room_uuid in main_status.breakoutbuzz
            # The room lets guests leave: back to the main room.
            assert await inside.session.conference.breakouts.leave() is True
            back = await follow(node, inside, "main")
        async with member(node, "secure", "Guest", token=back.token):
            assert "Guest" in (await names(node))["secure"]
            await breakouts.close_all()
            end = await host.expect(ev.BreakoutEnd)
            assert end.breakout_uuid == room_uuid
            assert "Room 1" not in await names(node)


async def test_closing_a_room_transfers_or_disconnects(node: LocalNode) -> None:
    async with (
        member(node, "secure", "Host", pin="1234") as host,
        member(node, "secure", "A", pin="5678") as a,
        member(node, "secure", "B", pin="5678") as b,
    ):
        breakouts = host.session.conference.breakouts
        back_room = await breakouts.create("Back", participants={"main": [a.uuid]})
        gone_room = await breakouts.create(
            "Gone", end_action="disconnect", participants={"main": [b.uuid]}
        )
        ref_a, ref_b = await follow(node, a, "breakout"), await follow(node, b, "breakout")
        async with (
            member(node, "secure", "A", token=ref_a.token) as a_in,
            member(node, "secure", "B", token=ref_b.token) as b_in,
        ):
            assert await breakouts.room(back_room).close() is True
            assert (await follow(node, a_in, "main")).alias == "secure"
            await breakouts.room(gone_room).close()
            assert (await b_in.expect(ev.Disconnect)).reason == "Breakout room closed"


async def test_a_room_with_a_duration_closes_by_itself(node: LocalNode) -> None:
    async with (
        member(node, "secure", "Host", pin="1234") as host,
        member(node, "secure", "A", pin="5678") as a,
    ):
        room = await host.session.conference.breakouts.create(
            "Short", duration=1, participants={"main": [a.uuid]}
        )
        refer = await follow(node, a, "breakout")
        async with member(node, "secure", "A", token=refer.token) as inside:
            status = await inside.session.conference.conference_status()
            assert status.end_time is not None and status.end_action == "transfer"
            back = await asyncio.wait_for(follow(node, inside, "main"), 5)
            assert back.token
            assert (await host.expect(ev.BreakoutEnd)).breakout_uuid == room


async def test_moving_a_host_asks_it_to_join(node: LocalNode) -> None:
    async with (
        member(node, "meet", "One") as one,  # `meet` has no PINs: everyone is a host
        member(node, "meet", "Two") as two,
    ):
        breakouts = one.session.conference.breakouts
        room = await breakouts.create("Talk")
        # Every host sees the new room, with its own UUID in it.
        begin = await two.expect(ev.BreakoutBegin)
        seen = BreakoutRooms()
        seen.apply(begin)
        assert seen.get(room) is not None and begin.participant_uuid != two.uuid
        await breakouts.move([two.uuid], room)
        asked = await two.expect(ev.BreakoutRefer)
        assert (asked.breakout_uuid, asked.breakout_name, asked.requester_uuid) == (
            room,
            "Talk",
            one.uuid,
        )
        # A host is not moved: it joins the room itself, with a call under its main token.
        assert "Two" in (await names(node))["meet"]


async def test_a_guest_token_joins_a_room_and_guests_cannot_run_rooms(node: LocalNode) -> None:
    async with (
        member(node, "secure", "Host", pin="1234") as host,
        member(node, "secure", "Guest", pin="5678") as guest,
    ):
        room = await host.session.conference.breakouts.create("Side")
        token = await host.session.conference.breakouts.room(room).request_guest_token()
        async with member(node, "secure", "Visitor", token=token) as visitor:
            assert visitor.session.joined.conference_name == "Side"
            assert visitor.session.role == "GUEST"
        with pytest.raises(ForbiddenError, match="host only"):
            await guest.session.conference.breakouts.create("Mine")
