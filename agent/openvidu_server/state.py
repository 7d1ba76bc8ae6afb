"""Server-wide state: the cluster, the webhook emitter, the secret and the configuration
properties (`GET .../config`, changed by `POST .../restart`)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from .cluster import Cluster, ClusterError
from .config import OpenViduServerConfig
from .webhooks import WebhookEmitter

# What a restart may change (the seed's list, plus OPENVIDU_SECRET from its sample) and
# the JSON type each must have.
RESTARTABLE: dict[str, str] = {
    "OPENVIDU_SECRET": "string",
    "OPENVIDU_CDR": "boolean",
    "OPENVIDU_RECORDING": "boolean",
    "OPENVIDU_RECORDING_PATH": "string",
    "OPENVIDU_RECORDING_PUBLIC_ACCESS": "boolean",
    "OPENVIDU_RECORDING_NOTIFICATION": "string",
    "OPENVIDU_RECORDING_CUSTOM_LAYOUT": "string",
    "OPENVIDU_RECORDING_AUTOSTOP_TIMEOUT": "number",
    "OPENVIDU_WEBHOOK": "boolean",
    "OPENVIDU_WEBHOOK_ENDPOINT": "string",
    "OPENVIDU_WEBHOOK_HEADERS": "array of strings",
    "OPENVIDU_WEBHOOK_EVENTS": "array of strings",
    "OPENVIDU_STREAMS_VIDEO_MAX_RECV_BANDWIDTH": "number",
    "OPENVIDU_STREAMS_VIDEO_MIN_RECV_BANDWIDTH": "number",
    "OPENVIDU_STREAMS_VIDEO_MAX_SEND_BANDWIDTH": "number",
    "OPENVIDU_STREAMS_VIDEO_MIN_SEND_BANDWIDTH": "number",
    "OPENVIDU_SESSIONS_GARBAGE_INTERVAL": "number",
    "OPENVIDU_SESSIONS_GARBAGE_THRESHOLD": "number",
    "OPENVIDU_PRO_CLUSTER_ID": "string",
    "OPENVIDU_PRO_CLUSTER_MEDIA_NODES": "number",
    "OPENVIDU_PRO_CLUSTER_PATH": "string",
    "OPENVIDU_PRO_CLUSTER_AUTOSCALING": "boolean",
    "OPENVIDU_PRO_CLUSTER_AUTOSCALING_MAX_NODES": "number",
    "OPENVIDU_PRO_CLUSTER_AUTOSCALING_MIN_NODES": "number",
    "OPENVIDU_PRO_CLUSTER_AUTOSCALING_MAX_LOAD": "number",
    "OPENVIDU_PRO_CLUSTER_AUTOSCALING_MIN_LOAD": "number",
    "OPENVIDU_PRO_STATS_MONITORING_INTERVAL": "number",
    "OPENVIDU_PRO_STATS_WEBRTC_INTERVAL": "number",
}
_NOTIFICATIONS = ("none", "publisher_moderator", "all")
# Never shown by GET config (and redacted in the restart history).
_HIDDEN = ("OPENVIDU_SECRET", "OPENVIDU_WEBHOOK_HEADERS")


def _is(kind: str, value: Any) -> bool:
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if kind == "string":
        return isinstance(value, str)
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def parse_restart_body(raw: bytes) -> dict[str, Any]:
    """The restart body as a dict, or a 400 naming the problem. Tolerates the seed's
    sample, whose `OPENVIDU_WEBHOOK_HEADERS` has shell-escaped quotes and spaces."""
    text = raw.decode("utf-8", errors="replace")
    try:
        body = json.loads(text)
    except ValueError:
        try:
            body = json.loads(text.replace('\\"', '"').replace("\\ ", " "))
        except ValueError:
            raise ClusterError(400, "body is not valid JSON") from None
    if not isinstance(body, dict):
        raise ClusterError(400, "body must be a JSON object")
    for key, value in body.items():
        kind = RESTARTABLE.get(key)
        if kind is None:
            raise ClusterError(400, f"property {key} cannot be modified with this method")
        if not _is(kind, value):
            raise ClusterError(400, f"property {key} must be {kind}")
    notification = body.get("OPENVIDU_RECORDING_NOTIFICATION")
    if notification is not None and notification not in _NOTIFICATIONS:
        allowed = ", ".join(_NOTIFICATIONS)
        raise ClusterError(
            400, f"property OPENVIDU_RECORDING_NOTIFICATION must be one of {allowed}"
        )
    return body


@dataclass
class ServerState:
    config: OpenViduServerConfig
    cluster: Cluster
    webhooks: WebhookEmitter
    secret: str
    properties: dict[str, Any] = field(default_factory=dict)
    webhook_headers: list[str] = field(default_factory=list)
    #: Applied restart bodies, secrets redacted.
    restarts: list[dict[str, Any]] = field(default_factory=list)

    def init_properties(self, base_url: str, port: int) -> None:
        cfg = self.config
        hook = cfg.webhook
        self.properties = {
            "VERSION": cfg.effective_version,
            "OPENVIDU_SERVER_DEPENDENCY_VERSION": cfg.effective_version,
            "DOMAIN_OR_PUBLIC_IP": "127.0.0.1",
            "HTTPS_PORT": port,
            "OPENVIDU_PUBLICURL": base_url + "/",
            "KMS_URIS": [n.uri for n in self.cluster.nodes.values() if n.uri],
            "OPENVIDU_CDR": False,
            "OPENVIDU_STREAMS_VIDEO_MAX_RECV_BANDWIDTH": 1000,
            "OPENVIDU_STREAMS_VIDEO_MIN_RECV_BANDWIDTH": 300,
            "OPENVIDU_STREAMS_VIDEO_MAX_SEND_BANDWIDTH": 1000,
            "OPENVIDU_STREAMS_VIDEO_MIN_SEND_BANDWIDTH": 300,
            "OPENVIDU_SESSIONS_GARBAGE_INTERVAL": 900,
            "OPENVIDU_SESSIONS_GARBAGE_THRESHOLD": 3600,
            "OPENVIDU_RECORDING": False,
            "OPENVIDU_WEBHOOK": hook.endpoint is not None,
            "OPENVIDU_WEBHOOK_ENDPOINT": hook.endpoint,
            "OPENVIDU_WEBHOOK_EVENTS": hook.events,
            "OPENVIDU_PRO_STATS_MONITORING_INTERVAL": 10,
            "OPENVIDU_PRO_STATS_WEBRTC_INTERVAL": 30,
            "OPENVIDU_PRO_CLUSTER_ID": cfg.cluster_id,
            "OPENVIDU_PRO_CLUSTER_ENVIRONMENT": cfg.environment,
            "OPENVIDU_PRO_CLUSTER_MEDIA_NODES": len(cfg.nodes),
            "OPENVIDU_PRO_CLUSTER_AUTOSCALING": False,
            "OPENVIDU_PRO_CLUSTER_AUTOSCALING_MAX_NODES": 2,
            "OPENVIDU_PRO_CLUSTER_AUTOSCALING_MIN_NODES": 1,
            "OPENVIDU_PRO_CLUSTER_AUTOSCALING_MAX_LOAD": 70,
            "OPENVIDU_PRO_CLUSTER_AUTOSCALING_MIN_LOAD": 20,
            "OPENVIDU_PRO_CLUSTER_PATH": "/opt/openvidu/cluster/",
        }
        self.webhook_headers = list(hook.headers)
        self._configure_webhooks()

    def _configure_webhooks(self) -> None:
        p = self.properties
        self.webhooks.configure(
            enabled=bool(p["OPENVIDU_WEBHOOK"]),
            endpoint=p["OPENVIDU_WEBHOOK_ENDPOINT"],
            headers=self.webhook_headers,
            events=p["OPENVIDU_WEBHOOK_EVENTS"],
        )

    def restart(self, body: dict[str, Any]) -> None:
        """Apply a validated restart: new properties, secret and webhook settings; every
        session ends as it would when the server stops."""
        merged = {**self.properties, **body}
        if merged.get("OPENVIDU_WEBHOOK") and not merged.get("OPENVIDU_WEBHOOK_ENDPOINT"):
            raise ClusterError(
                400, "OPENVIDU_WEBHOOK_ENDPOINT is mandatory when OPENVIDU_WEBHOOK is true"
            )
        self.cluster.close_all_sessions("openviduServerStopped")
        for key, value in body.items():
            if key == "OPENVIDU_SECRET":
                self.secret = value
            elif key != "OPENVIDU_WEBHOOK_HEADERS":
                self.properties[key] = value
        if "OPENVIDU_WEBHOOK_HEADERS" in body:
            self.webhook_headers = list(body["OPENVIDU_WEBHOOK_HEADERS"])
        self._configure_webhooks()
        self.restarts.append({k: ("***" if k in _HIDDEN else v) for k, v in body.items()})


STATE = web.AppKey("openvidu_state", ServerState)
