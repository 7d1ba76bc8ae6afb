"""Configuration resources, read only: the node's services (`conference`), their aliases
(`conference_alias`) and its one system location, built from the node's TOML config.

Ids are positions in the config (1-based), stable for one node's life. Like a Management
Node, the service objects carry their PINs: the API is for administrators.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..context import NodeContext
from .status import LOCATION_ID, LOCATION_NAME, iso
from .tastypie import ALL, Resource

CONFIGURATION = "/api/admin/configuration/v1"
SERVICE_TYPES = {
    "conference": "conference",
    "lecture": "lecture",
    "reception": "two_stage_dialing",
    "test_call": "test_call",
}
MTU = 1500


@dataclass
class ConfigurationView:
    ctx: NodeContext

    def _created(self) -> str:
        return iso(self.ctx.state.started_at)

    def aliases(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for service_id, service in enumerate(self.ctx.config.services, start=1):
            for alias in service.aliases:
                alias_id = len(out) + 1
                out.append(
                    {
                        "id": alias_id,
                        "alias": alias,
                        "conference": f"{CONFIGURATION}/conference/{service_id}/",
                        "description": "",
                        "creation_time": self._created(),
                        "resource_uri": f"{CONFIGURATION}/conference_alias/{alias_id}/",
                    }
                )
        return out

    def conferences(self) -> list[dict[str, Any]]:
        aliases = self.aliases()
        out: list[dict[str, Any]] = []
        for service_id, service in enumerate(self.ctx.config.services, start=1):
            uri = f"{CONFIGURATION}/conference/{service_id}/"
            out.append(
                {
                    "id": service_id,
                    "name": service.name,
                    "service_type": SERVICE_TYPES[service.kind],
                    "description": service.description,
                    "aliases": [a for a in aliases if a["conference"] == uri],
                    "allow_guests": service.guests_allowed,
                    "pin": service.host_pin or "",
                    "guest_pin": service.guest_pin or "",
                    "guests_can_present": service.guests_can_present,
                    "mute_all_guests": service.guests_muted,
                    "participant_limit": service.participant_limit,
                    "enable_chat": "yes" if service.chat_enabled else "no",
                    "tag": "",
                    "system_location": None,
                    "creation_time": self._created(),
                    "resource_uri": uri,
                }
            )
        return out

    def system_locations(self) -> list[dict[str, Any]]:
        return [
            {
                "id": LOCATION_ID,
                "name": LOCATION_NAME,
                "description": "The local node",
                "mtu": MTU,
                "resource_uri": f"{CONFIGURATION}/system_location/{LOCATION_ID}/",
            }
        ]


CONFERENCE_FIELDS = frozenset(
    {
        "id",
        "name",
        "service_type",
        "description",
        "aliases",
        "allow_guests",
        "pin",
        "guest_pin",
        "guests_can_present",
        "mute_all_guests",
        "participant_limit",
        "enable_chat",
        "tag",
        "system_location",
        "creation_time",
        "resource_uri",
    }
)
CONFERENCE = Resource(
    uri=f"{CONFIGURATION}/conference/",
    fields=CONFERENCE_FIELDS,
    filtering=dict.fromkeys(("id", "name", "service_type", "description", "tag"), ALL),
    ordering=frozenset({"id", "name", "service_type"}),
)
CONFERENCE_ALIAS = Resource(
    uri=f"{CONFIGURATION}/conference_alias/",
    fields=frozenset({"id", "alias", "conference", "description", "creation_time", "resource_uri"}),
    filtering={
        **dict.fromkeys(("id", "alias", "description", "creation_time"), ALL),
        "conference": frozenset({"exact", "in"}),
    },
    ordering=frozenset({"id", "alias"}),
    lookups={"conference": lambda obj: str(obj["conference"]).rstrip("/").rsplit("/", 1)[-1]},
)
SYSTEM_LOCATION = Resource(
    uri=f"{CONFIGURATION}/system_location/",
    fields=frozenset({"id", "name", "description", "mtu", "resource_uri"}),
    filtering=dict.fromkeys(("id", "name", "description"), ALL),
    ordering=frozenset({"id", "name"}),
)
