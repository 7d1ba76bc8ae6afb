"""Plugins driving plugins through the context: `Controllable` found by name (structurally,
never by import), `PluginEvent`s published to the other plugins (and into the recorder's
timeline), labelled plugin counters exported to Prometheus, and the chat size limit."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from prometheus_client import generate_latest

from agent import Bot, Controllable, Plugin, PluginContext, PluginEvent
from agent.config import parse_config
from agent.node import limits
from agent.runtime.control import is_controllable
from agent.runtime.metrics import registry_for
from plugins.chat import ChatPlugin
from plugins.recorder import Recorder
from plugins.recorder.records import record_for


class Switch(Plugin[Any]):
    name = "switch"

    def __init__(self) -> None:
        super().__init__()
        self.on = False
        self.events: list[PluginEvent] = []

    async def control(self, command: str, args: list[str]) -> str:
        self.on = command == "on"
        return f"switch {command}"

    def status(self) -> dict[str, object]:
        return {"on": self.on}

    async def on_plugin_event(self, event: PluginEvent) -> None:
        self.events.append(event)


class SyncControl(Plugin[Any]):
    """`control` is not async: not a Controllable."""

    name = "sync"

    def control(self, command: str, args: list[str]) -> str:
        return command

    def status(self) -> dict[str, object]:
        return {}


def bot(*plugins: Plugin[Any]) -> Bot:
    return Bot(parse_config({"node": "http://127.0.0.1:9", "alias": "meet"}), list(plugins))


async def test_controllable_plugins_are_found_by_name_through_the_context() -> None:
    recorder, chat, switch, sync = Recorder(), ChatPlugin(), Switch(), SyncControl()
    bot(recorder, chat, switch, sync)
    # Statically too: the recorder is a Controllable for a type checker.
    typed: Controllable = recorder
    assert isinstance(typed, Controllable) and is_controllable(switch)
    assert not is_controllable(sync) and not is_controllable(chat)
    ctx = chat.context
    assert ctx.controllable("recorder") is recorder
    assert ctx.controllable("Switch") is switch
    assert ctx.controllable("sync") is None and ctx.controllable("moderator") is None
    assert [id(p) for p in ctx.controllables()] == [id(recorder), id(switch)]
    # A plugin does not find itself.
    assert recorder.context.controllable("recorder") is None
    assert await ctx.controllable("switch").control("on", []) == "switch on"  # type: ignore[union-attr]
    assert switch.status() == {"on": True}


async def test_recorder_control_replies_and_refusals() -> None:
    now = [100.0]
    recorder = Recorder(clock=lambda: now[0])
    assert recorder.status() == {"state": "stopped", "folder": None, "paused_seconds": 0.0}
    with pytest.raises(ValueError, match=r"^not recording$"):
        await recorder.control("pause", [])
    assert await recorder.control("start", []) == "recording started"
    with pytest.raises(ValueError, match=r"^already recording$"):
        await recorder.control("START", [])
    with pytest.raises(ValueError, match=r"^record pause takes no arguments$"):
        await recorder.control("pause", ["now"])
    with pytest.raises(ValueError, match=r"^unknown recorder command 'rewind': use start, stop"):
        await recorder.control("rewind", [])
    assert await recorder.control("pause", []) == "recording paused at the start"
    now[0] += 2.5
    assert recorder.status()["state"] == "paused" and recorder.status()["paused_seconds"] == 2.5
    with pytest.raises(ValueError, match=r"^paused: resume it$"):
        await recorder.control("start", [])
    assert await recorder.control("resume", []) == "recording resumed after 2.5 s paused"
    with pytest.raises(ValueError, match=r"^not paused$"):
        await recorder.control("resume", [])
    assert await recorder.control("stop", []) == "recording stopped"
    assert recorder.status()["state"] == "stopped"


async def test_published_events_reach_the_other_plugins_not_the_publisher() -> None:
    first, second = Switch(), Switch()
    b = bot(first, second)
    b.plugins.start()
    try:
        first.context.publish("command", command="record", outcome="done", seconds=1.5)
        await asyncio.sleep(0.05)
    finally:
        await b.plugins.stop(2.0)
    assert first.events == []
    (event,) = second.events
    assert (event.plugin, event.kind) == ("switch", "command")
    assert dict(event.data) == {"command": "record", "outcome": "done", "seconds": 1.5}
    with pytest.raises(TypeError):
        event.data["outcome"] = "changed"  # type: ignore[index]
    # The recorder writes it to the timeline as it came.
    assert record_for(event, 7.0) == {
        "type": "plugin_event",
        "at": 7.0,
        "plugin": "switch",
        "kind": "command",
        "data": {"command": "record", "outcome": "done", "seconds": 1.5},
    }


def test_labelled_counters_are_prometheus_counters() -> None:
    chat, other = ChatPlugin(), Switch()
    b = bot(chat, other)
    chat.context.count("chat_commands", command="mute", outcome="done")
    chat.context.count("chat_commands", command="mute", outcome="done")
    chat.context.count("chat_commands", outcome="refused", command="lock")
    other.context.count("chat_commands", kind="x")  # the same name, other labels: left out
    with pytest.raises(ValueError, match=r"has labels \['command', 'outcome'\], not \['command'\]"):
        chat.context.count("chat_commands", command="mute")
    with pytest.raises(ValueError, match="label 'bot' is reserved"):
        chat.context.count("things", bot="x")
    with pytest.raises(ValueError, match="use lower-case letters"):
        chat.context.count("Bad-Name")
    with pytest.raises(ValueError, match="only goes up"):
        chat.context.count("chat_commands", -1, command="mute", outcome="done")
    scrape = generate_latest(registry_for(lambda: [b])).decode()
    assert "# TYPE pexbot_plugin_chat_commands_total counter" in scrape
    series = [line for line in scrape.splitlines() if line.startswith("pexbot_plugin_chat_")]
    assert series == [
        'pexbot_plugin_chat_commands_total{bot="pexbot",command="mute",outcome="done",'
        'plugin="chat"} 2.0',
        'pexbot_plugin_chat_commands_total{bot="pexbot",command="lock",outcome="refused",'
        'plugin="chat"} 1.0',
    ]


def test_the_context_knows_the_message_size_the_api_takes() -> None:
    # The schema sets no maximum; the local node refuses longer payloads (limits.MESSAGE).
    assert PluginContext.max_message_chars == limits.MESSAGE


async def test_the_chat_drives_the_moderator_through_the_context() -> None:
    from plugins.moderator import Moderator

    moderator, chat = Moderator(), ChatPlugin()
    bot(moderator, chat)
    typed: Controllable = moderator  # statically a Controllable too
    found = chat.context.controllable("moderator")
    assert found is typed
    reply = await found.control("dry-run", [])
    assert "dry" in reply.lower()
    assert moderator.status()["mode"] == "dry-run"
    with pytest.raises(ValueError):
        await found.control("sideways", [])
