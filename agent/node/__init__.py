"""The local Infinity node: an emulated Conferencing Node on 127.0.0.1 (client API v2,
event stream, aiortc peers) for development and end-to-end tests."""

from .banner import startup_lines
from .config import ControlConfig, NodeConfig, ServiceConfig, default_config, load_node_config
from .faults import FaultConfig, RouteFault
from .heap import settle_heap
from .media import DiscardMedia, MediaHandler, NodePeer
from .server import LocalNode

__all__ = [
    "ControlConfig",
    "DiscardMedia",
    "FaultConfig",
    "LocalNode",
    "MediaHandler",
    "NodeConfig",
    "NodePeer",
    "RouteFault",
    "ServiceConfig",
    "default_config",
    "load_node_config",
    "settle_heap",
    "startup_lines",
]
