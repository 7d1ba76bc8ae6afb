"""`client.status`: conferences, participants and their media streams, nodes, locations,
their load statistics, and alarms (`/api/admin/status/v1/...`)."""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import quote

from ._paging import Pager
from ._port import ClientPort
from ._query import FilterValue
from ._status_models import (
    Alarm,
    ConferenceStatus,
    LoadStatistics,
    MediaStreamStatus,
    ParticipantStatus,
    SystemLocationStatus,
    WorkerVmStatus,
)

STATUS = "status/v1/"
Order = str | Sequence[str] | None


def _id(value: str | int) -> str:
    return quote(str(value), safe="")


class StatusAPI:
    """Live state. Lists take Tastypie filters as keyword arguments
    (`display_name__icontains="bot"`), `order_by`, `limit` (page size), `max_pages`."""

    def __init__(self, client: ClientPort) -> None:
        self._client = client

    def conferences(
        self,
        *,
        order_by: Order = None,
        limit: int | None = None,
        max_pages: int | None = None,
        **filters: FilterValue,
    ) -> Pager[ConferenceStatus]:
        return self._client.list(
            ConferenceStatus,
            STATUS + "conference/",
            filters,
            order_by=order_by,
            limit=limit,
            max_pages=max_pages,
        )

    async def conference(self, conference_id: str) -> ConferenceStatus:
        return await self._client.get_object(
            f"{STATUS}conference/{_id(conference_id)}/", ConferenceStatus
        )

    def participants(
        self,
        *,
        order_by: Order = None,
        limit: int | None = None,
        max_pages: int | None = None,
        **filters: FilterValue,
    ) -> Pager[ParticipantStatus]:
        return self._client.list(
            ParticipantStatus,
            STATUS + "participant/",
            filters,
            order_by=order_by,
            limit=limit,
            max_pages=max_pages,
        )

    async def participant(self, participant_id: str) -> ParticipantStatus:
        """One participant, with `historic_call_quality` and `bucketed_call_quality`."""
        return await self._client.get_object(
            f"{STATUS}participant/{_id(participant_id)}/", ParticipantStatus
        )

    def media_streams(
        self,
        participant_id: str,
        *,
        order_by: Order = None,
        limit: int | None = None,
        max_pages: int | None = None,
        **filters: FilterValue,
    ) -> Pager[MediaStreamStatus]:
        return self._client.list(
            MediaStreamStatus,
            f"{STATUS}participant/{_id(participant_id)}/media_stream/",
            filters,
            order_by=order_by,
            limit=limit,
            max_pages=max_pages,
        )

    def worker_vms(
        self,
        *,
        order_by: Order = None,
        limit: int | None = None,
        max_pages: int | None = None,
        **filters: FilterValue,
    ) -> Pager[WorkerVmStatus]:
        return self._client.list(
            WorkerVmStatus,
            STATUS + "worker_vm/",
            filters,
            order_by=order_by,
            limit=limit,
            max_pages=max_pages,
        )

    async def worker_vm(self, worker_vm_id: int | str) -> WorkerVmStatus:
        return await self._client.get_object(
            f"{STATUS}worker_vm/{_id(worker_vm_id)}/", WorkerVmStatus
        )

    async def worker_vm_statistics(self, worker_vm_id: int | str) -> LoadStatistics:
        """A Conferencing Node's current load."""
        return await self._client.get_object(
            f"{STATUS}worker_vm/{_id(worker_vm_id)}/statistics/", LoadStatistics
        )

    def system_locations(
        self,
        *,
        order_by: Order = None,
        limit: int | None = None,
        max_pages: int | None = None,
        **filters: FilterValue,
    ) -> Pager[SystemLocationStatus]:
        return self._client.list(
            SystemLocationStatus,
            STATUS + "system_location/",
            filters,
            order_by=order_by,
            limit=limit,
            max_pages=max_pages,
        )

    async def system_location(self, location_id: int | str) -> SystemLocationStatus:
        return await self._client.get_object(
            f"{STATUS}system_location/{_id(location_id)}/", SystemLocationStatus
        )

    async def system_location_statistics(self, location_id: int | str) -> LoadStatistics:
        """A system location's current media load (summed over its nodes)."""
        return await self._client.get_object(
            f"{STATUS}system_location/{_id(location_id)}/statistics/", LoadStatistics
        )

    def alarms(
        self,
        *,
        order_by: Order = None,
        limit: int | None = None,
        max_pages: int | None = None,
        **filters: FilterValue,
    ) -> Pager[Alarm]:
        return self._client.list(
            Alarm, STATUS + "alarm/", filters, order_by=order_by, limit=limit, max_pages=max_pages
        )
