"""Turning configuration into running bots: one (`pexbot run`) or many (`pexbot fleet`).

Kept out of `cli.py` so the command stays argument parsing and the logic is testable.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import signal
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO, TypeVar

from ..config import BotConfig, ConfigError, parse_config, read_toml, relative_to_file
from ..redact import Redactor
from .bot import Bot, BotResult
from .call import source_modules
from .plugins import Plugin, PluginLoadError, load_plugin_class, make_plugin
from .states import EXIT_CODES, FailureReason

log = logging.getLogger(__name__)
T = TypeVar("T")


def build_plugins(config: BotConfig) -> list[Plugin[Any]]:
    """The configured plugins, validated; raises `PluginLoadError` naming the bad one."""
    plugins: list[Plugin[Any]] = []
    for entry in config.plugins:
        cls = load_plugin_class(entry.name)
        plugins.append(make_plugin(cls, None, entry.config))
    return plugins


def make_bot(config: BotConfig, bot_id: str, secrets: Redactor | None = None) -> Bot:
    """A bot with its plugins; `secrets` learns its PIN, its plugins' `SecretStr` settings
    (a management password) and, as they come, its session tokens."""
    plugins = build_plugins(config)
    if secrets is not None:
        with contextlib.suppress(ConfigError):  # an unreadable PIN fails the join instead
            secrets.add(config.resolve_pin())
        for plugin in plugins:
            secrets.add_secrets_of(plugin.config)
    return Bot(config, plugins, bot_id=bot_id, secrets=secrets)


def check_config(config: BotConfig, source: str) -> str | None:
    """What only shows when the bot starts, checked before it joins: the PIN can be read,
    every plugin loads and so does the code of its media sources (`source_modules`).
    Returns the PIN; raises `ConfigError` with one line per problem, each starting with
    `source`."""
    problems: list[str] = []
    pin: str | None = None
    try:
        pin = config.resolve_pin()
    except ConfigError as exc:
        problems.append(f"{source}: {exc}")
    try:
        build_plugins(config)
    except PluginLoadError as exc:
        problems.append(f"{source}: {exc}")
    for module in source_modules(config.media):
        try:
            importlib.import_module(module)
        except ImportError as exc:
            problems.append(f"{source}: media: cannot load {module}: {exc}")
    if problems:
        raise ConfigError("\n".join(problems))
    return pin


def install_signal_handlers(on_signal: Callable[[str], None]) -> Callable[[], None]:
    """SIGINT/SIGTERM -> `on_signal(name)`; returns a function that removes the handlers."""
    loop = asyncio.get_running_loop()
    installed: list[signal.Signals] = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, on_signal, sig.name)
            installed.append(sig)

    def remove() -> None:
        for sig in installed:
            loop.remove_signal_handler(sig)

    return remove


async def _with_metrics(
    bots: list[Bot], host: str, port: int | None, run: Callable[[], Awaitable[T]]
) -> T:
    if port is None:
        return await run()
    # Imported only when asked for: the Prometheus client and aiohttp's server side.
    from .metrics import MetricsServer, registry_for  # noqa: PLC0415

    async with MetricsServer(registry_for(lambda: bots), host, port) as server:
        log.info("metrics at %s", server.url)
        return await run()


def progress_line(bot: Bot, elapsed: float) -> str:
    """One status line: state, participants, time in, media received."""
    secs = int(elapsed)
    received = 0
    call = bot.call
    if call is not None and call.peer is not None:
        received = sum(tap.bytes for tap in call.peer.taps.values())
    return (
        f"{bot.state.state:<12} participants {len(bot.others()):>3}  "
        f"{secs // 3600:d}:{secs // 60 % 60:02d}:{secs % 60:02d}  "
        f"media {received / 1e6:8.2f} MB"
    )


async def _progress(bot: Bot, out: TextIO) -> None:
    start = time.monotonic()
    while True:
        await asyncio.sleep(1.0)
        # \r + clear-to-end: one line that updates in place on a terminal.
        out.write("\r\x1b[K" + progress_line(bot, time.monotonic() - start))
        out.flush()


async def run_bot(
    config: BotConfig, *, progress: TextIO | None = None, secrets: Redactor | None = None
) -> BotResult:
    """Run one bot with signal handling, metrics and (on a terminal) a progress line."""
    bot = make_bot(config, config.display_name, secrets)
    remove = install_signal_handlers(lambda name: bot.request_leave(f"Stopped by {name}"))
    ticker = asyncio.create_task(_progress(bot, progress)) if progress is not None else None
    try:
        return await _with_metrics([bot], config.metrics.host, config.metrics.port, bot.run)
    finally:
        remove()
        if ticker is not None:
            ticker.cancel()
            await asyncio.gather(ticker, return_exceptions=True)
            if progress is not None:
                progress.write("\n")


@dataclass(frozen=True)
class FleetEntry:
    #: Unique in the fleet (`<index>:<display name>`): the summary, the logs and the
    #: metrics' `bot` label use it.
    name: str
    config: BotConfig


def load_fleet(path: str | Path) -> list[FleetEntry]:
    """A fleet file: optional `[defaults]` merged under each `[[bots]]` table.

    Every bot is checked as `pexbot run` checks one (PIN readable, plugins load), so a bad
    fleet fails before any bot joins; the `ConfigError` lists every problem."""
    data = read_toml(path)
    defaults = data.get("defaults", {})
    if not isinstance(defaults, dict):
        raise ConfigError(f"{path}: defaults: must be a table")
    defaults = relative_to_file(defaults, path)
    bots = data.get("bots")
    if not isinstance(bots, list) or not bots:
        raise ConfigError(f"{path}: bots: a fleet needs at least one [[bots]] table")
    unknown = set(data) - {"defaults", "bots"}
    if unknown:
        raise ConfigError(f"{path}: unknown top-level key(s): {', '.join(sorted(unknown))}")
    entries = []
    problems = []
    for i, bot in enumerate(bots):
        source = f"{path}: bots.{i}"
        if not isinstance(bot, dict):
            problems.append(f"{source}: must be a table ([[bots]])")
            continue
        merged = merge_tables(defaults, relative_to_file(bot, path))
        try:
            config = parse_config(merged, source)
            check_config(config, source)
        except ConfigError as exc:
            problems.append(str(exc))
            continue
        entries.append(FleetEntry(f"{i}:{config.display_name}", config))
    if problems:
        raise ConfigError("\n".join(problems))
    return entries


def fleet_metrics(entries: list[FleetEntry], source: str) -> tuple[str, int] | None:
    """The fleet's one `/metrics` endpoint (host, port) from its bots' `[metrics]`, usually
    set once in `[defaults]`: one process serves every bot's metrics, so bots that ask for
    different endpoints are a configuration error, not a silent pick."""
    wanted = {
        (e.config.metrics.host, e.config.metrics.port): e.name
        for e in entries
        if e.config.metrics.port is not None
    }
    if len(wanted) > 1:
        asked = ", ".join(f"bot {name} {h}:{p}" for (h, p), name in sorted(wanted.items()))
        raise ConfigError(
            f"{source}: metrics: a fleet serves one /metrics for all its bots, but its bots "
            f"ask for {len(wanted)} ({asked}): set it once in [defaults.metrics]"
        )
    if not wanted:
        return None
    host, port = next(iter(wanted))
    assert port is not None
    return host, port


def merge_tables(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge_tables(out[key], value)
        else:
            out[key] = value
    return out


async def run_fleet(
    entries: list[FleetEntry],
    *,
    metrics_port: int | None = None,
    metrics_host: str = "127.0.0.1",
    secrets: Redactor | None = None,
) -> dict[str, BotResult]:
    """Every bot in its own task; one failing bot never stops the others."""
    bots = {e.name: make_bot(e.config, e.name, secrets) for e in entries}

    async def run_all() -> list[BotResult | BaseException]:
        return await asyncio.gather(*(b.run() for b in bots.values()), return_exceptions=True)

    def stop_all(name: str) -> None:
        for bot in bots.values():
            bot.request_leave(f"Stopped by {name}")

    remove = install_signal_handlers(stop_all)
    try:
        results = await _with_metrics(list(bots.values()), metrics_host, metrics_port, run_all)
    finally:
        remove()
    out: dict[str, BotResult] = {}
    for name, result in zip(bots, results, strict=True):
        if isinstance(result, BaseException):
            out[name] = BotResult(
                bots[name].state.state,
                FailureReason.INTERNAL,
                repr(result),
                EXIT_CODES[FailureReason.INTERNAL],
                bots[name].rejoins,
            )
        else:
            out[name] = result
    return out


__all__ = [
    "FleetEntry",
    "PluginLoadError",
    "build_plugins",
    "check_config",
    "fleet_metrics",
    "load_fleet",
    "make_bot",
    "merge_tables",
    "run_bot",
    "run_fleet",
]
