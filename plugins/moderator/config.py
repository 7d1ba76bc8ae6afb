"""The moderator's settings: one pydantic model per rule, each rule opt-in but `noise`.

With an empty config only `noise` is on (30 s window, ratio 0.8), acting through the client
API. Every rule table has `enabled`; a typo anywhere is an error naming the key.
"""

from __future__ import annotations

from datetime import datetime, time
from string import Formatter
from typing import Annotated, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from agent import SecretReference

__all__ = [
    "AdmitRule",
    "DoubleTalkRule",
    "EndAtRule",
    "IdleMuteRule",
    "LockAtRule",
    "ManagementSettings",
    "ModeratorConfig",
    "MuteOnEntryRule",
    "NoiseRule",
    "PresentingRule",
    "SpotlightRule",
]

#: A wall-clock moment: an ISO date-time (naive = local time) or a time of day (its next
#: occurrence, local time). TOML has both natively: `17:00:00`, `2025-05-01T17:00:00Z`.
WallTime = datetime | time


class _Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = False
    #: The `{fields}` a rule's `message` may use (its evidence).
    FIELDS: ClassVar[tuple[str, ...]] = ()

    @model_validator(mode="after")
    def _check_message(self) -> _Rule:
        message = getattr(self, "message", None)
        if isinstance(message, str):
            check_template(message, self.FIELDS)
        return self


def check_template(text: str, fields: tuple[str, ...]) -> None:
    """Raise ValueError unless `text` is a format string using only `fields`."""
    try:
        names = [name for _, name, _, _ in Formatter().parse(text) if name is not None]
    except ValueError as exc:
        raise ValueError(f"message: {exc}") from None
    for name in names:
        if name not in fields:
            known = ", ".join("{" + f + "}" for f in fields) or "none"
            raise ValueError(f"message: unknown field {{{name}}} (fields: {known})")


class NoiseRule(_Rule):
    """A guest whose voice activity covers >= `ratio` of the last `window` seconds."""

    FIELDS = ("talk_ratio", "window")

    enabled: bool = True
    window: float = Field(default=30.0, gt=0, le=3600)
    ratio: float = Field(default=0.8, gt=0, le=1)
    message: str = (
        "You were muted: your microphone has picked up continuous sound "
        "({talk_ratio:.0%} of the last {window:.0f} s). Unmute when you want to speak."
    )


class PresentingRule(_Rule):
    """While someone presents, or in a lecture, a guest talking longer than `grace` s."""

    FIELDS = ("burst", "grace")

    grace: float = Field(default=10.0, gt=0)
    message: str = (
        "You were muted because a presentation is running ({burst:.0f} s of talk). "
        "Raise your hand or unmute to ask a question."
    )


class DoubleTalkRule(_Rule):
    """A guest talking over a host for more than `seconds`."""

    FIELDS = ("overlap", "seconds")

    seconds: float = Field(default=5.0, gt=0)
    message: str = (
        "You were muted because you talked over the host for {overlap:.0f} s. "
        "Unmute when the host has finished."
    )


class MuteOnEntryRule(_Rule):
    """Guests are muted as they join (those present before the bot are left alone)."""

    FIELDS = ()

    #: False also sets `guests_can_unmute = false` on the conference at start (client
    #: API backend only; the management API has no such command).
    guests_can_unmute: bool = True
    message: str = "Welcome! Guests join muted here; unmute when you want to speak."


class IdleMuteRule(_Rule):
    """Guests silent for `minutes` are muted (they unmute to speak again)."""

    FIELDS = ("silent_minutes",)

    minutes: float = Field(default=10.0, gt=0)
    message: str = "You were muted after {silent_minutes:.0f} minutes of silence; unmute to speak."


class LockAtRule(_Rule):
    """Lock the conference once `participants` are in (the bot not counted) or at `at`."""

    participants: int | None = Field(default=None, ge=1)
    at: WallTime | None = None

    @model_validator(mode="after")
    def _check(self) -> LockAtRule:
        if self.enabled and self.participants is None and self.at is None:
            raise ValueError("lock_at needs participants or at")
        return self


class AdmitRule(_Rule):
    """Admit waiting-room participants whose display name or call tag matches; others wait.

    Patterns are shell-style (`Alice*`, `*@example.com`), case-insensitive."""

    names: list[str] = Field(default_factory=list)
    call_tags: list[str] = Field(default_factory=list)


class EndAtRule(_Rule):
    """Disconnect guests at `at`, after a chat warning `warning` seconds before."""

    FIELDS = ("minutes",)

    at: WallTime | None = None
    warning: float = Field(default=120.0, ge=0)
    message: str = "This meeting ends in {minutes:.0f} minutes; guests will then be disconnected."

    @model_validator(mode="after")
    def _check(self) -> EndAtRule:
        if self.enabled and self.at is None:
            raise ValueError("end_at needs at")
        return self


class SpotlightRule(_Rule):
    """Spotlight whoever has held the floor (the only speaker) for `seconds`."""

    seconds: float = Field(default=20.0, gt=0)


class ManagementSettings(BaseModel):
    """Where the management API is and how to log in (backend = "management")."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: The Management Node; by default the bot's own node (right for the local node).
    url: str | None = Field(default=None, pattern=r"^https?://")
    username: str = "admin"
    #: The password comes from this environment variable, or from `password_file`.
    #: Marked as secret references: a service request may only name variables the workers
    #: set aside for secrets (a default is the operator's, not the request's).
    password_env: Annotated[str, SecretReference("env")] = "PEXBOT_ADMIN_PASSWORD"
    password_file: Annotated[str | None, SecretReference("file")] = None
    verify_tls: bool = True
    timeout: float = Field(default=10.0, gt=0)


class ModeratorConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    #: Decide and audit, act on nothing (the chat command `dry-run` sets it at run time).
    dry_run: bool = False
    #: Which control plane acts: the client API (the bot must be a host) or the
    #: management API (admin credentials; any role).
    backend: Literal["client", "management"] = "client"
    management: ManagementSettings = Field(default_factory=ManagementSettings)
    #: One JSON line per decision.
    audit_file: str = "moderator.jsonl"
    #: No second action on a participant within this many seconds.
    cooldown: float = Field(default=60.0, ge=0)
    #: At most this many actions per minute chosen by voice activity (noise, presenting,
    #: double_talk, idle_mute, spotlight_speaker); list and clock rules are not limited.
    max_actions_per_minute: int = Field(default=10, ge=1)
    #: Never acted on (besides hosts and the bot itself); shell-style, case-insensitive.
    exempt_names: list[str] = Field(default_factory=list)
    exempt_call_tags: list[str] = Field(default_factory=list)
    #: A private chat message to whoever is muted, saying why and how to speak again.
    notify: bool = True
    #: Mute for `noise` only when the bot's own ears say it is not speech.
    confirm_with_audio: bool = False
    #: Seconds of audio heard with one participant alone needed for a verdict.
    classify_seconds: float = Field(default=3.0, ge=1.0, le=10.0)
    #: Speech score (0..1) at or above which the sound counts as speech.
    speech_threshold: float = Field(default=0.5, gt=0, lt=1)
    #: Gaps in voice activity shorter than this do not end a talk burst (VAD flaps).
    merge_gap: float = Field(default=0.8, ge=0)
    #: How often time-based rules are evaluated.
    tick: float = Field(default=0.25, gt=0, le=5)

    noise: NoiseRule = Field(default_factory=NoiseRule)
    presenting: PresentingRule = Field(default_factory=PresentingRule)
    double_talk: DoubleTalkRule = Field(default_factory=DoubleTalkRule)
    mute_on_entry: MuteOnEntryRule = Field(default_factory=MuteOnEntryRule)
    idle_mute: IdleMuteRule = Field(default_factory=IdleMuteRule)
    lock_at: LockAtRule = Field(default_factory=LockAtRule)
    admit: AdmitRule = Field(default_factory=AdmitRule)
    end_at: EndAtRule = Field(default_factory=EndAtRule)
    spotlight_speaker: SpotlightRule = Field(default_factory=SpotlightRule)

    def enabled_rules(self) -> list[str]:
        rules = (
            "noise",
            "presenting",
            "double_talk",
            "mute_on_entry",
            "idle_mute",
            "lock_at",
            "admit",
            "end_at",
            "spotlight_speaker",
        )
        return [name for name in rules if getattr(self, name).enabled]
