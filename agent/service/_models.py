"""The HTTP API's pydantic models: what a scheduler sends, what it gets back.

The OpenAPI document (`/v1/openapi.json`) is generated from these, so field descriptions
are the API reference. A PIN never travels or rests in clear: the request names where a
worker reads it (`env:NAME` or `file:NAME`), and that reference is all that is stored.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from ..config import LeaveRules
from ..runtime.states import BotState, FailureReason


class WebhookConfig(BaseModel):
    """Where the bot's lifecycle webhooks go: the `webhook` plugin's config (plugins/webhook.py),
    repeated here because `agent` never imports `plugins`; a test keeps the two equal."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(pattern=r"^https?://")
    #: Environment variable holding the HMAC key (unsigned when not set).
    secret_env: str | None = None
    attempts: int = Field(default=4, ge=1)
    timeout: float = Field(default=5.0, gt=0)
    backoff: float = Field(default=0.5, gt=0)


#: A secret reference: `env:NAME` (an environment variable of the worker) or `file:NAME`
#: (a file in the worker's secrets folder). Which names are allowed is the deployment's
#: `SecretPolicy`.
SECRET_REF = r"^(env:[A-Za-z_][A-Za-z0-9_]*|file:[A-Za-z0-9][A-Za-z0-9._-]*)$"
_AUDIO = re.compile(r"^(none|silence|tone:\d+(\.\d+)?)$")
_VIDEO = re.compile(r"^(none|black|pattern(:\d{2,4}x\d{2,4}(@\d{1,2})?)?)$")
#: Built-in or installed (entry-point) plugin names only: a request must not make a worker
#: import code by module path.
_PLUGIN_NAME = r"^[A-Za-z][A-Za-z0-9_.-]*$"

#: The job's state: before a bot exists (`scheduled`, `queued`), then the bot's own
#: lifecycle states, the same as `pexbot run`'s.
JobState = Literal[
    "scheduled",
    "queued",
    "joining",
    "pin_required",
    "waiting_room",
    "connected",
    "in_call",
    "reconnecting",
    "leaving",
    "left",
    "failed",
]
JOB_STATES: tuple[str, ...] = ("scheduled", "queued", *(s.value for s in BotState))
TERMINAL_STATES = frozenset({BotState.LEFT.value, BotState.FAILED.value})


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MeetingRequest(_Request):
    """Where the bot goes and as whom."""

    node: str = Field(
        pattern=r"^https?://[^/\s]+",
        description="Conferencing Node URL, e.g. https://pexip.example",
    )
    alias: str = Field(min_length=1, max_length=200, description="conference alias")
    pin: str | None = Field(
        default=None,
        pattern=SECRET_REF,
        description="where the worker reads the PIN: `env:NAME` or `file:NAME`, never the PIN",
    )
    extension: str | None = Field(
        default=None, max_length=200, description="Virtual Reception: alias to be forwarded to"
    )
    display_name: str = Field(default="pexbot", min_length=1, max_length=200)
    call_tag: str | None = Field(default=None, max_length=200)
    role: Literal["host", "guest"] | None = None


class PluginRequest(_Request):
    """One plugin and its settings (`output_dir` and the like are the worker's)."""

    name: str = Field(
        pattern=_PLUGIN_NAME,
        max_length=100,
        description="a built-in or installed (entry-point) plugin, e.g. `recorder`",
    )
    config: dict[str, Any] = Field(default_factory=dict, description="the plugin's settings")


class MediaRequest(_Request):
    """What the bot sends and receives (no files: a request cannot read a worker's disk)."""

    audio: str = Field(default="none", description="none | silence | tone:HZ")
    video: str = Field(default="none", description="none | black | pattern[:WxH[@FPS]]")
    receive_audio: bool = True
    receive_video: bool = True
    receive_presentation: bool = False

    @field_validator("audio")
    @classmethod
    def _audio(cls, value: str) -> str:
        if not _AUDIO.match(value):
            raise ValueError("must be none, silence or tone:<Hz>")
        return value

    @field_validator("video")
    @classmethod
    def _video(cls, value: str) -> str:
        if not _VIDEO.match(value):
            raise ValueError("must be none, black or pattern[:WxH[@FPS]]")
        return value


class BotRequest(_Request):
    """`POST /v1/bots`: one bot for one meeting."""

    meeting: MeetingRequest
    plugins: list[PluginRequest] = Field(default_factory=list, max_length=16)
    media: MediaRequest = Field(default_factory=MediaRequest)
    leave: LeaveRules = Field(default_factory=LeaveRules)
    metadata: dict[str, str] = Field(
        default_factory=dict, max_length=32, description="yours; returned as given"
    )
    webhook: WebhookConfig | None = Field(
        default=None,
        description="lifecycle webhooks, signed as `pexbot run` signs them "
        "(`secret_env` names a worker environment variable)",
    )
    join_at: AwareDatetime | None = Field(
        default=None, description="start no earlier than this (ISO 8601 with a time zone)"
    )

    @field_validator("metadata")
    @classmethod
    def _metadata(cls, value: dict[str, str]) -> dict[str, str]:
        for key, item in value.items():
            if len(key) > 100 or len(item) > 1000:
                raise ValueError("keys up to 100 and values up to 1000 characters")
        return value


class Timings(BaseModel):
    """Wall-clock times (UTC) of the bot's life."""

    created_at: datetime
    join_at: datetime | None = None
    #: When a worker last took the job (a resumed job is taken again).
    claimed_at: datetime | None = None
    #: When the bot first got into the conference.
    joined_at: datetime | None = None
    ended_at: datetime | None = None
    #: When the worker running it got the stop request (`POST .../leave`).
    stop_received_at: datetime | None = None


class Artifact(BaseModel):
    """Something a plugin left, e.g. the recorder's session folder (on the worker) and, with
    object storage, where it is uploaded."""

    plugin: str
    kind: Literal["folder", "object_storage"] = "folder"
    path: str = Field(description="a folder on the worker, or a URL (`s3://bucket/prefix/`)")


class BotView(BaseModel):
    """A bot as the API reports it."""

    id: str
    state: JobState
    reason: FailureReason | None = Field(
        default=None, description="why it failed: the same reason codes as `pexbot run`"
    )
    detail: str = ""
    exit_code: int | None = Field(default=None, description="`pexbot run`'s exit code for it")
    worker: str | None = Field(default=None, description="the worker running it now")
    attempts: int = Field(default=0, description="times a worker took it")
    resumes: int = Field(default=0, description="times another worker took it over")
    leave_requested: bool = False
    timings: Timings
    artifacts: list[Artifact] = Field(default_factory=list)
    metadata: dict[str, str] = Field(default_factory=dict)
    request: BotRequest


class BotPage(BaseModel):
    """One page of `GET /v1/bots`, newest first."""

    items: list[BotView]
    next_cursor: str | None = Field(
        default=None, description="pass as `cursor` for the next page; null on the last"
    )


class ErrorDetail(BaseModel):
    """One problem: where (`meeting.pin`, `limit`, ...) and what (never the value)."""

    loc: str
    message: str


class ErrorInfo(BaseModel):
    """The error itself."""

    code: str = Field(description="stable, machine-readable: unauthorized, not_found, ...")
    message: str
    details: list[ErrorDetail] = Field(default_factory=list)


class ErrorBody(BaseModel):
    """Every 4xx/5xx answer."""

    error: ErrorInfo
