"""Pexip Infinity management API client, event-sink receiver (`EventSinkReceiver`), and the
OpenVidu Pro media-node client (`agent.admin.openvidu`).

    from agent.admin import ManagementClient

    async with ManagementClient(url, username="admin", password=secret) as api:
        async for p in api.status.participants(conference="meet"):
            print(p.display_name, p.call_quality)

Modules with a leading underscore are implementation; everything public is here.
"""

from __future__ import annotations

from ._auth import Auth, BasicAuth, BearerAuth, OAuth2ClientCredentials
from ._client import ManagementClient
from ._command import CommandAPI
from ._command_models import CommandReply, DialResult
from ._config_models import ConferenceAlias, ConferenceConfig, SystemLocationConfig
from ._configuration import ConfigurationAPI
from ._errors import (
    CommandError,
    ManagementAuthError,
    ManagementBadRequestError,
    ManagementError,
    ManagementHTTPError,
    ManagementNotFoundError,
    ManagementRateLimitedError,
    ManagementResponseError,
    ManagementServerError,
    ManagementTransportError,
    PageLimitError,
    ReadOnlyError,
)
from ._history import HistoryAPI
from ._history_models import HistoryConference, HistoryMediaStream, HistoryParticipant
from ._model_base import AdminModel, quality_label, quality_level
from ._paging import ListMeta, Page, Pager
from ._query import FILTER_OPERATORS, FilterValue, query_params
from ._retry import RetryPolicy, parse_retry_after
from ._sink import EventSinkReceiver, SinkCounters
from ._sink_models import (
    ConferenceEvent,
    ConferenceEventData,
    MediaStreamsDestroyedData,
    MediaStreamsDestroyedEvent,
    MediaStreamWindowData,
    MediaStreamWindowEvent,
    ParticipantEvent,
    ParticipantEventData,
    SinkEvent,
    SinkEventError,
    SinkLifecycleEvent,
    SinkMediaStream,
    UnknownSinkEvent,
    parse_event,
)
from ._sink_sequence import SequenceGap, SequenceTracker
from ._status import StatusAPI
from ._status_models import (
    Alarm,
    ConferenceStatus,
    LoadStatistics,
    MediaStreamStatus,
    ParticipantStatus,
    SystemLocationStatus,
    WorkerVmStatus,
)
from ._times import format_time, parse_time
from ._transport import AdminRequest, AdminResponse, AiohttpTransport, Transport

# OpenVidu Pro media-node client: the full surface is in `agent.admin.openvidu`.
from .openvidu import (
    MediaNodeWatcher,
    OpenViduClient,
    OpenViduError,
    OpenViduSettings,
    WatchConfig,
)

__all__ = [
    "FILTER_OPERATORS",
    "AdminModel",
    "AdminRequest",
    "AdminResponse",
    "AiohttpTransport",
    "Alarm",
    "Auth",
    "BasicAuth",
    "BearerAuth",
    "CommandAPI",
    "CommandError",
    "CommandReply",
    "ConferenceAlias",
    "ConferenceConfig",
    "ConferenceEvent",
    "ConferenceEventData",
    "ConferenceStatus",
    "ConfigurationAPI",
    "DialResult",
    "EventSinkReceiver",
    "FilterValue",
    "HistoryAPI",
    "HistoryConference",
    "HistoryMediaStream",
    "HistoryParticipant",
    "ListMeta",
    "LoadStatistics",
    "ManagementAuthError",
    "ManagementBadRequestError",
    "ManagementClient",
    "ManagementError",
    "ManagementHTTPError",
    "ManagementNotFoundError",
    "ManagementRateLimitedError",
    "ManagementResponseError",
    "ManagementServerError",
    "ManagementTransportError",
    "MediaNodeWatcher",
    "MediaStreamStatus",
    "MediaStreamWindowData",
    "MediaStreamWindowEvent",
    "MediaStreamsDestroyedData",
    "MediaStreamsDestroyedEvent",
    "OAuth2ClientCredentials",
    "OpenViduClient",
    "OpenViduError",
    "OpenViduSettings",
    "Page",
    "PageLimitError",
    "Pager",
    "ParticipantEvent",
    "ParticipantEventData",
    "ParticipantStatus",
    "ReadOnlyError",
    "RetryPolicy",
    "SequenceGap",
    "SequenceTracker",
    "SinkCounters",
    "SinkEvent",
    "SinkEventError",
    "SinkLifecycleEvent",
    "SinkMediaStream",
    "StatusAPI",
    "SystemLocationConfig",
    "SystemLocationStatus",
    "Transport",
    "UnknownSinkEvent",
    "WatchConfig",
    "WorkerVmStatus",
    "format_time",
    "parse_event",
    "parse_retry_after",
    "parse_time",
    "quality_label",
    "quality_level",
    "query_params",
]
