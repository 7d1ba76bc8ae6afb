"""The plugin host isolates plugins from each other and from the bot."""

from __future__ import annotations

import asyncio
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from agent.runtime.plugins import (
    Plugin,
    PluginHost,
    PluginLoadError,
    load_plugin_class,
    make_plugin,
)


@dataclass
class ChatMessage:
    text: str


@dataclass
class AudioFrame:
    n: int


class Collector(Plugin[Any]):
    name = "collector"
    wants_audio_frames = True

    def __init__(self, context: Any, config: Any) -> None:
        super().__init__(context, config)
        self.messages: list[str] = []
        self.frames: list[int] = []
        self.stopped = False

    async def on_chat_message(self, item: ChatMessage) -> None:
        self.messages.append(item.text)

    async def on_audio_frame(self, item: AudioFrame) -> None:
        self.frames.append(item.n)

    async def stop(self) -> None:
        self.stopped = True


class Raiser(Plugin[Any]):
    name = "raiser"

    async def on_chat_message(self, item: ChatMessage) -> None:
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
        host.publish(ChatMessage(f"m{i}"))
        host.publish_media(AudioFrame(i), audio=True)
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
    host.publish(ChatMessage("x"))
    await asyncio.sleep(0)
    await asyncio.wait_for(host.stop(timeout=0.1), 2)


async def test_queued_media_is_delivered_before_stop() -> None:
    good = Collector(None, None)
    host = PluginHost([good])
    host.start()
    for i in range(10):
        host.publish_media(AudioFrame(i), audio=True)
    await host.stop()
    assert good.frames == list(range(10))


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
    host.publish_media(AudioFrame(1), audio=True)
    host.publish_media(b"packet")
    host.publish(ChatMessage("x"))
    await host.stop()
    assert events_only.seen == [ChatMessage("x")]


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
        load_plugin_class("tests.unit.test_plugins:ChatMessage")
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
            from agent.runtime.plugins import Plugin

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
