"""`client.configuration`, read only: the services, their aliases and the system locations
a probe or a moderator needs to find rooms. Writes are out of scope and refused by design
(`ManagementClient.request` raises `ReadOnlyError` for any non-GET here)."""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import quote

from ._config_models import ConferenceAlias, ConferenceConfig, SystemLocationConfig
from ._paging import Pager
from ._port import ClientPort
from ._query import FilterValue

CONFIGURATION = "configuration/v1/"
Order = str | Sequence[str] | None


def _id(value: str | int) -> str:
    return quote(str(value), safe="")


class ConfigurationAPI:
    """Read-only configuration."""

    def __init__(self, client: ClientPort) -> None:
        self._client = client

    def conferences(
        self,
        *,
        order_by: Order = None,
        limit: int | None = None,
        max_pages: int | None = None,
        **filters: FilterValue,
    ) -> Pager[ConferenceConfig]:
        """Services (VMRs, auditoriums, receptions, test calls)."""
        return self._client.list(
            ConferenceConfig,
            CONFIGURATION + "conference/",
            filters,
            order_by=order_by,
            limit=limit,
            max_pages=max_pages,
        )

    async def conference(self, conference_id: int | str) -> ConferenceConfig:
        return await self._client.get_object(
            f"{CONFIGURATION}conference/{_id(conference_id)}/", ConferenceConfig
        )

    def conference_aliases(
        self,
        *,
        order_by: Order = None,
        limit: int | None = None,
        max_pages: int | None = None,
        **filters: FilterValue,
    ) -> Pager[ConferenceAlias]:
        return self._client.list(
            ConferenceAlias,
            CONFIGURATION + "conference_alias/",
            filters,
            order_by=order_by,
            limit=limit,
            max_pages=max_pages,
        )

    async def conference_alias(self, alias_id: int | str) -> ConferenceAlias:
        return await self._client.get_object(
            f"{CONFIGURATION}conference_alias/{_id(alias_id)}/", ConferenceAlias
        )

    def system_locations(
        self,
        *,
        order_by: Order = None,
        limit: int | None = None,
        max_pages: int | None = None,
        **filters: FilterValue,
    ) -> Pager[SystemLocationConfig]:
        return self._client.list(
            SystemLocationConfig,
            CONFIGURATION + "system_location/",
            filters,
            order_by=order_by,
            limit=limit,
            max_pages=max_pages,
        )

    async def system_location(self, location_id: int | str) -> SystemLocationConfig:
        return await self._client.get_object(
            f"{CONFIGURATION}system_location/{_id(location_id)}/", SystemLocationConfig
        )

    async def find_conference(self, alias: str) -> ConferenceConfig | None:
        """The service an alias dials into (case-insensitive), or None."""
        aliases = await self.conference_aliases(alias__iexact=alias, limit=1).first_page()
        if not aliases.objects:
            return None
        return await self.conference(aliases.objects[0].conference_id)
