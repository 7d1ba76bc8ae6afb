"""The plugin host: each plugin on its own bounded queue and task.

A slow plugin must not delay the media path, the event loop or other plugins, and a
failing one must not take the bot down. So every plugin gets a queue and a worker task;
the bot only ever `put_nowait`s. Media items (frames, packets) are dropped when a plugin's
queue is full and the drops are counted; conference events get a much larger bound and are
dropped (and counted, with a warning) only when a plugin has stopped consuming entirely.
An exception in a hook is logged with the plugin's name, counted, and the plugin goes on
with the next item.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from importlib.metadata import EntryPoint, PackageNotFoundError, distribution, entry_points
from typing import Any

from pydantic import ValidationError

from ._plugin_import import import_plugin_module
from .context import PluginContext
from .items import PluginItem
from .plugin import NoConfig, Plugin, PluginLoadError

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "pexbot.plugins"

__all__ = [
    "ENTRY_POINT_GROUP",
    "NoConfig",
    "Plugin",
    "PluginHost",
    "PluginLoadError",
    "PluginStats",
    "load_plugin_class",
    "make_plugin",
]


@dataclass
class PluginStats:
    handled: int = 0
    errors: int = 0
    dropped_media: int = 0
    dropped_events: int = 0


def _entry_points(name: str) -> list[EntryPoint]:
    """The entry points named `name`: pexbot's own first (one distribution's metadata read,
    not every installed one's: a few ms of each start), then every distribution's."""
    own: list[EntryPoint] = []
    with contextlib.suppress(PackageNotFoundError):  # a source checkout, not installed
        own = list(distribution("pexbot").entry_points.select(group=ENTRY_POINT_GROUP, name=name))
    return own or [ep for ep in entry_points(group=ENTRY_POINT_GROUP) if ep.name == name]


def load_plugin_class(name: str) -> type[Plugin[Any]]:
    """A plugin class by entry-point name (`pexbot.plugins`: the first-party ones too),
    `module:Class` (also from the working directory) or `path/to/file.py:Class`."""
    if ":" in name:
        module_name, _, attr = name.rpartition(":")
        try:
            obj = getattr(import_plugin_module(module_name), attr)
        except PluginLoadError:
            raise  # the class refused itself (a misspelt hook): its message says it all
        except (ImportError, AttributeError) as exc:
            raise PluginLoadError(f"plugin {name!r}: {exc}") from None
        except Exception as exc:  # the module itself failed (a SyntaxError, a NameError...)
            raise PluginLoadError(f"plugin {name!r}: {type(exc).__name__}: {exc}") from None
    else:
        matches = _entry_points(name)
        if not matches:
            raise PluginLoadError(
                f"plugin {name!r}: no such plugin (not in entry-point group "
                f"{ENTRY_POINT_GROUP!r}, and not module:Class or ./file.py:Class)"
            )
        try:
            obj = matches[0].load()
        except PluginLoadError:
            raise
        except Exception as exc:
            raise PluginLoadError(f"plugin {name!r}: loading failed: {exc}") from None
    if not (isinstance(obj, type) and issubclass(obj, Plugin)):
        raise PluginLoadError(f"plugin {name!r}: {obj!r} is not a Plugin subclass")
    return obj


def make_plugin(
    cls: type[Plugin[Any]], context: PluginContext | None, raw_config: dict[str, Any]
) -> Plugin[Any]:
    label = cls.name or cls.__name__
    try:
        config = cls.Config.model_validate(raw_config)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(config)'}: {e['msg']}" for e in exc.errors()
        )
        raise PluginLoadError(f"plugin {label}: invalid config: {problems}") from None
    return cls(context, config)


_STOP = object()


class _Runner:
    def __init__(self, plugin: Plugin[Any]) -> None:
        self.plugin = plugin
        self.label = plugin.label
        self.stats = PluginStats()
        self.events: asyncio.Queue[object] = asyncio.Queue(plugin.event_queue_size)
        self.media: asyncio.Queue[object] = asyncio.Queue(plugin.media_queue_size)
        self.task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._batch = float(plugin.media_batch_seconds)
        self._flush: asyncio.TimerHandle | None = None

    def offer_event(self, item: object) -> None:
        try:
            self.events.put_nowait(item)
        except asyncio.QueueFull:
            self.stats.dropped_events += 1
            if self.stats.dropped_events == 1 or self.stats.dropped_events % 1000 == 0:
                log.warning(
                    "plugin %s is not consuming events; %d dropped",
                    self.label,
                    self.stats.dropped_events,
                )
            return
        self._wake.set()

    def offer_media(self, item: object) -> None:
        try:
            self.media.put_nowait(item)
        except asyncio.QueueFull:
            self.stats.dropped_media += 1
            return
        if self._batch <= 0:
            self._wake.set()
        elif self._flush is None:
            # One wake per batch, not per frame (`Plugin.media_batch_seconds`).
            self._flush = asyncio.get_running_loop().call_later(self._batch, self._flushed)

    def _flushed(self) -> None:
        self._flush = None
        self._wake.set()

    async def _call(self, what: str, hook: Callable[[], Awaitable[None]]) -> None:
        try:
            await hook()
        except asyncio.CancelledError:
            raise
        except Exception:
            self.stats.errors += 1
            log.exception("plugin %s failed in %s", self.label, what)

    async def run(self) -> None:
        await self._call("start", self.plugin.start)
        while True:
            # Events first: they are few and they give media its meaning.
            if not self.events.empty():
                item = self.events.get_nowait()
            elif not self.media.empty():
                item = self.media.get_nowait()
            else:
                self._wake.clear()
                await self._wake.wait()
                continue
            if item is _STOP:
                # Media already queued still reaches the plugin (a recorder's last second).
                while not self.media.empty():
                    media = self.media.get_nowait()
                    await self._call("media", lambda m=media: self.plugin.handle(m))  # type: ignore[misc]
                    self.stats.handled += 1
                break
            await self._call(type(item).__name__, lambda i=item: self.plugin.handle(i))  # type: ignore[misc]
            self.stats.handled += 1


class PluginHost:
    """Owns the plugins' tasks: started together, stopped together within a bound."""

    def __init__(self, plugins: list[Plugin[Any]]) -> None:
        self._runners = [_Runner(p) for p in plugins]

    @property
    def plugins(self) -> list[Plugin[Any]]:
        return [r.plugin for r in self._runners]

    def stats(self) -> dict[str, PluginStats]:
        return {r.label: r.stats for r in self._runners}

    @property
    def wants_audio_frames(self) -> bool:
        return any(r.plugin.wants_audio_frames for r in self._runners)

    @property
    def wants_video_frames(self) -> bool:
        return any(r.plugin.wants_video_frames for r in self._runners)

    @property
    def wants_presentation(self) -> bool:
        return any(r.plugin.wants_presentation for r in self._runners)

    @property
    def wants_encoded(self) -> bool:
        return any(r.plugin.wants_encoded for r in self._runners)

    async def prepare(self, failed: Callable[[], bool]) -> tuple[str, Exception] | None:
        """Each plugin's `prepare()`, in order, until one raises (returned with its label) or
        `failed()` says one reported a failure through its context."""
        for plugin in self.plugins:
            try:
                await plugin.prepare()
            except Exception as exc:
                log.debug("plugin %s failed in prepare", plugin.label, exc_info=True)
                return plugin.label, exc
            if failed():
                return None
        return None

    def start(self) -> None:
        for r in self._runners:
            r.task = asyncio.create_task(r.run(), name=f"plugin:{r.label}")

    def publish(self, item: PluginItem, *, source: object = None) -> None:
        """A conference or lifecycle event, to every plugin; a plugin's own `PluginEvent`
        (`source`: its context) to every other plugin."""
        for r in self._runners:
            if source is not None and r.plugin.has_context and r.plugin.context is source:
                continue
            r.offer_event(item)

    def publish_media(self, item: PluginItem, *, audio: bool = False, video: bool = False) -> None:
        """A decoded frame (audio/video) or an encoded packet, to the plugins that want it."""
        for r in self._runners:
            p = r.plugin
            if (
                (audio and p.wants_audio_frames)
                or (video and p.wants_video_frames)
                or (not audio and not video and p.wants_encoded)
            ):
                r.offer_media(item)

    async def stop(self, timeout: float = 10.0) -> None:
        """Let each plugin drain its events, then `stop()` it; cancel what overruns."""
        for r in self._runners:
            if r.task is None:
                continue
            # The stop marker must arrive even when the event queue is full.
            with contextlib.suppress(asyncio.QueueEmpty):
                while r.events.full():
                    r.events.get_nowait()
                    r.stats.dropped_events += 1
            r.events.put_nowait(_STOP)
            r._wake.set()
        tasks = [r.task for r in self._runners if r.task is not None]
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=timeout)
            for task in pending:
                log.warning(
                    "plugin task %s did not stop in %.1f s; cancelled", task.get_name(), timeout
                )
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        for r in self._runners:
            if r._flush is not None:
                r._flush.cancel()
                r._flush = None
        for r in self._runners:
            try:
                await asyncio.wait_for(r.plugin.stop(), timeout)
            except Exception:
                r.stats.errors += 1
                log.exception("plugin %s failed in stop", r.label)
