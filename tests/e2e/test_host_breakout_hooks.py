"""The roster hooks of a host bot whose call moves into a breakout room (local node): while
the call is in the room, `on_joined`/`on_left` are the room's arrivals and departures (the
main room's are not reported meanwhile), and on each move plugins get the difference
between the old place and the new one, so a list kept from the hooks is `context.roster`."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import pytest

from agent import Changed, Joined, Left, Moved, Plugin
from agent.infinity.models import ParticipantInfo
from agent.infinity.models import events as ev
from agent.node import LocalNode
from agent.runtime.bot import Bot
from agent.runtime.states import BotState
from plugins.moderator import Moderator, ModeratorConfig
from tests.support.bots import in_call, until
from tests.support.inspect_node import set_faults

from .members import member
from .test_host_breakout_refer import guest_and_chair, host_config, lose_token

pytestmark = pytest.mark.e2e


class Hooks(Plugin[Any]):
    """Keeps its own list from the roster hooks, and a log of them (and of the moves)."""

    name: ClassVar[str] = "test-hooks"

    def __init__(self) -> None:
        super().__init__()
        self.seen: dict[str, str] = {}
        self.log: list[tuple[str, str, bool]] = []
        self.moves: list[Moved] = []

    async def on_joined(self, change: Joined) -> None:
        p = change.participant
        self.seen[p.uuid] = p.display_name
        self.log.append(("joined", p.display_name, change.initial))

    async def on_left(self, change: Left) -> None:
        p = change.participant
        self.seen.pop(p.uuid, None)
        self.log.append(("left", p.display_name, False))

    async def on_changed(self, change: Changed) -> None:
        self.seen[change.after.uuid] = change.after.display_name

    async def on_moved(self, moved: Moved) -> None:
        self.moves.append(moved)
        self.log.append(("moved", moved.room or "main", False))

    def kept(self) -> list[str]:
        return sorted(self.seen.values())

    def roster(self) -> list[str]:
        return names(self.context.roster)


def names(roster: Mapping[str, ParticipantInfo]) -> list[str]:
    return sorted(p.display_name for p in roster.values())


def since(log: list[tuple[str, str, bool]], mark: int) -> list[tuple[str, str, bool]]:
    return [e for e in log[mark:] if e[0] != "moved"]


async def test_in_a_room_the_hooks_report_the_room_and_back_the_main_room(
    node: LocalNode,
) -> None:
    hooks = Hooks()
    bot = Bot(host_config(node), [hooks])
    task = await in_call(bot)
    try:
        async with guest_and_chair(node) as (guest, chair):
            await until(lambda: hooks.kept() == ["Chair", "Guest"])
            assert bot.session is not None
            breakouts = chair.session.conference.breakouts
            room = await breakouts.create(
                "Talk", participants={"main": [guest.uuid, bot.session.participant_uuid]}
            )
            refer = await guest.expect(ev.Refer)
            async with member(node, "secure", "Guest", token=refer.token):
                await until(lambda: len(hooks.moves) == 1 and hooks.roster() == ["Guest"])
                # The list kept from the hooks is the room's, as `roster` is.
                await until(lambda: hooks.kept() == ["Guest"])
                mark = len(hooks.log)
                # A main-room arrival is not the plugins' while the call is in the room...
                async with member(node, "secure", "Late", pin="5678") as late:
                    await until(lambda: "Late" in names(hooks.context.main_roster))
                    await asyncio.sleep(0.3)  # (time for a wrongly reported join to come)
                    assert since(hooks.log, mark) == []
                    # ... a room arrival is, and its departure.
                    await breakouts.move([late.uuid], room)
                    late_refer = await late.expect(ev.Refer)
                    async with member(node, "secure", "Late", token=late_refer.token):
                        await until(lambda: hooks.kept() == ["Guest", "Late"])
                        assert hooks.roster() == ["Guest", "Late"]
                    await until(lambda: hooks.kept() == ["Guest"])
                assert since(hooks.log, mark) == [
                    ("joined", "Late", False),
                    ("left", "Late", False),
                ]
                mark = len(hooks.log)
                await breakouts.room(room).close()
                # Back in the main room: its people again, the room's gone.
                await until(lambda: len(hooks.moves) == 2)
                await until(lambda: hooks.roster() == ["Chair"] and hooks.kept() == ["Chair"])
                # Whoever was there before the bot came back is no arrival.
                assert since(hooks.log, mark) == [
                    ("left", "Guest", False),
                    ("joined", "Chair", True),
                ]
                mark = len(hooks.log)
                async with member(node, "secure", "Later", pin="5678"):
                    await until(lambda: hooks.kept() == ["Chair", "Later"])
                    assert hooks.roster() == ["Chair", "Later"]
                assert since(hooks.log, mark)[0] == ("joined", "Later", False)
    finally:
        bot.request_leave()
        result = await asyncio.wait_for(task, 30)
    assert result.state == BotState.LEFT, result


async def test_a_bot_whose_call_stays_in_the_main_room_reports_the_main_room(
    node: LocalNode,
) -> None:
    """Rooms open and people move into them; a host bot not following keeps reporting the
    main room's changes, as ever (the rooms' own are in `breakout_rooms`)."""
    hooks = Hooks()
    bot = Bot(host_config(node, follow=False), [hooks])
    task = await in_call(bot)
    try:
        async with guest_and_chair(node) as (guest, chair):
            await until(lambda: hooks.kept() == ["Chair", "Guest"])
            breakouts = chair.session.conference.breakouts
            room = await breakouts.create("Talk", participants={"main": [guest.uuid]})
            refer = await guest.expect(ev.Refer)
            async with member(node, "secure", "Guest", token=refer.token):
                await until(lambda: hooks.kept() == ["Chair"])
                opened = hooks.context.breakout_rooms[room]
                await until(lambda: names(opened.roster.participants) == ["Guest"])
                await asyncio.sleep(0.3)
                assert hooks.kept() == hooks.roster() == ["Chair"]
                assert ("left", "Guest", False) in hooks.log
                assert hooks.moves == []
    finally:
        bot.request_leave()
        result = await asyncio.wait_for(task, 30)
    assert result.state == BotState.LEFT, result


async def test_the_moderator_acts_in_the_room_the_host_call_is_in(
    node: LocalNode, tmp_path: Path
) -> None:
    """`mute_on_entry` mutes a guest arriving in the room the bot's call is in (through the
    room's participant API), and nobody found there or back in the main room on a move."""
    hooks = Hooks()
    rules = {"audit_file": str(tmp_path / "audit.jsonl"), "mute_on_entry": {"enabled": True}}
    moderator = Moderator(config=ModeratorConfig.model_validate(rules))
    bot = Bot(host_config(node), [hooks, moderator])
    task = await in_call(bot)
    try:
        async with member(node, "secure", "Chair", pin="1234") as chair:
            await until(lambda: hooks.kept() == ["Chair"])
            assert bot.session is not None
            breakouts = chair.session.conference.breakouts
            room = await breakouts.create(
                "Talk", participants={"main": [bot.session.participant_uuid]}
            )
            await until(lambda: len(hooks.moves) == 1 and hooks.kept() == [])
            async with member(node, "secure", "Late", pin="5678") as late:
                await until(lambda: "Late" in names(hooks.context.main_roster))
                await breakouts.move([late.uuid], room)
                late_refer = await late.expect(ev.Refer)
                async with member(node, "secure", "Late", token=late_refer.token):
                    await until(lambda: hooks.kept() == ["Late"])
                    await until(lambda: all(p.muted for p in hooks.context.roster.values()))
                    await breakouts.room(room).close()
                    await until(lambda: len(hooks.moves) == 2 and hooks.kept() == ["Chair"])
            await moderator.flush()
    finally:
        bot.request_leave()
        result = await asyncio.wait_for(task, 30)
    assert result.state == BotState.LEFT, result
    assert moderator.counts == {"mute_on_entry.acted": 1}


async def test_after_a_token_loss_the_hooks_follow_the_call_back_into_its_room(
    node: LocalNode,
) -> None:
    """The token is lost while the call is in a room: the bot rejoins in the main room and
    goes back into the room; the list kept from the hooks is `roster` again, and those found
    there are no arrivals."""
    hooks = Hooks()
    bot = Bot(host_config(node, leave={"max_rejoins": 5}), [hooks])
    task = await in_call(bot)
    try:
        async with guest_and_chair(node) as (guest, chair):
            await until(lambda: hooks.kept() == ["Chair", "Guest"])
            assert bot.session is not None
            breakouts = chair.session.conference.breakouts
            await breakouts.create(
                "Talk", participants={"main": [guest.uuid, bot.session.participant_uuid]}
            )
            refer = await guest.expect(ev.Refer)
            async with member(node, "secure", "Guest", token=refer.token):
                await until(lambda: len(hooks.moves) == 1 and hooks.kept() == ["Guest"])
                mark = len(hooks.log)
                await lose_token(node, bot)
                await set_faults(node, reset=True)
                await until(lambda: bot.rejoins == 1 and len(hooks.moves) == 2, timeout=30)
                await until(lambda: hooks.kept() == hooks.roster() == ["Guest"])
                joins = [e for e in since(hooks.log, mark) if e[0] == "joined"]
                assert joins and all(initial for _, _, initial in joins), hooks.log[mark:]
    finally:
        bot.request_leave()
        result = await asyncio.wait_for(task, 30)
    assert result.state == BotState.LEFT, result
