"""Every host control of the plugin context against the local node: a host bot moderates,
a guest bot is refused (`HostOnlyError`, before any request) and may still chat, DTMF its
own call's way and act on itself."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from agent import (
    Bot,
    BotState,
    HostOnlyError,
    LayoutTransforms,
    MessageReceived,
    Plugin,
    PluginContext,
)
from agent.config import BotConfig
from agent.node import LocalNode, default_config
from agent.node.state import ConferenceState, ParticipantState
from tests.support.bots import NO_MEDIA, local_config, until

pytestmark = pytest.mark.e2e


@pytest.fixture
async def node() -> AsyncIterator[LocalNode]:
    async with LocalNode(default_config()) as n:
        yield n


def config(node: LocalNode, name: str, pin: str) -> BotConfig:
    return local_config(node.base_url, name, NO_MEDIA, alias="secure", pin=pin)


class Inbox(Plugin[Any]):
    def __init__(self) -> None:
        super().__init__()
        self.messages: list[MessageReceived] = []

    async def on_message_received(self, event: MessageReceived) -> None:
        self.messages.append(event)


async def joined(bot: Bot, state: BotState = BotState.CONNECTED) -> asyncio.Task[Any]:
    task = asyncio.create_task(bot.run())
    await until(lambda: bot.state.state == state or task.done(), 10)
    assert bot.state.state == state, bot.state.history
    return task


async def test_host_controls_work_for_a_host_and_are_refused_for_a_guest(
    node: LocalNode,
) -> None:
    inbox = Inbox()
    host_bot = Bot(config(node, "Chair", "1234"))
    guest_bot = Bot(config(node, "Guest", "5678"), [inbox])
    tasks = [await joined(host_bot), await joined(guest_bot)]
    try:
        host = PluginContext(host_bot, "moderator")
        guest = inbox.context
        assert host.is_host and not guest.is_host
        h, g = host.own_uuid, guest.own_uuid
        assert h is not None and g is not None
        conference: ConferenceState = node.ctx.state.conferences["secure"]

        def someone(uuid: str) -> ParticipantState:
            return conference.participants[uuid]

        # -- the guest: refused locally, nothing reaches the node --------------------
        refused: list[tuple[str, Callable[[], Awaitable[object]]]] = [
            ("mute", lambda: guest.mute(h)),
            ("unmute", lambda: guest.unmute(h)),
            ("mute guests", guest.mute_guests),
            ("unmute guests", guest.unmute_guests),
            ("guests can unmute", lambda: guest.set_guests_can_unmute(False)),
            ("lock", guest.lock),
            ("unlock", guest.unlock),
            ("admit", lambda: guest.admit(h)),
            ("spotlight", lambda: guest.spotlight(h)),
            ("role change", lambda: guest.set_role(h, "guest")),
            ("disconnect", lambda: guest.disconnect(h)),
            ("transfer", lambda: guest.transfer(h, "meet")),
            ("dial out", lambda: guest.dial("sip:alice@example.com")),
            ("layout change", lambda: guest.transform_layout(layout="1:7")),
            ("buzz", lambda: guest.buzz(h)),
            ("clear buzz", lambda: guest.clear_buzz(h)),
            ("clear all buzz", guest.clear_all_buzz),
            ("dtmf to a participant", lambda: guest.dtmf("1", h)),
            ("create breakout room", lambda: guest.create_breakout("Room", [h])),
            ("move to breakout room", lambda: guest.move_to_breakout("r", [h])),
            ("move to main room", lambda: guest.move_to_main("r", [h])),
            ("close breakout room", lambda: guest.close_breakout("r")),
            ("close breakout rooms", guest.close_breakouts),
            ("empty breakout rooms", guest.empty_breakouts),
            ("message breakout rooms", lambda: guest.broadcast_to_breakouts("hi")),
        ]
        for action, call in refused:
            with pytest.raises(HostOnlyError, match=f"^{action} needs the host role;"):
                await call()
        assert not conference.locked and not conference.guests_muted
        assert not someone(h).is_muted and someone(h).role == "chair" and not someone(h).dtmf
        assert len(conference.participants) == 2 and not conference.breakouts

        # -- what a guest may do: chat, act on itself ---------------------------------
        await guest.send_message("hello from a guest")
        await guest.send_private_message(h, "psst")
        await guest.buzz(g)
        await guest.mute(g)
        assert someone(g).buzz_time > 0 and someone(g).is_muted
        await guest.clear_buzz(g)
        await guest.unmute(g)
        assert someone(g).buzz_time == 0 and not someone(g).is_muted

        # -- the host ------------------------------------------------------------------
        await host.mute(g)
        assert someone(g).is_muted
        await host.unmute(g)
        assert not someone(g).is_muted
        await host.mute_guests()
        assert conference.guests_muted
        await host.unmute_guests()
        assert not conference.guests_muted
        await host.set_guests_can_unmute(False)
        assert conference.guests_can_unmute is False
        await host.spotlight(g)
        assert someone(g).spotlight > 0
        await host.spotlight(g, on=False)
        assert someone(g).spotlight == 0
        await host.buzz(g)
        assert someone(g).buzz_time > 0
        await host.clear_buzz(g)
        assert someone(g).buzz_time == 0
        await guest.buzz(g)
        await host.clear_all_buzz()
        assert someone(g).buzz_time == 0
        await host.set_role(g, "chair")
        assert someone(g).role == "chair"
        await host.set_role(g, "guest")
        assert someone(g).role == "guest"
        await host.transform_layout(layout="1:7")
        assert conference.layout == "1:7"
        await host.transform_layout(LayoutTransforms(enable_overlay_text=True), layout="4:0")
        assert conference.layout == "4:0"
        await host.dtmf("1234#", g)
        assert list(someone(g).dtmf) == ["1234#"]

        await host.send_message("hello all")
        await host.send_private_message(g, "just you")
        await until(lambda: len(inbox.messages) >= 2, 5)
        assert [(m.payload, bool(m.direct)) for m in inbox.messages] == [
            ("hello all", False),
            ("just you", True),
        ]

        # Dial out twice: one participant is transferred away, the other disconnected.
        (moved,) = await host.dial("sip:alice@example.com", protocol="sip")
        (dropped,) = await host.dial("sip:bob@example.com", protocol="sip", role="host")
        assert someone(moved).uri == "sip:alice@example.com" and someone(dropped).role == "chair"
        await host.transfer(moved, "meet")
        assert moved not in conference.participants
        meet = node.ctx.state.conferences["meet"]
        assert [p.uri for p in meet.participants.values()] == ["sip:alice@example.com"]
        await host.disconnect(dropped)
        assert dropped not in conference.participants

        # Lock, a guest waits, the host admits it, unlock.
        await host.lock()
        assert conference.locked
        waiter = Bot(config(node, "Waiter", "5678"))
        tasks.append(await joined(waiter, BotState.WAITING_ROOM))
        assert waiter.session is not None
        await host.admit(waiter.session.participant_uuid)
        await until(lambda: waiter.state.state == BotState.CONNECTED, 5)
        await host.unlock()
        assert not conference.locked
        waiter.request_leave()
    finally:
        for bot in (host_bot, guest_bot):
            bot.request_leave()
        await asyncio.wait_for(asyncio.gather(*tasks), 15)
