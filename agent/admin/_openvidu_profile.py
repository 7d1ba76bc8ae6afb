"""Path profiles: where a given OpenVidu Pro release serves the media-node API.

2.13-2.15 served it under `/pro/...`; 2.16 moved every path under `/openvidu/api/` and kept
the old ones behind `SUPPORT_DEPRECATED_API` (default off from 2.23); v3 removed it. The
client detects the profile once per client (see `OpenViduClient.detect_profile`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

ProfileName = Literal["openvidu-api", "pro"]
ProfileChoice = Literal["auto", "openvidu-api", "pro"]


@dataclass(frozen=True)
class PathProfile:
    name: ProfileName
    description: str
    config: str
    media_nodes: str
    restart: str

    def media_node(self, quoted_id: str) -> str:
        return f"{self.media_nodes}/{quoted_id}"


OPENVIDU_API = PathProfile(
    name="openvidu-api",
    description="OpenVidu Pro 2.16+ (/openvidu/api/...)",
    config="/openvidu/api/config",
    media_nodes="/openvidu/api/media-nodes",
    restart="/openvidu/api/restart",
)

PRO = PathProfile(
    name="pro",
    description="OpenVidu Pro 2.13-2.15 paths (/pro/...)",
    config="/pro/config",
    media_nodes="/pro/media-nodes",
    restart="/pro/restart",
)

#: OpenVidu CE's config path; a 2.13-2.15 server that only answers here for config still
#: has its media nodes under `/pro/`.
CE_CONFIG = "/config"

PROFILES: dict[ProfileName, PathProfile] = {p.name: p for p in (OPENVIDU_API, PRO)}
