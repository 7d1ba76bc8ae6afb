"""`client.configuration`, read only: the services, their aliases and the system locations
a probe or a moderator needs to find rooms. Writes are out of scope and refused by design
(`ManagementClient.request` raises `ReadOnlyError` for any non-GET here)."""

from __future__ import annotations

from ._config_models import ConferenceAlias, ConferenceConfig, SystemLocationConfig
from ._resource import ResourceGroup, get_endpoint, list_endpoint


class ConfigurationAPI(ResourceGroup):
    """Read-only configuration."""

    prefix = "configuration/v1/"

    conferences = list_endpoint(
        ConferenceConfig,
        "conference/",
        "Services (VMRs, auditoriums, receptions, test calls).",
    )
    conference = get_endpoint(ConferenceConfig, "conference/{}/")
    conference_aliases = list_endpoint(ConferenceAlias, "conference_alias/")
    conference_alias = get_endpoint(ConferenceAlias, "conference_alias/{}/")
    system_locations = list_endpoint(SystemLocationConfig, "system_location/")
    system_location = get_endpoint(SystemLocationConfig, "system_location/{}/")

    async def find_conference(self, alias: str) -> ConferenceConfig | None:
        """The service an alias dials into (case-insensitive), or None."""
        aliases = await self.conference_aliases(alias__iexact=alias, limit=1).first_page()
        if not aliases.objects:
            return None
        return await self.conference(aliases.objects[0].conference_id)
