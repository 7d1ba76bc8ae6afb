"""The chat plugin's commands on the local node: roles from the roster, private replies,
host controls by name (mute, admit), the moderator through `Controllable`, unknown
commands with a suggestion, and every outcome published and counted."""

from __future__ import annotations

from typing import Any

import pytest

from agent import Plugin, PluginEvent
from agent.node import LocalNode
from plugins.chat import ChatConfig, ChatPlugin, RateLimit

from .chat_support import GUEST_PIN, Person, running, until
from .conftest import Api

pytestmark = pytest.mark.e2e


class FakeModerator(Plugin[Any]):
    """Test-only: a plugin that is `Controllable` as the moderator is."""

    name = "moderator"

    def __init__(self) -> None:
        super().__init__()
        self.mode = "off"

    async def control(self, command: str, args: list[str]) -> str:
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
    # A test types faster than people: the default sender rate (1/s, burst 5) is raised.
    fast = ChatConfig(sender_rate=RateLimit(per_second=5, burst=20))
    chat, events = ChatPlugin(config=fast), Events()
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
