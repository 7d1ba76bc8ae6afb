"""Typed models of the OpenVidu Pro media-node API: nodes, lists, config, restart, webhooks.

Field names are snake_case in Python and camelCase (or UPPER_CASE for config) on the wire.
Unknown fields are kept (`model_extra`), never dropped: newer servers add fields.
"""

from __future__ import annotations

from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, SecretStr
from pydantic.alias_generators import to_camel

MediaNodeStatus = Literal[
    "launching",
    "canceled",
    "failed",
    "running",
    "waiting-idle-to-terminate",
    "terminating",
    "terminated",
]
MEDIA_NODE_STATUSES: tuple[MediaNodeStatus, ...] = get_args(MediaNodeStatus)

DeletionStrategy = Literal["now", "if-no-sessions", "when-no-sessions"]
DELETION_STRATEGIES: tuple[DeletionStrategy, ...] = get_args(DeletionStrategy)

#: The transitions a PATCH may ask for (`openvidu-pro/scalability`); the same status is a
#: no-op (204), anything else is refused (400).
PATCH_TRANSITIONS: frozenset[tuple[MediaNodeStatus, MediaNodeStatus]] = frozenset(
    {
        ("launching", "canceled"),
        ("canceled", "launching"),
        ("running", "waiting-idle-to-terminate"),
        ("waiting-idle-to-terminate", "running"),
        ("running", "terminating"),
        ("waiting-idle-to-terminate", "terminating"),
    }
)

#: Autoscaling defaults of OpenVidu Pro: scale out above this average load, in below that.
DEFAULT_MAX_LOAD = 70.0
DEFAULT_MIN_LOAD = 20.0


class _Wire(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="allow", frozen=True
    )


class OpenViduSession(_Wire):
    """A session hosted by a media node (`sessions=true`); only the identifying fields are
    typed, the rest stays in `model_extra`."""

    session_id: str | None = None
    #: 2.16+ names the session id `id` as well.
    id: str | None = None
    created_at: int | None = None
    media_node_id: str | None = None


class MediaNode(_Wire):
    """One media node, as `GET .../media-nodes/<id>` returns it.

    Every field but `id` may be absent: the seed's list sample has no status, a node added
    without `wait` has most properties null, and the PATCH sample carries `quarantined`.
    """

    id: str
    environment_id: str | None = None
    ip: str | None = None
    uri: str | None = None
    connected: bool | None = None
    #: UTC milliseconds.
    connection_time: int | None = None
    #: UTC milliseconds; only when `connected` is false.
    disconnection_time: int | None = None
    sessions: list[OpenViduSession] | None = None
    #: CPU load of the media node, 0-100.
    load: float | None = None
    status: MediaNodeStatus | None = None
    kurento_info: dict[str, Any] | None = None
    #: Only in the seed's PATCH sample (2.13).
    quarantined: bool | None = None
    # 2.16+ additions.
    object_type: str | None = Field(default=None, alias="object")
    launching_time: int | None = None
    recording_ids: list[str] | None = None
    broadcasts: list[Any] | None = None


class MediaNodeList(_Wire):
    """`{numberOfElements, content}`: every node (GET) or the newly discovered ones (PUT)."""

    number_of_elements: int
    content: list[MediaNode]


class OpenViduConfig(BaseModel):
    """`GET .../config`: the typed keys the watcher and CLI use; every other key is kept in
    `model_extra` under its wire name."""

    model_config = ConfigDict(populate_by_name=True, extra="allow", frozen=True)

    version: str | None = Field(default=None, alias="VERSION")
    server_dependency_version: str | None = Field(
        default=None, alias="OPENVIDU_SERVER_DEPENDENCY_VERSION"
    )
    cluster_id: str | None = Field(default=None, alias="OPENVIDU_PRO_CLUSTER_ID")
    cluster_environment: str | None = Field(default=None, alias="OPENVIDU_PRO_CLUSTER_ENVIRONMENT")
    cluster_media_nodes: int | None = Field(default=None, alias="OPENVIDU_PRO_CLUSTER_MEDIA_NODES")
    autoscaling: bool | None = Field(default=None, alias="OPENVIDU_PRO_CLUSTER_AUTOSCALING")
    autoscaling_max_load: float | None = Field(
        default=None, alias="OPENVIDU_PRO_CLUSTER_AUTOSCALING_MAX_LOAD"
    )
    autoscaling_min_load: float | None = Field(
        default=None, alias="OPENVIDU_PRO_CLUSTER_AUTOSCALING_MIN_LOAD"
    )
    autoscaling_max_nodes: int | None = Field(
        default=None, alias="OPENVIDU_PRO_CLUSTER_AUTOSCALING_MAX_NODES"
    )
    autoscaling_min_nodes: int | None = Field(
        default=None, alias="OPENVIDU_PRO_CLUSTER_AUTOSCALING_MIN_NODES"
    )
    kms_uris: list[str] | None = Field(default=None, alias="KMS_URIS")

    def major_version(self) -> int | None:
        """The major number of `VERSION` (3 on the LiveKit-based v3), None if unreadable."""
        head = (self.version or "").split(".", 1)[0]
        return int(head) if head.isdigit() else None


class RestartConfig(BaseModel):
    """The body of `POST .../restart`: only the properties the seed lists as changeable
    (plus `OPENVIDU_SECRET`, which its sample sends). A typo is refused here, before the
    request. Python names are the wire names in lower case."""

    model_config = ConfigDict(
        alias_generator=str.upper, populate_by_name=True, extra="forbid", frozen=True
    )

    openvidu_secret: SecretStr | None = None
    openvidu_cdr: bool | None = None
    openvidu_recording: bool | None = None
    openvidu_recording_path: str | None = None
    openvidu_recording_public_access: bool | None = None
    openvidu_recording_notification: str | None = None
    openvidu_recording_custom_layout: str | None = None
    openvidu_recording_autostop_timeout: int | None = None
    openvidu_webhook: bool | None = None
    openvidu_webhook_endpoint: str | None = None
    #: Often carries an `Authorization` header: treated as a secret in the audit log.
    openvidu_webhook_headers: list[str] | None = None
    openvidu_webhook_events: list[str] | None = None
    openvidu_streams_video_max_recv_bandwidth: int | None = None
    openvidu_streams_video_min_recv_bandwidth: int | None = None
    openvidu_streams_video_max_send_bandwidth: int | None = None
    openvidu_streams_video_min_send_bandwidth: int | None = None
    openvidu_sessions_garbage_interval: int | None = None
    openvidu_sessions_garbage_threshold: int | None = None
    openvidu_pro_cluster_id: str | None = None
    openvidu_pro_cluster_media_nodes: int | None = None
    openvidu_pro_cluster_path: str | None = None
    openvidu_pro_cluster_autoscaling: bool | None = None
    openvidu_pro_cluster_autoscaling_max_nodes: int | None = None
    openvidu_pro_cluster_autoscaling_min_nodes: int | None = None
    openvidu_pro_cluster_autoscaling_max_load: float | None = None
    openvidu_pro_cluster_autoscaling_min_load: float | None = None
    openvidu_pro_stats_monitoring_interval: int | None = None
    openvidu_pro_stats_webrtc_interval: int | None = None

    def wire_body(self) -> dict[str, Any]:
        """The JSON body: set properties only, under their wire names, secret revealed."""
        body = self.model_dump(by_alias=True, exclude_none=True)
        if self.openvidu_secret is not None:
            body["OPENVIDU_SECRET"] = self.openvidu_secret.get_secret_value()
        return body

    def redacted(self) -> dict[str, Any]:
        """The same keys with secret-bearing values replaced, for the audit log."""
        body = self.model_dump(by_alias=True, exclude_none=True, mode="json")
        for key in ("OPENVIDU_SECRET", "OPENVIDU_WEBHOOK_HEADERS"):
            if key in body:
                body[key] = "***"
        return body


class _Event(_Wire):
    timestamp: int | None = None
    id: str
    environment_id: str | None = None
    ip: str | None = None
    uri: str | None = None
    cluster_id: str | None = None
    #: `medianode` for media nodes (2.16+); absent on older servers.
    node_role: str | None = None


class MediaNodeStatusChanged(_Event):
    """Webhook: a media node changed status."""

    event: Literal["mediaNodeStatusChanged"]
    #: None when the new status is `launching`.
    old_status: MediaNodeStatus | None = None
    new_status: MediaNodeStatus


class NodeCrashed(_Event):
    """Webhook: OpenVidu lost a node and could not silently reconnect to it."""

    event: Literal["nodeCrashed"]
    session_ids: list[str] | None = None
    recording_ids: list[str] | None = None
    broadcasts: list[Any] | None = None


class NodeRecovered(_Event):
    """Webhook: a crashed node is reachable again."""

    event: Literal["nodeRecovered"]


class OtherWebhookEvent(_Wire):
    """Any other OpenVidu webhook event (sessionCreated, recordingStatusChanged, ...)."""

    event: str


NodeWebhookEvent = MediaNodeStatusChanged | NodeCrashed | NodeRecovered
WebhookEvent = NodeWebhookEvent | OtherWebhookEvent

_NODE_EVENTS: dict[str, type[NodeWebhookEvent]] = {
    "mediaNodeStatusChanged": MediaNodeStatusChanged,
    "nodeCrashed": NodeCrashed,
    "nodeRecovered": NodeRecovered,
}


def parse_webhook_event(data: Any) -> WebhookEvent:
    """One webhook body as a typed event; raises `ValueError` (or pydantic's
    `ValidationError`, a subclass) naming what is wrong."""
    if not isinstance(data, dict):
        raise ValueError(f"expected a JSON object, got {type(data).__name__}")
    name = data.get("event")
    if not isinstance(name, str) or not name:
        raise ValueError("no 'event' name")
    model = _NODE_EVENTS.get(name)
    if model is None:
        return OtherWebhookEvent.model_validate(data)
    return model.model_validate(data)
