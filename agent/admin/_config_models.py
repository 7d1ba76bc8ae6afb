"""Configuration resources the client reads (never writes): services, their aliases, and
system locations."""

from __future__ import annotations

from pydantic import Field

from ._model_base import AdminModel
from ._times import AdminTime, BlankInt


class ConferenceAlias(AdminModel):
    """An alias of a service (`conference` is the service's resource URI)."""

    id: int
    alias: str
    conference: str = ""
    description: str = ""
    creation_time: AdminTime = None
    resource_uri: str = ""

    @property
    def conference_id(self) -> str:
        """The id inside the `conference` URI."""
        return self.conference.rstrip("/").rsplit("/", 1)[-1]


class ConferenceConfig(AdminModel):
    """A service: Virtual Meeting Room, Virtual Auditorium, Virtual Reception, test call.

    `pin`/`guest_pin` are secrets: they are excluded from `repr` and from tables."""

    id: int
    name: str
    service_type: str = "conference"
    description: str = ""
    aliases: list[ConferenceAlias] = Field(default_factory=list)
    allow_guests: bool = False
    pin: str = Field(default="", repr=False)
    guest_pin: str = Field(default="", repr=False)
    participant_limit: BlankInt = None
    tag: str = ""
    system_location: str | None = None
    creation_time: AdminTime = None
    resource_uri: str = ""


class SystemLocationConfig(AdminModel):
    """A system location's configuration."""

    id: int
    name: str
    description: str = ""
    mtu: BlankInt = None
    resource_uri: str = ""


__all__ = ["ConferenceAlias", "ConferenceConfig", "SystemLocationConfig"]
