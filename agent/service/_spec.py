"""From an API request to the `BotConfig` a worker runs, and the checks in between.

The API checks a request as `pexbot run` checks a config (the plugins load, their configs
validate) plus what only a shared service needs: secret references stay inside the
deployment's `SecretPolicy` (a request must not make a worker send any environment
variable or file to a node of the caller's choosing), and the keys a worker owns
(`output_dir`, `session_folder`, `continue_session`) are not the caller's to set. A plugin
setting marked `SecretReference` (the recorder's S3 credentials) is a secret reference too:
an environment variable within the policy; files only through a worker's own settings.

Resuming: a plugin whose config declares `session_folder` and `continue_session` (the
recorder) gets the job id as its session folder, and `continue_session = true` when the
job is taken over, so it continues the same session in a new segment.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config import BotConfig, ConfigError, LeaveRules, parse_config
from ..runtime.plugins import PluginLoadError, load_plugin_class
from ..secret_refs import secret_references
from ._models import BotRequest, ErrorDetail

#: Plugin config keys a worker sets itself.
WORKER_KEYS = ("output_dir", "session_folder", "continue_session")
#: Leave no less than this after a resume, even when the meeting's duration is used up.
MIN_DURATION = 1.0


@dataclass(frozen=True)
class SecretPolicy:
    """Which secret references a request may use: environment variables whose names start
    with `env_prefix`, and files directly inside `secrets_dir`."""

    env_prefix: str = "PEXBOT_SECRET_"
    secrets_dir: Path | None = None

    def problem(self, ref: str) -> str | None:
        kind, _, name = ref.partition(":")
        if kind == "env" and not name.startswith(self.env_prefix):
            return f"environment variable names must start with {self.env_prefix}"
        if kind == "file" and self.secrets_dir is None:
            return "file: references need a secrets folder on the workers (--secrets-dir)"
        return None

    def env_problem(self, name: str) -> str | None:
        return self.problem(f"env:{name}")

    def pin_source(self, ref: str) -> dict[str, str]:
        """The `BotConfig` keys that make a bot read the PIN from `ref`."""
        kind, _, name = ref.partition(":")
        if kind == "env":
            return {"pin_env": name}
        if self.secrets_dir is None:
            raise ConfigError("meeting.pin: file: references need --secrets-dir")
        return {"pin_file": str(self.secrets_dir / name)}


@dataclass(frozen=True)
class JobSettings:
    """What the worker adds to every job's bot."""

    output_dir: Path = Path("recordings")
    secrets: SecretPolicy = field(default_factory=SecretPolicy)
    ice_host_addresses: tuple[str, ...] = ()


def _config_fields(name: str) -> set[str]:
    cls = load_plugin_class(name)
    return set(cls.Config.model_fields)


def config_data(
    job_id: str, request: BotRequest, settings: JobSettings, *, resumed: bool, elapsed: float
) -> dict[str, Any]:
    """The bot config (as a table) for one run of the job. `elapsed`: seconds the job
    already spent in the conference on earlier workers (taken off `leave.duration`)."""
    meeting = request.meeting
    data: dict[str, Any] = {
        "node": meeting.node,
        "alias": meeting.alias,
        "display_name": meeting.display_name,
        "media": {
            **request.media.model_dump(),
            "ice_host_addresses": list(settings.ice_host_addresses),
        },
        "leave": _leave(request.leave, elapsed),
    }
    for key in ("extension", "call_tag", "role"):
        value = getattr(meeting, key)
        if value is not None:
            data[key] = value
    if meeting.pin is not None:
        data.update(settings.secrets.pin_source(meeting.pin))
    plugins: list[dict[str, Any]] = []
    for entry in request.plugins:
        config = dict(entry.config)
        fields = _config_fields(entry.name)
        if "output_dir" in fields:
            config["output_dir"] = str(settings.output_dir)
        if {"session_folder", "continue_session"} <= fields:
            config["session_folder"] = job_id
            config["continue_session"] = resumed
        plugins.append({"name": entry.name, "config": config})
    if request.webhook is not None:
        plugins.append({"name": "webhook", "config": request.webhook.model_dump()})
    data["plugins"] = plugins
    return data


def _leave(rules: LeaveRules, elapsed: float) -> dict[str, Any]:
    out = rules.model_dump()
    if rules.duration is not None and elapsed > 0:
        out["duration"] = max(rules.duration - elapsed, MIN_DURATION)
    return out


def bot_config(
    job_id: str, request: BotRequest, settings: JobSettings, *, resumed: bool, elapsed: float
) -> BotConfig:
    """The validated `BotConfig` of one run of the job (see `config_data`)."""
    data = config_data(job_id, request, settings, resumed=resumed, elapsed=elapsed)
    return parse_config(data, f"job {job_id}")


def check_request(request: BotRequest, policy: SecretPolicy) -> list[ErrorDetail]:
    """What pydantic cannot see: secret policy, plugins that load and validate their
    config, worker-owned keys. Empty when the request can run."""
    problems: list[ErrorDetail] = []
    if request.meeting.pin is not None:
        why = policy.problem(request.meeting.pin)
        if why:
            problems.append(ErrorDetail(loc="meeting.pin", message=why))
    if request.webhook is not None and request.webhook.secret_env is not None:
        why = policy.env_problem(request.webhook.secret_env)
        if why:
            problems.append(ErrorDetail(loc="webhook.secret_env", message=why))
    for i, entry in enumerate(request.plugins):
        loc = f"plugins.{i}"
        if entry.name == "webhook":
            problems.append(ErrorDetail(loc=f"{loc}.name", message="use the `webhook` field"))
            continue
        try:
            fields = _config_fields(entry.name)
        except PluginLoadError as exc:
            problems.append(ErrorDetail(loc=f"{loc}.name", message=str(exc)))
            continue
        for key in WORKER_KEYS:
            if key in entry.config and key in fields:
                problems.append(ErrorDetail(loc=f"{loc}.config.{key}", message="set by the worker"))
    if problems:
        return problems
    # Everything `pexbot run` checks before joining, except reading the PIN (the workers
    # hold it): the config parses and every plugin accepts its settings.
    # Imported here: the runtime's bot (aiortc) is slow to import and only this needs it.
    from ..runtime.launch import build_plugins  # noqa: PLC0415

    checked = SecretPolicy(policy.env_prefix, policy.secrets_dir or Path("/nonexistent"))
    try:
        config = bot_config(
            "check", request, JobSettings(secrets=checked), resumed=False, elapsed=0
        )
        plugins = build_plugins(config)
    except ConfigError as exc:
        problems += [_detail(line) for line in str(exc).splitlines()]
    except PluginLoadError as exc:
        problems.append(ErrorDetail(loc="plugins", message=str(exc)))
    else:
        for i, plugin in enumerate(plugins[: len(request.plugins)]):
            for loc, kind, name in secret_references(plugin.config):
                why = policy.env_problem(name) if kind == "env" else _FILE_REFS
                if why:
                    problems.append(ErrorDetail(loc=f"plugins.{i}.config.{loc}", message=why))
    return problems


_FILE_REFS = "a request cannot name files: use the environment variable setting"


def _detail(line: str) -> ErrorDetail:
    # `job check: plugins.0.config: ...` -> loc `plugins.0.config`
    _, _, rest = line.partition(": ")
    loc, _, message = rest.partition(": ")
    return ErrorDetail(loc=loc, message=message or rest)


def request_hash(request: BotRequest) -> str:
    """Same request, same hash: what an Idempotency-Key replay is compared by."""
    return hashlib.sha256(request.model_dump_json().encode()).hexdigest()
