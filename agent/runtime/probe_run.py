"""`pexbot probe`: the call-quality probe against a list of targets, once or on a schedule.

Each target is one bot running the `probe` plugin (loaded by its entry-point name, like
`--plugin probe`: the runtime never imports plugins). The plugin writes
`<output_dir>/<target>-<UTC start>/report.json` (`ProbeReport`); the runner reads it back,
prints each target's one-line verdict, serves the reports' gauges on `/metrics` and ends
with exit code 0 when every target met its SLA, 1 when one did not (or did not run).

A probe file (TOML)::

    output_dir = "probe-reports"
    duration = 60            # seconds of media per target
    every = "5m"             # optional: a schedule (else once)
    parallel = 4             # targets probed at the same time
    metrics_port = 9102      # optional: Prometheus /metrics

    [sla]                    # ProbeSla: join_ms, min_class, rule, min_mos, max_latency_ms
    min_class = "ok"

    [bot]                    # what every probe bot gets, as in `pexbot run`
    display_name = "pexbot probe"

    [probe]                  # the probe plugin's settings (management, markers, ...)

    [[targets]]
    name = "london"
    node = "https://london.example.com"
    alias = "test_call"
    sla = { max_latency_ms = 600 }   # per-target overrides of [sla]
    bot = { pin_env = "LONDON_PIN" } # per-target bot settings
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ..config import BotConfig, ConfigError, parse_config, read_toml, relative_to_file
from ..errors import format_validation_error
from .bot import Bot
from .launch import build_plugins, check_config, install_signal_handlers, merge_tables
from .metrics import MetricsServer
from .probe_report import (
    Gauge,
    GaugeCollector,
    ProbeReport,
    ProbeSla,
    Verdict,
    report_gauges,
)

__all__ = [
    "ProbeRunConfig",
    "ProbeTarget",
    "TargetResult",
    "load_probe_file",
    "parse_every",
    "run_probes",
]

log = logging.getLogger(__name__)

PLUGIN = "probe"
EXIT_OK, EXIT_BREACHED = 0, 1
_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0}


def parse_every(text: str | float) -> float:
    """`90`, `90s`, `5m`, `1h` -> seconds; ValueError naming the text."""
    if isinstance(text, int | float) and not isinstance(text, bool):
        value = float(text)
    else:
        match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smh]?)\s*", str(text))
        if match is None:
            raise ValueError(f"not a duration: {text!r} (e.g. 90s, 5m, 1h)")
        value = float(match.group(1)) * _UNITS.get(match.group(2) or "s", 1.0)
    if value <= 0:
        raise ValueError(f"not a duration: {text!r} (must be more than 0)")
    return value


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)


class ProbeTarget(_Model):
    """One thing to probe: a node (or location, or alias) to join."""

    name: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9._@:-]+$")
    node: str = Field(pattern=r"^https?://[^/\s]+")
    alias: str = Field(min_length=1)
    sla: dict[str, Any] = Field(default_factory=dict)
    bot: dict[str, Any] = Field(default_factory=dict)


class ProbeRunConfig(_Model):
    targets: list[ProbeTarget] = Field(min_length=1)
    output_dir: str = "probe-reports"
    duration: float = Field(default=60.0, ge=5)
    every: float | None = None
    parallel: int = Field(default=4, ge=1, le=100)
    metrics_port: int | None = Field(default=None, ge=0, le=65535)
    metrics_host: str = "127.0.0.1"
    sla: ProbeSla = Field(default_factory=ProbeSla)
    bot: dict[str, Any] = Field(default_factory=dict)
    probe: dict[str, Any] = Field(default_factory=dict)

    @field_validator("every", mode="before")
    @classmethod
    def _every(cls, value: Any) -> float | None:
        return None if value is None else parse_every(value)

    @field_validator("targets")
    @classmethod
    def _unique(cls, targets: list[ProbeTarget]) -> list[ProbeTarget]:
        names = [t.name for t in targets]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"target names must be unique: {', '.join(twice)}")
        return targets


def parse_run_config(data: dict[str, Any], source: str) -> ProbeRunConfig:
    try:
        config = ProbeRunConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, source)) from None
    problems = []
    for i, target in enumerate(config.targets):
        where = f"{source}: targets.{i}"
        try:
            bot = target_bot_config(config, target, folder="check", source=where)
            check_config(bot, where)
        except ConfigError as exc:
            problems.append(str(exc))
    if problems:
        raise ConfigError("\n".join(problems))
    return config


def load_probe_file(path: str | Path, overrides: dict[str, Any] | None = None) -> ProbeRunConfig:
    """A probe file (see the module docstring), `overrides` (from flags) on top; every
    target checked as `pexbot run` checks a bot. Raises `ConfigError`, one line per problem."""
    data = read_toml(path)
    for table in ("bot",):
        if isinstance(data.get(table), dict):
            data[table] = relative_to_file(data[table], path)
    for target in data.get("targets") or []:
        if isinstance(target, dict) and isinstance(target.get("bot"), dict):
            target["bot"] = relative_to_file(target["bot"], path)
    return parse_run_config(merge_tables(data, overrides or {}), str(path))


def target_bot_config(
    config: ProbeRunConfig, target: ProbeTarget, *, folder: str, source: str
) -> BotConfig:
    """The bot of one target: the `probe` plugin with the merged SLA, writing to `folder`."""
    sla = merge_tables(config.sla.model_dump(mode="json"), target.sla)
    probe = merge_tables(
        config.probe,
        {
            "target": target.name,
            "duration": config.duration,
            "output_dir": config.output_dir,
            "folder": folder,
            "sla": sla,
        },
    )
    defaults: dict[str, Any] = {
        "display_name": "pexbot probe",
        "media": {"audio": "silence", "video": "black"},
        # A bound in case the probe never gets media; it leaves by itself when done.
        "leave": {"duration": config.duration + 120, "shutdown_timeout": 30},
    }
    data = merge_tables(merge_tables(defaults, config.bot), target.bot)
    data = merge_tables(data, {"node": target.node, "alias": target.alias})
    data["plugins"] = [{"name": PLUGIN, "config": probe}]
    return parse_config(data, source)


@dataclass(frozen=True)
class TargetResult:
    target: str
    verdict: Verdict
    report: ProbeReport | None
    folder: Path


def _read_report(path: Path) -> ProbeReport | None:
    try:
        return ProbeReport.model_validate_json(path.read_text(encoding="utf-8"))
    except (OSError, ValidationError, ValueError):
        return None


async def probe_target(
    config: ProbeRunConfig, target: ProbeTarget, bots: set[Bot] | None = None
) -> TargetResult:
    """One probe of one target (a bot in this process); never raises for the target's
    own problems: they are its verdict. The bot is in `bots` while it runs."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    folder_name = f"{target.name}-{stamp}"
    folder = Path(config.output_dir) / folder_name
    bot_config = target_bot_config(config, target, folder=folder_name, source=target.name)
    bot = Bot(bot_config, build_plugins(bot_config), bot_id=target.name)
    running = bots if bots is not None else set()
    running.add(bot)
    try:
        result = await bot.run()
    finally:
        running.discard(bot)
    report = await asyncio.to_thread(_read_report, folder / "report.json")
    if report is not None:
        return TargetResult(target.name, report.verdict, report, folder)
    why = f"failed ({result.reason}): {result.detail}" if result.reason else result.detail
    line = f"FAIL {target.name}: no report ({why or 'the probe did not run'})"
    return TargetResult(target.name, Verdict(ok=False, line=line, breaches=[line]), None, folder)


class ProbeRunner:
    """Rounds over the targets; keeps each target's latest result for `/metrics`."""

    def __init__(self, config: ProbeRunConfig, out: TextIO) -> None:
        self.config = config
        self.out = out
        self.latest: dict[str, tuple[TargetResult, float]] = {}
        self._stop = asyncio.Event()
        self._bots: set[Bot] = set()

    def stop(self, reason: str) -> None:
        """End the schedule; probes under way leave now (their reports say so)."""
        log.info("probe: stopping (%s)", reason)
        self._stop.set()
        for bot in list(self._bots):
            bot.request_leave(f"Stopped by {reason}")

    def gauges(self) -> list[Gauge]:
        out: list[Gauge] = []
        for name, (result, at) in sorted(self.latest.items()):
            if result.report is not None:
                out.extend(report_gauges(result.report, at))
            else:
                out.append(
                    Gauge("pexbot_probe_sla_ok", "1 when the last run met its SLA",
                          {"target": name}, 0.0)
                )  # fmt: skip
        return out

    async def round(self) -> list[TargetResult]:
        gate = asyncio.Semaphore(self.config.parallel)

        async def one(target: ProbeTarget) -> TargetResult:
            async with gate:
                if self._stop.is_set():
                    line = f"FAIL {target.name}: not probed (stopped)"
                    return TargetResult(target.name, Verdict(ok=False, line=line), None, Path())
                result = await probe_target(self.config, target, self._bots)
            self.latest[target.name] = (result, time.time())
            print(result.verdict.line, flush=True, file=self.out)
            if result.report is not None:
                print(f"  report: {result.folder}/report.json", flush=True, file=self.out)
            return result

        return list(await asyncio.gather(*(one(t) for t in self.config.targets)))

    async def run(self) -> int:
        code = EXIT_OK
        while True:
            results = await self.round()
            passed = sum(r.verdict.ok for r in results)
            print(f"{passed} of {len(results)} targets met their SLA", flush=True, file=self.out)
            code = EXIT_OK if passed == len(results) else EXIT_BREACHED
            every = self.config.every
            if every is None or self._stop.is_set():
                return code
            try:
                await asyncio.wait_for(self._stop.wait(), every)
                return code
            except TimeoutError:
                continue


async def run_probes(
    config: ProbeRunConfig, out: TextIO, on_ready: Callable[[str], None] | None = None
) -> int:
    """Every target once (or every `config.every` seconds until SIGINT/SIGTERM); 0 when the
    last round met every SLA, 1 otherwise."""
    runner = ProbeRunner(config, out)
    remove = install_signal_handlers(runner.stop)
    try:
        if config.metrics_port is None:
            return await runner.run()
        from prometheus_client import CollectorRegistry  # noqa: PLC0415

        registry = CollectorRegistry()
        registry.register(GaugeCollector(runner.gauges))
        async with MetricsServer(registry, config.metrics_host, config.metrics_port) as server:
            if on_ready is not None:
                on_ready(server.url)
            return await runner.run()
    finally:
        remove()


def targets_from_flags(node: str, alias: str, name: str | None) -> list[dict[str, Any]]:
    host = node.split("://", 1)[-1].split("/", 1)[0]
    return [{"name": name or f"{alias}@{host}".replace("/", "_"), "node": node, "alias": alias}]
