"""The plugin host isolates plugins from each other and from the bot; the plugin contract
(declared hooks, refused misspellings, the context) holds."""

from __future__ import annotations

import asyncio
import inspect
import sys
import textwrap
import typing
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

import agent
from agent import (
    DecodedFrame,
    EncodedFrame,
    Gap,
    Joined,
    MessageReceived,
    ParticipantInfo,
    Plugin,
    PluginContext,
    Stage,
)
from agent.runtime import items
from agent.runtime.plugin import PluginContextError
from agent.runtime.plugins import (
    PluginHost,
    PluginLoadError,
    load_plugin_class,
    make_plugin,
)


def chat(text: str) -> MessageReceived:
    return MessageReceived(origin="Ann", payload=text)


def audio(n: int) -> DecodedFrame:
    return DecodedFrame("audio", n, float(n))


class Collector(Plugin[Any]):
    name = "collector"
    wants_audio_frames = True

    def __init__(self, context: Any, config: Any) -> None:
        super().__init__(context, config)
        self.messages: list[str] = []
        self.frames: list[int] = []
        self.stopped = False

    async def on_message_received(self, event: MessageReceived) -> None:
        self.messages.append(event.payload)

    async def on_audio_frame(self, frame: DecodedFrame) -> None:
        self.frames.append(frame.frame)

    async def stop(self) -> None:
        self.stopped = True


class Raiser(Plugin[Any]):
    name = "raiser"

    async def on_message_received(self, event: MessageReceived) -> None:
        raise RuntimeError("plugin bug")


class Blocker(Plugin[Any]):
    name = "blocker"
    wants_audio_frames = True
    media_queue_size = 4

    def __init__(self, context: Any, config: Any) -> None:
        super().__init__(context, config)
        self.release = asyncio.Event()

    async def handle(self, item: object) -> None:
        await self.release.wait()


async def test_raising_and_blocking_plugins_do_not_affect_others(
    caplog: pytest.LogCaptureFixture,
) -> None:
    good, raiser, blocker = Collector(None, None), Raiser(None, None), Blocker(None, None)
    host = PluginHost([raiser, blocker, good])
    host.start()
    for i in range(50):
        host.publish(chat(f"m{i}"))
        host.publish_media(audio(i), audio=True)
        await asyncio.sleep(0)
    for _ in range(20):
        await asyncio.sleep(0)
    assert good.messages == [f"m{i}" for i in range(50)]
    assert good.frames == list(range(50))
    stats = host.stats()
    assert stats["raiser"].errors == 50
    assert stats["blocker"].dropped_media > 0
    assert "plugin raiser failed" in caplog.text
    blocker.release.set()
    await host.stop(timeout=2)
    assert good.stopped


async def test_stuck_plugin_is_cancelled_at_stop_within_the_bound() -> None:
    blocker = Blocker(None, None)
    host = PluginHost([blocker])
    host.start()
    host.publish(chat("x"))
    await asyncio.sleep(0)
    await asyncio.wait_for(host.stop(timeout=0.1), 2)


async def test_queued_media_is_delivered_before_stop() -> None:
    good = Collector(None, None)
    host = PluginHost([good])
    host.start()
    for i in range(10):
        host.publish_media(audio(i), audio=True)
    await host.stop()
    assert good.frames == list(range(10))


async def test_media_reaches_a_plugin_in_batches_and_events_at_once() -> None:
    class Timed(Collector):
        # Far longer than the 5 publishes below take, even on a loaded machine.
        media_batch_seconds = 0.3
        at: list[float]

        async def on_audio_frame(self, frame: DecodedFrame) -> None:
            self.at.append(asyncio.get_running_loop().time())
            await super().on_audio_frame(frame)

    class Eager(Timed):
        media_batch_seconds = 0.0

    batched, eager = Timed(None, None), Eager(None, None)
    batched.at, eager.at = [], []
    host = PluginHost([batched, eager])
    host.start()
    await asyncio.sleep(0.01)  # both started and waiting
    loop = asyncio.get_running_loop()
    first = loop.time()
    for i in range(5):
        host.publish_media(audio(i), audio=True)
        await asyncio.sleep(0.005)
    assert eager.frames == list(range(5))  # media_batch_seconds = 0: frame by frame
    assert batched.frames == []  # the batch is still gathering
    await asyncio.sleep(Timed.media_batch_seconds + 0.03)
    assert batched.frames == list(range(5))
    assert batched.at[0] >= first + Timed.media_batch_seconds - 0.005
    assert max(batched.at) - min(batched.at) < 0.005  # one wake-up for the batch
    # An event is not held back, and the media queued before it comes along.
    host.publish_media(audio(5), audio=True)
    host.publish(chat("now"))
    for _ in range(5):
        await asyncio.sleep(0)
    assert batched.messages == ["now"] and batched.frames[-1] == 5
    await host.stop()


async def test_media_goes_only_to_plugins_that_want_it() -> None:
    class EventsOnly(Plugin[Any]):
        seen: list[object]

        async def on_other(self, item: object) -> None:
            self.seen.append(item)

    events_only = EventsOnly(None, None)
    events_only.seen = []
    host = PluginHost([events_only])
    assert not host.wants_audio_frames and not host.wants_encoded
    host.start()
    host.publish_media(audio(1), audio=True)
    host.publish_media(EncodedFrame("opus", b"packet", 0, 0.0, 48000, "audio"))
    host.publish(chat("x"))
    await host.stop()
    assert events_only.seen == [chat("x")]


class ThresholdConfig(BaseModel):
    threshold: int


class Configured(Plugin[ThresholdConfig]):
    Config = ThresholdConfig


def test_plugin_config_is_validated_with_paths() -> None:
    plugin = make_plugin(Configured, None, {"threshold": 3})
    assert plugin.config.threshold == 3
    with pytest.raises(PluginLoadError, match="threshold"):
        make_plugin(Configured, None, {"threshold": "many"})


def test_load_by_module_path_and_errors() -> None:
    assert load_plugin_class("tests.unit.test_plugins:Collector") is Collector
    with pytest.raises(PluginLoadError, match="not a Plugin"):
        load_plugin_class("tests.unit.test_plugins:chat")
    with pytest.raises(PluginLoadError, match="entry-point group"):
        load_plugin_class("no-such-plugin")


def test_third_party_plugin_loads_by_entry_point(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An installed distribution, as pip would lay it out: a package plus its dist-info.
    (tmp_path / "tinyplugin").mkdir()
    (tmp_path / "tinyplugin" / "__init__.py").write_text(
        textwrap.dedent(
            """
            from agent import Plugin

            class Tiny(Plugin):
                name = "tiny"
            """
        )
    )
    dist = tmp_path / "tinyplugin-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: tinyplugin\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[pexbot.plugins]\ntiny = tinyplugin:Tiny\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    cls = load_plugin_class("tiny")
    assert cls.__name__ == "Tiny" and cls.name == "tiny"
    sys.modules.pop("tinyplugin", None)


def test_a_first_party_name_comes_from_pexbot_even_if_another_package_claims_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """pexbot's own entry points are read first (its metadata alone, not every installed
    package's), so another package registering `recorder` does not replace it."""
    (tmp_path / "otherrecorder.py").write_text(
        "from agent import Plugin\n\nclass Other(Plugin):\n    name = 'recorder'\n"
    )
    dist = tmp_path / "otherrecorder-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: otherrecorder\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[pexbot.plugins]\nrecorder = otherrecorder:Other\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert load_plugin_class("recorder").__module__ == "plugins.recorder"
    assert "otherrecorder" not in sys.modules


# -- the contract -------------------------------------------------------------------------


def test_a_misspelt_hook_is_refused_naming_the_nearest_hook() -> None:
    with pytest.raises(PluginLoadError) as info:

        class Greeter(Plugin[Any]):
            async def on_joind(self, change: Joined) -> None:
                pass

    message = str(info.value)
    assert message.endswith(
        "Greeter: on_joind is not a hook; did you mean on_joined? "
        "(on_* names are reserved for hooks)"
    )
    assert "\n" not in message


def test_a_hook_must_be_async() -> None:
    with pytest.raises(PluginLoadError, match="hook on_stage must be an 'async def' method"):

        class Sync(Plugin[Any]):
            def on_stage(self, event: Stage) -> None:  # type: ignore[override]
                pass


def test_every_item_kind_has_its_declared_and_typed_hook() -> None:
    declared = {name for name in vars(Plugin) if name.startswith("on_")}
    assert declared == set(items.HOOK_NAMES)
    for kind, hook in items.HOOKS.items():
        hints = typing.get_type_hints(getattr(Plugin, hook))
        (argument,) = (v for k, v in hints.items() if k != "return")
        assert argument is kind, (hook, argument, kind)
    for hook in ("on_audio_frame", "on_video_frame"):
        hints = typing.get_type_hints(getattr(Plugin, hook))
        assert hints["frame"] is DecodedFrame
    # The union type names every kind once.
    assert set(typing.get_args(items.PluginItem)) == {*items.HOOKS, DecodedFrame}


async def test_items_reach_their_hook_and_the_rest_reaches_on_other() -> None:
    seen: list[tuple[str, object]] = []

    class Watcher(Plugin[Any]):
        async def on_joined(self, change: Joined) -> None:
            seen.append(("joined", change))

        async def on_video_frame(self, frame: DecodedFrame) -> None:
            seen.append(("video", frame))

        async def on_other(self, item: object) -> None:
            seen.append(("other", item))

    plugin = Watcher()
    joined = Joined(ParticipantInfo(uuid="u1"))
    video, sound = DecodedFrame("video", None, 1.0), DecodedFrame("audio", None, 1.0)
    gap = Gap("events", 1.0, 2.0)
    for item in (joined, video, sound, gap, object):
        await plugin.handle(item)
    assert seen == [
        ("joined", joined),
        ("video", video),
        ("other", sound),
        ("other", gap),
        ("other", object),
    ]
    assert items.hook_for(joined) == "on_joined" and items.hook_for(3) == "on_other"


def test_the_context_is_typed_and_fails_clearly_before_the_bot_gives_it() -> None:
    plugin = Collector(None, None)
    assert not plugin.has_context
    with pytest.raises(PluginContextError, match="plugin collector: no context yet"):
        _ = plugin.context
    assert inspect.signature(Plugin.__init__).parameters["context"].annotation in (
        "PluginContext | None",
        PluginContext | None,
    )
    assert typing.get_type_hints(Plugin.context.fget)["return"] is PluginContext  # type: ignore[attr-defined]


def test_the_public_surface_lists_every_item_and_hook_name() -> None:
    for kind in (*items.HOOKS, DecodedFrame):
        assert getattr(agent, kind.__name__) is kind, kind.__name__
    for name in ("FleetEntry", "RosterChange", "PluginItem", "HostOnlyError", "PluginContext"):
        assert name in dir(agent), name
    assert dir(agent) == sorted(agent.__all__)
