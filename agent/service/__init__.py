"""Bots as a service: an HTTP API (`pexbot serve`) and workers (`pexbot worker`) that
share jobs through Redis (Streams with a consumer group, hashes, leases with fencing
tokens, pub/sub stops), or through an in-process queue with the same behaviour.

Workers run the runtime's own `Bot` (same states, reason codes and webhooks as
`pexbot run`). The modules with a leading underscore are implementation.
"""

from __future__ import annotations

from ._api import ServiceApi, view
from ._auth import ApiKey, ApiKeys
from ._fence import FencedTransport, LeaseLostError
from ._handle import JobHandle, JobOutcome, JobRunner
from ._job import BotRunner
from ._memory import MemoryJobStore
from ._models import (
    JOB_STATES,
    Artifact,
    BotPage,
    BotRequest,
    BotView,
    ErrorBody,
    ErrorDetail,
    ErrorInfo,
    JobState,
    MediaRequest,
    MeetingRequest,
    PluginRequest,
    Timings,
)
from ._openapi import openapi_document
from ._redis import RedisJobStore, StoreUnavailable
from ._serve import ApiServer, Listen, serve, work
from ._spec import JobSettings, SecretPolicy, bot_config, check_request
from ._store import Claim, JobRecord, JobStore, Lease, LeaveOutcome, Renewal
from ._worker import Worker, WorkerSettings, worker_name
from .cli import add_parsers

__all__ = [
    "JOB_STATES",
    "ApiKey",
    "ApiKeys",
    "ApiServer",
    "Artifact",
    "BotPage",
    "BotRequest",
    "BotRunner",
    "BotView",
    "Claim",
    "ErrorBody",
    "ErrorDetail",
    "ErrorInfo",
    "FencedTransport",
    "JobHandle",
    "JobOutcome",
    "JobRecord",
    "JobRunner",
    "JobSettings",
    "JobState",
    "JobStore",
    "Lease",
    "LeaseLostError",
    "LeaveOutcome",
    "Listen",
    "MediaRequest",
    "MeetingRequest",
    "MemoryJobStore",
    "PluginRequest",
    "RedisJobStore",
    "Renewal",
    "SecretPolicy",
    "ServiceApi",
    "StoreUnavailable",
    "Timings",
    "Worker",
    "WorkerSettings",
    "add_parsers",
    "bot_config",
    "check_request",
    "openapi_document",
    "serve",
    "view",
    "work",
    "worker_name",
]
