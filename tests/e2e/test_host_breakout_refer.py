"""A host bot asked to join a breakout room (`breakout_refer`) on the local node: with
`breakouts.follow_refer` it moves its call into the room under its main token and comes
back when the room ends; a plugin can do the same with `context.join_breakout`."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any, ClassVar

import pytest

from agent import BreakoutRefer, Gap, Moved, Plugin
from agent.config import BotConfig
from agent.infinity.models import ParticipantInfo
from agent.infinity.models import events as ev
from agent.node import LocalNode
from agent.runtime.bot import Bot
from agent.runtime.states import BotState
from tests.support.bots import in_call, local_config, until
from tests.support.inspect_node import control, node_state, set_faults
from tests.support.pexbot_cmd import pexbot

from .members import Member, member

pytestmark = pytest.mark.e2e

MEDIA = {"audio": "tone:440", "video": "none", "receive_audio": True, "receive_video": False}


def host_config(node: LocalNode, *, follow: bool = True, **extra: Any) -> BotConfig:
    """The host bot `Helper` in `secure` (host PIN), following refers unless not `follow`."""
    return local_config(
        node.base_url,
        "Helper",
        MEDIA,
        alias="secure",
        pin="1234",
        breakouts={"follow_refer": follow},
        **extra,
    )


@contextlib.asynccontextmanager
async def guest_and_chair(node: LocalNode) -> AsyncIterator[tuple[Member, Member]]:
    """A guest `Guest` and a host `Chair` in `secure`, for the test's length."""
    async with (
        member(node, "secure", "Guest", pin="5678") as guest,
        member(node, "secure", "Chair", pin="1234") as chair,
    ):
        yield guest, chair


class Moves(Plugin[Any]):
    """Records the moves; with `accept`, joins the room a refer names itself."""

    name: ClassVar[str] = "test-moves"

    def __init__(self, *, accept: bool = False, node: LocalNode | None = None) -> None:
        super().__init__()
        self.accept = accept
        self.node = node
        self.moves: list[Moved] = []
        self.refers: list[BreakoutRefer] = []
        #: With `node`: the bot's connected calls per place when each `on_moved` came.
        self.calls_when_moved: list[dict[str, int]] = []

    async def on_breakout_refer(self, event: BreakoutRefer) -> None:
        self.refers.append(event)
        if self.accept:
            self.context.join_breakout(event.breakout_uuid)

    async def on_moved(self, moved: Moved) -> None:
        if self.node is not None:  # (before `moves` grows: tests wait on that)
            self.calls_when_moved.append(await connected_calls(self.node, "Helper"))
        self.moves.append(moved)


async def connected_calls(node: LocalNode, name: str) -> dict[str, int]:
    """Per place (the main conference's name or the room's), `name`'s connected calls."""
    out: dict[str, int] = {}
    for conference_name, conference in (await node_state(node)).items():
        where = conference["breakout"]["name"] if conference["breakout"] else conference_name
        for p in conference["participants"]:
            if p["display_name"] == name:
                calls = [c for c in p["calls"] if c["connection_state"] == "connected"]
                out[where] = out.get(where, 0) + len(calls)
    return out


async def eventually_calls(node: LocalNode, name: str, want: dict[str, int]) -> None:
    """Polls the node's state (20 s at most) until `name`'s calls are `want`."""
    got: dict[str, int] = {}
    for _ in range(200):
        got = await connected_calls(node, name)
        if got == want:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"{name}'s connected calls: {got}, not {want}")


async def run_refer(node: LocalNode, bot: Bot, moves: Moves) -> None:
    task = await in_call(bot)
    try:
        async with member(node, "meet", "Chair") as chair:  # `meet`: everyone is a host
            await eventually_calls(node, "Helper", {"meet": 1})
            breakouts = chair.session.conference.breakouts
            room = await breakouts.create("Talk")
            await until(lambda: room in bot.rooms)
            assert bot.session is not None
            await breakouts.move([bot.session.participant_uuid], room)
            # In the room: its call is there, none is left in the main room; the token and
            # the event stream stay the main room's.
            await eventually_calls(node, "Helper", {"meet": 0, "Talk": 1})
            await until(lambda: bot.room == "Talk" and bot.state.state == BotState.IN_CALL)
            assert [(m.kind, m.room) for m in moves.moves] == [("breakout", "Talk")]
            assert moves.refers[0].breakout_uuid == room
            assert bot.session is not None and bot.session.conference_name == "meet"
            # The room ends: the bot's call comes back to the main room.
            await breakouts.room(room).close()
            await eventually_calls(node, "Helper", {"meet": 1})
            await until(lambda: bot.room is None)
            assert [(m.kind, m.room) for m in moves.moves] == [
                ("breakout", "Talk"),
                ("main", None),
            ]
            assert bot.state.state == BotState.IN_CALL
    finally:
        bot.request_leave()
        result = await asyncio.wait_for(task, 30)
    assert result.state == BotState.LEFT, result
    assert bot.recalls == 0  # moving the call is no re-call


async def test_follow_refer_moves_the_host_call_into_the_room_and_back(node: LocalNode) -> None:
    moves = Moves()
    config = local_config(node.base_url, "Helper", MEDIA, breakouts={"follow_refer": True})
    await run_refer(node, Bot(config, [moves]), moves)


async def test_on_moved_comes_once_the_call_is_up_in_the_new_place(node: LocalNode) -> None:
    """A plugin told `on_moved` finds the bot's call connected where it moved (and none
    left where it was), each way; the media gap is the move's."""
    moves = Moves(node=node)
    config = local_config(node.base_url, "Helper", MEDIA, breakouts={"follow_refer": True})
    gaps: list[Gap] = []

    class Gaps(Plugin[Any]):
        name: ClassVar[str] = "test-gaps"

        async def on_gap(self, gap: Gap) -> None:
            gaps.append(gap)

    await run_refer(node, Bot(config, [moves, Gaps()]), moves)
    assert moves.calls_when_moved == [{"meet": 0, "Talk": 1}, {"meet": 1}]
    media = [g for g in gaps if g.kind == "media"]
    assert [g.cause for g in media] == ["move", "move"]
    for gap, moved in zip(media, moves.moves, strict=True):
        # The move's stretch without media ends when the call is up there: `Moved.at`.
        assert gap.start < moved.at <= gap.end <= moved.at + 0.5


async def test_a_move_whose_call_cannot_be_placed_stays_in_the_main_room(
    node: LocalNode, caplog: pytest.LogCaptureFixture
) -> None:
    """The room refuses the call: no `on_moved`, the call is up in the main room again,
    and one log line says so; a later refer is followed as usual."""
    caplog.set_level(logging.INFO, logger="agent.runtime")
    moves = Moves(node=node)
    config = local_config(node.base_url, "Helper", MEDIA, breakouts={"follow_refer": True})
    bot = Bot(config, [moves])
    task = await in_call(bot)
    try:
        async with member(node, "meet", "Chair") as chair:
            await eventually_calls(node, "Helper", {"meet": 1})
            breakouts = chair.session.conference.breakouts
            room = await breakouts.create("Talk")
            await until(lambda: room in bot.rooms)
            assert bot.session is not None
            await set_faults(node, routes={"breakout_calls_webrtc_participant": {"status": 403}})
            await breakouts.move([bot.session.participant_uuid], room)
            await until(lambda: any("not moved" in r.getMessage() for r in caplog.records))
            await eventually_calls(node, "Helper", {"meet": 1})
            await asyncio.sleep(0.5)
            assert moves.moves == [] and bot.room is None
            assert bot.state.state == BotState.IN_CALL and bot.recalls == 0
            said = [r.getMessage() for r in caplog.records if "not moved" in r.getMessage()]
            assert len(said) == 1, said
            assert said[0].startswith("host call not moved to breakout room Talk (")
            assert said[0].endswith("): it stays in the main room")
            # The room takes calls again: the next refer is followed.
            await set_faults(node, reset=True)
            await breakouts.move([bot.session.participant_uuid], room)
            await eventually_calls(node, "Helper", {"meet": 0, "Talk": 1})
            await until(lambda: len(moves.moves) == 1)
            assert moves.calls_when_moved == [{"meet": 0, "Talk": 1}]
    finally:
        bot.request_leave()
        result = await asyncio.wait_for(task, 30)
    assert result.state == BotState.LEFT, result


def names(roster: Mapping[str, ParticipantInfo]) -> list[str]:
    return sorted(p.display_name for p in roster.values())


async def test_a_host_in_a_room_sees_the_room_roster_and_the_main_one(node: LocalNode) -> None:
    """`context.roster` is the room the bot's call is in (as Pexip's SDK lists its current
    room's participants), `context.main_roster` stays the main room's; back in the main
    room, both are the main room's."""
    moves = Moves()
    bot = Bot(host_config(node), [moves])
    task = await in_call(bot)
    try:
        async with guest_and_chair(node) as (guest, chair):
            await until(lambda: names(moves.context.roster) == ["Chair", "Guest"])
            assert bot.session is not None
            breakouts = chair.session.conference.breakouts
            room = await breakouts.create(
                "Talk", participants={"main": [guest.uuid, bot.session.participant_uuid]}
            )
            refer = await guest.expect(ev.Refer)
            async with member(node, "secure", "Guest", token=refer.token):
                await until(lambda: len(moves.moves) == 1)
                await until(lambda: names(moves.context.roster) == ["Guest"])
                assert names(moves.context.main_roster) == ["Chair"]
                assert moves.context.room == "Talk"
                await breakouts.room(room).close()
                await until(lambda: len(moves.moves) == 2)
                assert names(moves.context.roster) == ["Chair"]
                assert names(moves.context.main_roster) == ["Chair"]
    finally:
        bot.request_leave()
        result = await asyncio.wait_for(task, 30)
    assert result.state == BotState.LEFT, result


async def lose_token(node: LocalNode, bot: Bot, **faults: Any) -> None:
    """The node refuses the bot's next token refresh, asked for now: its token is lost."""
    assert bot.session is not None
    await set_faults(node, refuse_refresh=True, **faults)
    uuid = bot.session.participant_uuid
    status, _ = await control(node, "POST", f"participants/{uuid}/refresh_token")
    assert status == 200
    await until(lambda: bot.session is None or bot.session.participant_uuid != uuid)


async def test_after_a_token_loss_the_host_bot_goes_back_into_its_room(
    node: LocalNode, caplog: pytest.LogCaptureFixture
) -> None:
    """A host bot whose call was in a breakout room rejoins and, the room still open, goes
    back into it under its new token; when the room ended meanwhile, it stays in the main
    room and says so in one line."""
    caplog.set_level(logging.INFO, logger="agent.runtime")
    moves = Moves(node=node)
    config = local_config(
        node.base_url, "Helper", MEDIA, leave={"max_rejoins": 5}, breakouts={"follow_refer": True}
    )
    bot = Bot(config, [moves])
    task = await in_call(bot)
    try:
        async with member(node, "meet", "Chair") as chair:
            breakouts = chair.session.conference.breakouts
            room = await breakouts.create("Talk")
            await until(lambda: room in bot.rooms)
            assert bot.session is not None
            await breakouts.move([bot.session.participant_uuid], room)
            await until(lambda: len(moves.moves) == 1)
            # The token is lost; the rejoined bot's call goes back into the room.
            await lose_token(node, bot)
            await set_faults(node, reset=True)
            await until(lambda: bot.rejoins == 1 and len(moves.moves) == 2, timeout=30)
            assert [(m.kind, m.room) for m in moves.moves] == [
                ("breakout", "Talk"),
                ("breakout", "Talk"),
            ]
            assert moves.calls_when_moved[1] == {"meet": 0, "Talk": 1}
            assert bot.room == "Talk" and bot.state.state == BotState.IN_CALL
            said = [r.getMessage() for r in caplog.records if "rejoined" in r.getMessage()]
            assert said == ["rejoined: back into breakout room Talk"]
            # Lost again, and the room closes while the bot rejoins (slowly): it stays in
            # the main room.
            await lose_token(node, bot, routes={"request_token": {"delay": 3.0}})
            await breakouts.room(room).close()
            await set_faults(node, reset=True)
            await until(lambda: len(moves.moves) == 3, timeout=30)
            assert (moves.moves[2].kind, moves.moves[2].room) == ("main", None)
            await eventually_calls(node, "Helper", {"meet": 1})
            assert bot.rejoins == 2 and bot.room is None
            said = [r.getMessage() for r in caplog.records if "rejoined" in r.getMessage()]
            assert said[1:] == [
                "breakout room Talk has ended while the bot rejoined: it stays in the main room"
            ]
    finally:
        bot.request_leave()
        result = await asyncio.wait_for(task, 30)
    assert result.state == BotState.LEFT, result


@pytest.mark.parametrize("follow", [True, False], ids=["follow_refer", "plugin"])
async def test_emptied_rooms_send_the_host_call_back_to_the_main_room(
    node: LocalNode, follow: bool
) -> None:
    """`breakouts/empty` (the rooms stay open): the node asks the host whose call is in a
    room to go back (`breakout_refer` to `main`) and the bot's call comes back to the main
    room, by `follow_refer` or by a plugin's `join_breakout`; no re-call into the room."""
    moves = Moves(accept=not follow, node=node)
    bot = Bot(host_config(node, follow=follow), [moves])
    task = await in_call(bot)
    try:
        async with guest_and_chair(node) as (guest, chair):
            assert bot.session is not None
            breakouts = chair.session.conference.breakouts
            room = await breakouts.create(
                "Talk", participants={"main": [guest.uuid, bot.session.participant_uuid]}
            )
            refer = await guest.expect(ev.Refer)
            async with member(node, "secure", "Guest", token=refer.token) as inside:
                await until(lambda: len(moves.moves) == 1)
                assert await breakouts.empty() is True
                back = await inside.expect(ev.Refer)  # the guest is sent back as before
                assert back.target == "main"
            await eventually_calls(node, "Helper", {"secure": 1})
            await until(lambda: len(moves.moves) == 2)
            assert [(m.kind, m.room) for m in moves.moves] == [("breakout", "Talk"), ("main", None)]
            assert moves.calls_when_moved[1] == {"secure": 1}
            assert [r.breakout_uuid for r in moves.refers] == [room, "main"]
            assert room in bot.rooms  # still open
            await asyncio.sleep(2.5)  # (longer than a lost room call waits for word)
            assert bot.room is None and bot.recalls == 0
            await eventually_calls(node, "Helper", {"secure": 1})
    finally:
        bot.request_leave()
        result = await asyncio.wait_for(task, 30)
    assert result.state == BotState.LEFT, result
    assert bot.recalls == 0


async def test_a_plugin_accepts_a_refer_itself(node: LocalNode) -> None:
    moves = Moves(accept=True)
    config = local_config(node.base_url, "Helper", MEDIA)  # follow_refer is off by default
    assert config.breakouts.follow_refer is False
    await run_refer(node, Bot(config, [moves]), moves)


async def test_a_bad_follow_refer_value_is_named_by_pexbot(tmp_path: Path) -> None:
    cfg = tmp_path / "bot.toml"
    cfg.write_text(
        'node = "http://127.0.0.1:9"\nalias = "meet"\n[breakouts]\nfollow_refer = "yes"\n'
    )
    ran = await pexbot("run", str(cfg))
    assert ran.code == 2
    assert ran.only_line == (
        f"pexbot: invalid configuration: {cfg}: breakouts.follow_refer: "
        "Input should be a valid boolean"
    )


async def test_the_leave_rules_judge_the_room_the_host_call_is_in(node: LocalNode) -> None:
    """`leave.alone_seconds` counts who is in the bot's room, not the main room: with a
    guest in its room it stays although the main room empties; alone in its room it leaves
    although the main room is full again."""
    alone = 1.0
    moves = Moves()
    bot = Bot(host_config(node, leave={"alone_seconds": alone}), [moves])
    task = await in_call(bot)
    try:
        async with member(node, "secure", "Guest", pin="5678") as guest:
            async with member(node, "secure", "Chair", pin="1234") as chair:
                assert bot.session is not None
                room = await chair.session.conference.breakouts.create(
                    "Talk",
                    guests_allowed_to_leave=True,
                    participants={"main": [guest.uuid, bot.session.participant_uuid]},
                )
                refer = await guest.expect(ev.Refer)
            # The chair has left; the guest follows into the room: no one else is in the
            # main room, the guest is in the bot's.
            async with member(node, "secure", "Guest", token=refer.token) as inside:
                await eventually_calls(node, "Helper", {"secure": 0, "Talk": 1})
                await until(lambda: bot.room == "Talk")
                seen = bot.rooms.get(room)
                await until(lambda: seen is not None and len(seen.roster) == 2)
                await asyncio.sleep(3 * alone)
                assert bot.state.state == BotState.IN_CALL and bot.room == "Talk"
                assert not task.done()
                # The guest goes back to the main room: the bot is alone in its room.
                assert await inside.session.conference.breakouts.leave() is True
                back = await inside.expect(ev.Refer)
            async with member(node, "secure", "Guest", token=back.token):
                await until(
                    lambda: any(p.display_name == "Guest" for p in bot.roster.participants.values())
                )
                left_at = asyncio.get_running_loop().time()
                result = await asyncio.wait_for(task, 15)
                waited = asyncio.get_running_loop().time() - left_at
    finally:
        bot.request_leave()
        await asyncio.wait_for(asyncio.shield(task), 30)
    assert result.state == BotState.LEFT, result
    assert result.detail == "leave.alone_seconds: alone for 1 s"
    assert waited < 10 * alone
    assert [(m.kind, m.room) for m in moves.moves] == [("breakout", "Talk")]
