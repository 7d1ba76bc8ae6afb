"""An emulated OpenVidu Pro server on 127.0.0.1 (media-node REST API, status machine,
webhooks, scripted load and faults) for tests and users' CI. It shares no code with the
client in `agent.admin.openvidu`, so neither can hide the other's bugs."""

from .cluster import Cluster, ClusterError, Faults
from .config import (
    DEFAULT_SECRET,
    NodeSpec,
    OpenViduServerConfig,
    Profile,
    WebhookSpec,
    default_config,
    load_config,
)
from .server import OpenViduServer

__all__ = [
    "DEFAULT_SECRET",
    "Cluster",
    "ClusterError",
    "Faults",
    "NodeSpec",
    "OpenViduServer",
    "OpenViduServerConfig",
    "Profile",
    "WebhookSpec",
    "default_config",
    "load_config",
]
