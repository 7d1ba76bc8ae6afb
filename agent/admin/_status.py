"""`client.status`: conferences, participants and their media streams, nodes, locations,
their load statistics, and alarms (`/api/admin/status/v1/...`)."""

from __future__ import annotations

from ._resource import ResourceGroup, get_endpoint, list_endpoint, nested_list_endpoint
from ._status_models import (
    Alarm,
    ConferenceStatus,
    LoadStatistics,
    MediaStreamStatus,
    ParticipantStatus,
    SystemLocationStatus,
    WorkerVmStatus,
)


class StatusAPI(ResourceGroup):
    """Live state. Lists take Tastypie filters as keyword arguments
    (`display_name__icontains="bot"`), `order_by`, `limit` (page size), `max_pages`."""

    prefix = "status/v1/"

    conferences = list_endpoint(ConferenceStatus, "conference/")
    conference = get_endpoint(ConferenceStatus, "conference/{}/")
    participants = list_endpoint(ParticipantStatus, "participant/")
    participant = get_endpoint(
        ParticipantStatus,
        "participant/{}/",
        "One participant, with `historic_call_quality` and `bucketed_call_quality`.",
    )
    media_streams = nested_list_endpoint(MediaStreamStatus, "participant/{}/media_stream/")
    worker_vms = list_endpoint(WorkerVmStatus, "worker_vm/")
    worker_vm = get_endpoint(WorkerVmStatus, "worker_vm/{}/")
    worker_vm_statistics = get_endpoint(
        LoadStatistics, "worker_vm/{}/statistics/", "A Conferencing Node's current load."
    )
    system_locations = list_endpoint(SystemLocationStatus, "system_location/")
    system_location = get_endpoint(SystemLocationStatus, "system_location/{}/")
    system_location_statistics = get_endpoint(
        LoadStatistics,
        "system_location/{}/statistics/",
        "A system location's current media load (summed over its nodes).",
    )
    alarms = list_endpoint(Alarm, "alarm/")
