"""Configuration of the emulated OpenVidu Pro server (TOML or Python)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator

from ..config import ConfigError, format_validation_error, read_toml

#: Which paths the server answers: `openvidu-api` = 2.23+ defaults (`/openvidu/api/...`),
#: `pro` = 2.13-2.15 (`/pro/...` and CE's `/config`), `both` = 2.16-2.22 defaults (the
#: deprecated `/pro/...` paths still on), `v3` = OpenVidu v3: config only, no media-node API.
Profile = Literal["openvidu-api", "pro", "both", "v3"]
Environment = Literal["on_premise", "aws", "azure", "gcp", "docker"]

DEFAULT_SECRET = "MY_SECRET"  # the seed's example secret
DEFAULT_VERSIONS: dict[Profile, str] = {
    "pro": "2.15.0",
    "both": "2.22.0",
    "openvidu-api": "2.30.0",
    "v3": "3.0.0",
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class NodeSpec(_Strict):
    #: Default `kms_<n>`.
    id: str | None = Field(default=None, min_length=1)
    #: Default `ws://10.0.0.<n>:8888/kurento`.
    uri: str | None = Field(default=None, pattern=r"^wss?://[^/\s]+")
    ip: str | None = None
    environment_id: str | None = None
    status: Literal["launching", "canceled", "running", "waiting-idle-to-terminate", "failed"] = (
        "running"
    )
    load: float = Field(default=0.0, ge=0, le=100)
    #: Loads applied one after the other, every `load_interval` seconds (the last one stays).
    load_script: list[float] = Field(default_factory=list)
    #: Ids of sessions hosted from the start.
    sessions: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _loads(self) -> NodeSpec:
        if any(not 0 <= value <= 100 for value in self.load_script):
            raise ValueError("load_script values must be between 0 and 100")
        return self


class WebhookSpec(_Strict):
    #: Where events are POSTed (`OPENVIDU_WEBHOOK_ENDPOINT`); none: webhooks off.
    endpoint: str | None = Field(default=None, pattern=r"^https?://")
    #: `Name: value` strings sent with every POST (`OPENVIDU_WEBHOOK_HEADERS`).
    headers: list[str] = Field(default_factory=list)
    #: Event names to send; none: all (`OPENVIDU_WEBHOOK_EVENTS`).
    events: list[str] | None = None


class OpenViduServerConfig(_Strict):
    secret: SecretStr = SecretStr(DEFAULT_SECRET)
    profile: Profile = "openvidu-api"
    #: `VERSION` in the config answer; default by profile.
    version: str | None = None
    cluster_id: str = "pexbot-emulated"
    #: `on_premise`: POST needs `uri`, autodiscovery needs `discoverable`, nothing fails to
    #: launch. Other environments launch instances (and can be told to fail, see faults).
    environment: Environment = "on_premise"
    #: Seconds a new node stays `launching` (what `wait=true` waits for).
    launch_delay: float = Field(default=0.0, ge=0)
    #: Seconds a node stays `terminating`.
    termination_delay: float = Field(default=0.0, ge=0)
    load_interval: float = Field(default=1.0, gt=0)
    nodes: list[NodeSpec] = Field(default_factory=list)
    #: Nodes an autodiscovery (PUT) finds; none = no autodiscover script (405 on premises).
    discoverable: list[NodeSpec] | None = None
    #: On premises, the URIs POST can reach; none = every `ws://`/`wss://` URI.
    reachable_uris: list[str] | None = None
    webhook: WebhookSpec = Field(default_factory=WebhookSpec)

    @property
    def effective_version(self) -> str:
        return self.version or DEFAULT_VERSIONS[self.profile]

    @model_validator(mode="after")
    def _unique(self) -> OpenViduServerConfig:
        ids = [n.id for n in self.nodes if n.id]
        if len(ids) != len(set(ids)):
            raise ValueError("node ids must be unique")
        uris = [n.uri for n in self.nodes if n.uri]
        if len(uris) != len(set(uris)):
            raise ValueError("node uris must be unique")
        return self


def default_config() -> OpenViduServerConfig:
    """Two running nodes on premises and one to autodiscover, 2.16+ paths."""
    return OpenViduServerConfig(
        launch_delay=1.0,  # so that `wait=true` visibly waits
        nodes=[
            NodeSpec(id="kms_local1", load=12.5),
            NodeSpec(id="kms_local2", load=25.0),
        ],
        discoverable=[NodeSpec(id="kms_found1", uri="ws://10.0.1.1:8888/kurento")],
    )


def load_config(path: str | Path) -> OpenViduServerConfig:
    """A TOML file; raises `ConfigError` naming every problem (values never echoed)."""
    data = read_toml(path)
    try:
        return OpenViduServerConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, str(path))) from None
