"""Administration clients: OpenVidu Pro media nodes (`agent.admin.openvidu`).

Import from `agent.admin.openvidu` for the full OpenVidu surface; the most used names are
re-exported here.
"""

from .openvidu import (
    MediaNodeWatcher,
    OpenViduClient,
    OpenViduError,
    OpenViduSettings,
    WatchConfig,
)

__all__ = [
    "MediaNodeWatcher",
    "OpenViduClient",
    "OpenViduError",
    "OpenViduSettings",
    "WatchConfig",
]
