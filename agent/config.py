"""Bot configuration: one TOML file, validated by pydantic, every error named by its path.

Secrets (the PIN) are `SecretStr`: they never show in reprs, logs or error messages. A PIN
can come inline, from an environment variable (`pin_env`) or from a file (`pin_file`), so
config files can be committed without it.
"""

import os
import re
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from . import errors as _errors

_AUDIO = re.compile(r"^(none|silence|tone:\d+(\.\d+)?|file:.+)$")
_VIDEO = re.compile(r"^(none|black|pattern(:\d{2,4}x\d{2,4}(@\d{1,2})?)?|file:.+)$")


# Re-exported: callers have always found them here.
ConfigError = _errors.ConfigError
format_validation_error = _errors.format_validation_error


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BotMediaConfig(_Strict):
    #: What the bot sends: `none`, `silence`, `tone:<Hz>`, `file:<path>`.
    audio: str = "silence"
    #: `none`, `black`, `pattern` (moving test pattern with a frame counter; optionally
    #: `pattern:640x480` or `pattern:640x480@30`), `file:<path>`.
    video: str = "none"
    receive_audio: bool = True
    receive_video: bool = True
    #: Receive the presentation (slides) in a second call while someone presents.
    receive_presentation: bool = False
    #: Host addresses ICE may use; empty means every interface (aiortc's default).
    ice_host_addresses: list[str] = Field(default_factory=list)
    #: Seconds without inbound packets before the call is replaced by a new one.
    media_timeout: float = Field(default=10.0, gt=0)
    max_recalls: int = Field(default=5, ge=0)

    @field_validator("audio")
    @classmethod
    def _audio(cls, value: str) -> str:
        if not _AUDIO.match(value):
            raise ValueError("must be none, silence, tone:<Hz> or file:<path>")
        return value

    @field_validator("video")
    @classmethod
    def _video(cls, value: str) -> str:
        if not _VIDEO.match(value):
            raise ValueError("must be none, black, pattern[:WxH[@FPS]] or file:<path>")
        return value


class LeaveRules(_Strict):
    """When the bot leaves. By default it stays until the conference ends, it is
    disconnected, or it is stopped (Ctrl-C, SIGTERM): what a recorder started before the
    meeting needs. The rule that fires is logged and is the reason `pexbot run` prints.

    (Being disconnected always ends the bot: at conference end it has `left`; when a host or
    an administrator disconnects it, it has `failed` with `disconnected`.)"""

    duration: float | None = Field(
        default=None, gt=0, description="leave after this many seconds in the conference"
    )
    alone_seconds: float | None = Field(
        default=None,
        gt=0,
        description="leave after being the only participant for this many seconds",
    )
    when_hosts_leave: bool = Field(
        default=False,
        description="leave once every other host (chair) has left, after one was seen",
    )
    waiting_room_timeout: float | None = Field(
        default=600.0, gt=0, description="fail after waiting this many seconds to be admitted"
    )
    shutdown_timeout: float = Field(
        default=10.0,
        gt=0,
        description="bound on a clean leave (hang up, release the token, flush plugins)",
    )
    max_rejoins: int = Field(
        default=5,
        ge=0,
        description="rejoins allowed per incident after a lost token before the bot fails",
    )
    rejoin_budget_reset: float = Field(
        default=60.0,
        gt=0,
        allow_inf_nan=False,
        description="seconds of health after a rejoin that end an incident (budget afresh)",
    )


def leave_rules_help() -> str:
    """Every leave rule with its default, one line each (for `--help`)."""
    lines = []
    for name, info in LeaveRules.model_fields.items():
        default = info.default
        if default is None or isinstance(default, bool):
            shown = str(default).lower()
        else:
            shown = f"{default:g}"
        lines.append(f"  {name + ' = ' + shown:<28} {info.description}")
    return "\n".join(lines)


class RetryConfig(_Strict):
    """Retries of transient node answers (5xx, 429, refused connections, timeouts) on every
    request; a definitive answer (403 with a reason, 404) is never retried."""

    #: Tries per request, the first included (1: never retry).
    attempts: int = Field(default=4, ge=1)
    #: No retry starts later than this many seconds after the first try.
    total: float = Field(default=15.0, gt=0, allow_inf_nan=False)


class EventsConfig(_Strict):
    """Caps on the event stream, in characters: a line or an event longer than these is
    dropped with a counted warning and the stream is reopened (only a broken or hostile node
    sends one: Pexip's largest events are a few KiB). The defaults are the client library's
    (`agent.infinity.events.MAX_LINE`, `MAX_EVENT`)."""

    max_line: int = Field(default=1 << 20, ge=1024, le=1 << 30)
    max_event: int = Field(default=4 << 20, ge=1024, le=1 << 30)


class BreakoutsConfig(_Strict):
    """What a host bot does when asked to join a breakout room (`breakout_refer`)."""

    #: Join the room (its call moves there; the main token stays) and come back to the
    #: main room when the room ends. Off: the request only reaches plugins
    #: (`on_breakout_refer`), which may call `context.join_breakout(room)` themselves.
    follow_refer: bool = Field(default=False, strict=True)


class PluginConfig(_Strict):
    #: Built-in name, entry-point name, or `module:Class`.
    name: str = Field(min_length=1)
    config: dict[str, Any] = Field(default_factory=dict)


class MetricsConfig(_Strict):
    #: Port of the Prometheus `/metrics` endpoint (None: off; 0: any free port).
    port: int | None = Field(default=None, ge=0, le=65535)
    host: str = "127.0.0.1"


class BotConfig(_Strict):
    node: str = Field(pattern=r"^https?://[^/\s]+")
    alias: str = Field(min_length=1)
    display_name: str = Field(default="pexbot", min_length=1)
    pin: SecretStr | None = None
    pin_env: str | None = None
    #: Relative to the config file's folder.
    pin_file: Path | None = None
    #: The role the bot means to have: `host` needs a PIN; `guest` joins without one where
    #: guests need none. The node decides (by the PIN); a different outcome is logged.
    role: Literal["host", "guest"] | None = None
    #: Virtual Reception: the alias to be forwarded to.
    extension: str | None = None
    call_tag: str | None = None
    media: BotMediaConfig = Field(default_factory=BotMediaConfig)
    leave: LeaveRules = Field(default_factory=LeaveRules)
    retry: RetryConfig = Field(default_factory=RetryConfig)
    events: EventsConfig = Field(default_factory=EventsConfig)
    breakouts: BreakoutsConfig = Field(default_factory=BreakoutsConfig)
    plugins: list[PluginConfig] = Field(default_factory=list)
    metrics: MetricsConfig = Field(default_factory=MetricsConfig)
    log_format: Literal["text", "json"] = "text"

    @model_validator(mode="after")
    def _one_pin_source(self) -> "BotConfig":
        sources = [s for s in ("pin", "pin_env", "pin_file") if getattr(self, s) is not None]
        if len(sources) > 1:
            raise ValueError(f"give at most one of pin, pin_env, pin_file (got {sources})")
        if self.role == "host" and not sources:
            raise ValueError("role host needs a host PIN (pin, pin_env or pin_file)")
        return self

    def resolve_pin(self) -> str | None:
        """The PIN from wherever it is configured; errors never include its value."""
        if self.pin is not None:
            return self.pin.get_secret_value()
        if self.pin_env is not None:
            value = os.environ.get(self.pin_env)
            if not value:
                raise ConfigError(f"pin_env: environment variable {self.pin_env} is not set")
            return value.strip()
        if self.pin_file is not None:
            try:
                return self.pin_file.read_text().strip()
            except OSError as exc:
                raise ConfigError(
                    f"pin_file: cannot read {self.pin_file}: {exc.strerror}"
                ) from None
        return None


def parse_config(data: dict[str, Any], source: str = "config") -> BotConfig:
    try:
        return BotConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, source)) from None


def relative_to_file(table: dict[str, Any], path: str | Path) -> dict[str, Any]:
    """`table` with a relative `pin_file` made relative to the folder of the config file
    `path` came from (not to the working directory, which depends on who starts the bot)."""
    pin_file = table.get("pin_file")
    if not isinstance(pin_file, str) or Path(pin_file).is_absolute():
        return table
    return {**table, "pin_file": str(Path(path).parent / pin_file)}


def read_toml(path: str | Path) -> dict[str, Any]:
    """A TOML file as a dict; unreadable or invalid files are a `ConfigError` naming it."""
    path = Path(path)
    try:
        return tomllib.loads(path.read_text())
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None


def read_bot_toml(path: str | Path) -> dict[str, Any]:
    """A bot config file as a dict, its relative paths resolved against its folder."""
    return relative_to_file(read_toml(path), path)


def load_bot_config(path: str | Path) -> BotConfig:
    return parse_config(read_bot_toml(path), str(path))
