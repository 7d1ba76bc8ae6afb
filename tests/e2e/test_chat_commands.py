"""The chat plugin's commands on the local node: roles from the roster, private replies,
host controls by name (mute, admit), the moderator through `Controllable`, unknown
commands with a suggestion, and every outcome published and counted."""

from __future__ import annotations

import re
from typing import Any

import pytest

from agent import Plugin, PluginEvent
from agent.node import LocalNode
from plugins.chat import ChatConfig, ChatPlugin, RateLimit

from .chat_support import GUEST_PIN, Person, ended, running, until
from .conftest import Api

pytestmark = pytest.mark.e2e


def fast(**config: Any) -> ChatConfig:
    """A test types faster than people: the default sender rate (1/s, burst 5) is raised."""
    return ChatConfig(sender_rate=RateLimit(per_second=5, burst=20), **config)


class FakeModerator(Plugin[Any]):
    """Test-only: a plugin that is `Controllable` as the moderator is."""

    name = "moderator"

    def __init__(self) -> None:
        super().__init__()
        self.mode = "off"

    async def control(self, command: str, args: list[str]) -> str:
        if command == "crash":
            raise RuntimeError("a bug in the moderator")
        if command not in ("on", "off", "dry-run") or args:
            raise ValueError("use on, off or dry-run")
        self.mode = command
        return f"moderator {command}"

    def status(self) -> dict[str, object]:
        return {"mode": self.mode}


class Events(Plugin[Any]):
    """What the other plugins publish (as the recorder would see it)."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[PluginEvent] = []

    async def on_plugin_event(self, event: PluginEvent) -> None:
        self.seen.append(event)


async def test_commands_roles_names_and_private_replies(node: LocalNode, api: Api) -> None:
    chat, events = ChatPlugin(config=fast()), Events()
    async with running(node, [chat, events]) as bot:
        assert bot.session is not None
        me = bot.session.participant_uuid
        host = await Person.join(api, "Hana Host")
        guest = await Person.join(api, "Gus Guest", GUEST_PIN)
        alice = await Person.join(api, "Alice Smith", GUEST_PIN)
        alan = await Person.join(api, "Alan Smithee", GUEST_PIN)
        try:
            await until(lambda: len(chat.context.roster) == 4)
            # help: anyone; the reply is private to the sender, nobody else gets it.
            reply = await guest.ask(me, "!help")
            assert reply["direct"] is True
            assert reply["payload"].startswith("Commands: !help [command], !status")
            assert "For hosts: !record start|stop|pause|resume, !mute <name>" in reply["payload"]
            # A guest's control command is refused, privately, saying why.
            reply = await guest.ask(me, "!mute alice smith")
            assert reply == {
                **reply,
                "direct": True,
                "payload": "only hosts may use !mute, and you are a guest here",
            }
            conference = node.ctx.state.conferences["secure"]
            assert not conference.participants[alice.uuid].is_muted
            # A host mutes by name, any case; "smith" is ambiguous.
            reply = await host.ask(me, "!MUTE alice SMITH")
            assert reply["payload"] == "muted Alice Smith"
            assert conference.participants[alice.uuid].is_muted
            reply = await host.ask(me, "!unmute smith")
            assert reply["payload"] == (
                f'"smith" matches 2 participants: Alice Smith ({alice.uuid[:8]}), '
                f"Alan Smithee ({alan.uuid[:8]}); use the full name or the start of the id "
                "in brackets"
            )
            reply = await host.ask(me, f"!unmute {alice.uuid[:8]}")
            assert reply["payload"] == "muted Alice Smith".replace("muted", "unmuted")
            assert not conference.participants[alice.uuid].is_muted
            reply = await host.ask(me, "!mute Zed")
            assert reply["payload"] == 'nobody called "Zed" is here'
            # Unknown commands: the nearest one.
            reply = await host.ask(me, "!mtue Alice")
            assert reply["payload"] == (
                "unknown command !mtue; did you mean !mute? (!help lists the commands)"
            )
            # No moderator in this bot: said clearly.
            reply = await host.ask(me, "!moderator on")
            assert reply["payload"] == "there is no moderator loaded in this bot"
            # Only people got replies; nobody else saw them.
            assert alan.from_(me) == []
            assert all(m["direct"] for p in (host, guest) for m in p.from_(me))
        finally:
            for p in (host, guest, alice, alan):
                await p.close()
    commands = [e.data for e in events.seen if e.plugin == "chat" and e.kind == "command"]
    assert [(c["command"], c["role"], c["outcome"]) for c in commands] == [
        ("help", "guest", "done"),
        ("mute", "guest", "refused"),
        ("mute", "host", "done"),
        ("unmute", "host", "ambiguous"),
        ("unmute", "host", "done"),
        ("mute", "host", "not_found"),
        ("(unknown)", "host", "unknown"),
        ("moderator", "host", "unavailable"),
    ]
    counters = chat.context.counters
    assert counters.get("chat_commands", command="mute", outcome="done") == 1
    assert counters.get("chat_commands", command="mute", outcome="refused") == 1


async def test_moderator_status_lock_and_admit(node: LocalNode, api: Api) -> None:
    chat, moderator = ChatPlugin(config=fast()), FakeModerator()
    async with running(node, [chat, moderator]) as bot:
        assert bot.session is not None
        me = bot.session.participant_uuid
        host = await Person.join(api, "Hana Host")
        try:
            # The moderator, found through the context as a Controllable.
            assert chat.context.controllable("MODERATOR") is moderator
            assert (await host.ask(me, "!moderator"))["payload"] == "moderator: off"
            assert (await host.ask(me, "!moderator dry-run"))["payload"] == "moderator dry-run"
            assert moderator.mode == "dry-run"
            reply = await host.ask(me, "!moderator loud")
            assert reply["payload"] == "moderator loud: use on, off or dry-run"
            reply = await host.ask(me, "!moderator crash")
            assert reply["payload"] == "moderator crash failed (RuntimeError)"
            status = (await host.ask(me, "!status"))["payload"].splitlines()
            assert re.fullmatch(
                r"Chatbot \(host\) in secure: connected, up 0:00:0\d, 1 other participant",
                status[0],
            ), status
            assert status[1:] == ["recording: no recorder in this bot", "moderator: dry-run"]
            # Lock; Bob waits; the host admits him by name.
            assert (await host.ask(me, "!lock"))["payload"] == (
                "conference locked: newcomers wait in the waiting room"
            )
            conference = node.ctx.state.conferences["secure"]
            assert conference.locked
            assert (await host.ask(me, "!admit"))["payload"] == "nobody is waiting"
            bob = await Person.join(api, "Bob Jones", GUEST_PIN)
            try:
                assert conference.participants[bob.uuid].service_type == "waiting_room"
                await until(lambda: bob.uuid in chat.context.roster)
                reply = await host.ask(me, "!admit")
                assert reply["payload"] == "waiting: Bob Jones; say who: !admit <name>"
                assert (await host.ask(me, "!admit hana"))["payload"] == "Hana Host is not waiting"
                assert (await host.ask(me, "!admit bob"))["payload"] == "admitted Bob Jones"
                assert conference.participants[bob.uuid].service_type == "conference"
            finally:
                await bob.close()
            assert (await host.ask(me, "!unlock"))["payload"] == "conference unlocked"
            assert not conference.locked
        finally:
            await host.close()


async def test_permissions_room_replies_leave_and_a_guest_bot(node: LocalNode, api: Api) -> None:
    config = fast(reply="room", permissions={"mute": "anyone", "lock": "nobody", "status": "host"})
    chat = ChatPlugin(config=config)
    async with running(node, [chat]) as bot:
        assert bot.session is not None
        me = bot.session.participant_uuid
        host = await Person.join(api, "Hana Host")
        guest = await Person.join(api, "Gus Guest", GUEST_PIN)
        try:
            # `mute` opened to anyone; in room mode everybody sees the reply.
            reply = await guest.ask(me, "!mute hana")
            assert (reply["payload"], reply["direct"]) == ("muted Hana Host", False)
            assert (await host.reply_from(me))["payload"] == "muted Hana Host"
            # A refusal is private even in room mode; an answer to a private message too.
            reply = await guest.ask(me, "!status")
            assert reply["direct"] is True and reply["payload"].startswith("only hosts may")
            before = len(guest.from_(me))
            await guest.tell(me, "!help mute")
            reply = await guest.reply_from(me, before)
            assert (reply["direct"], reply["payload"]) == (
                True,
                "usage: !mute <name>: mute a participant's audio (anyone)",
            )
            # `lock` is off here: unknown, and help does not list it.
            reply = await host.ask(me, "!lock")
            assert reply["payload"].startswith("unknown command !lock")
            help_text = (await host.ask(me, "!help"))["payload"]
            assert "!lock" not in help_text and "!unlock" in help_text
            # `leave`: the reply first, then the bot leaves.
            reply = await host.ask(me, "!leave")
            assert reply["payload"] == "leaving the conference"
            await ended(bot)
            assert bot.state.detail == "asked to leave by Hana Host in the chat"
        finally:
            await host.close()
            await guest.close()

    # A bot that joined as a guest says it cannot act (and the node saw no request).
    chat = ChatPlugin()
    async with running(node, [chat], name="GuestBot", pin=GUEST_PIN) as bot:
        assert bot.session is not None
        me = bot.session.participant_uuid
        host = await Person.join(api, "Hana Host")
        try:
            reply = await host.ask(me, "!mute hana")
            assert reply["payload"] == (
                "I joined as a guest, so I cannot mute Hana Host; make me a host first"
            )
            assert not node.ctx.state.conferences["secure"].participants[host.uuid].is_muted
        finally:
            await host.close()
