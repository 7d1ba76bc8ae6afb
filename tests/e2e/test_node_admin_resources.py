"""The local node's management API beyond the basics: answers shaped like the v26
document's examples, configuration/alarm/statistics resources, 404 for unknown resources,
regular-expression filters bounded in time (issue 12 point 7), OAuth2 token errors."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp

from agent.node import LocalNode

from .conftest import Api
from .test_node_admin import Admin, admin  # noqa: F401  (fixture)

# Keys of the objects in the v26 document's examples (shared/spec/pexip-management-*).
SEED_CONFERENCE = {
    "start_time", "resource_uri", "id", "name", "service_type", "is_locked", "is_started",
    "guests_muted", "tag",
}  # fmt: skip
SEED_PARTICIPANT = {
    "bandwidth", "call_direction", "call_quality", "call_tag", "call_uuid", "conference",
    "connect_time", "conversation_id", "destination_alias", "display_name", "encryption",
    "has_media", "id", "is_disconnect_supported", "is_mute_supported", "is_muted",
    "is_on_hold", "is_presentation_supported", "is_presenting", "is_streaming",
    "is_transfer_supported", "license_count", "license_type", "media_node", "parent_id",
    "participant_alias", "protocol", "proxy_node", "remote_address", "remote_port",
    "resource_uri", "role", "service_tag", "service_type", "signalling_node", "source_alias",
    "system_location", "vendor",
}  # fmt: skip
SEED_HISTORY_CONFERENCE = {
    "duration", "end_time", "id", "instant_message_count", "name", "participant_count",
    "participants", "resource_uri", "service_type", "start_time", "tag",
}  # fmt: skip
SEED_HISTORY_PARTICIPANT = (SEED_PARTICIPANT - {
    "connect_time", "destination_alias", "is_disconnect_supported", "is_mute_supported",
    "is_muted", "is_on_hold", "is_presentation_supported", "is_presenting",
    "is_transfer_supported", "participant_alias", "source_alias",
}) | {
    "conference_name", "disconnect_reason", "duration", "end_time", "local_alias",
    "media_streams", "remote_alias", "start_time",
}  # fmt: skip
SEED_META = {"limit", "next", "offset", "previous", "total_count"}
SEED_CONFIG_CONFERENCE_SUBSET = {
    "aliases", "allow_guests", "description", "guest_pin", "id", "name", "participant_limit",
    "pin", "resource_uri", "service_type", "system_location", "tag", "creation_time",
}  # fmt: skip
SEED_ALIAS = {"alias", "conference", "creation_time", "description", "id"}


async def test_answers_have_the_seed_shapes(api: Api, admin: Admin) -> None:  # noqa: F811
    first = await api.joined("meet", "first")
    status, page = await admin.get("status/v1/conference/")
    assert status == 200 and set(page) == {"meta", "objects"} and set(page["meta"]) == SEED_META
    assert set(page["objects"][0]) == SEED_CONFERENCE
    (participant,) = await admin.objects("status/v1/participant/")
    assert set(participant) == SEED_PARTICIPANT
    _, single = await admin.get(f"status/v1/participant/{first.uuid}/")
    assert set(single) == SEED_PARTICIPANT | {"historic_call_quality", "bucketed_call_quality"}
    await admin.ok("participant/disconnect", {"participant_id": first.uuid})
    (conference,) = await admin.objects("history/v1/conference/")
    assert set(conference) == SEED_HISTORY_CONFERENCE
    (ended,) = await admin.objects("history/v1/participant/")
    assert set(ended) == SEED_HISTORY_PARTICIPANT
    service = (await admin.objects("configuration/v1/conference/", name="meet"))[0]
    assert set(service) >= SEED_CONFIG_CONFERENCE_SUBSET
    assert set(service["aliases"][0]) >= SEED_ALIAS
    status, reply = await admin.command("conference/lock", {"conference_id": "nope"})
    assert status == 400 and {"status", "message"} <= set(reply) <= {"status", "message", "data"}


async def test_statistics_alarms_and_unknown_resources(api: Api, admin: Admin) -> None:  # noqa: F811
    await api.joined("meet", "one")
    status, stats = await admin.get("status/v1/worker_vm/1/statistics/")
    assert status == 200
    assert (stats["participant_count"], stats["conference_count"]) == (1, 1)
    assert stats["media_call_count"] == 0 and stats["media_load"] == 0.0
    status, loc = await admin.get("status/v1/system_location/1/statistics")
    assert status == 200 and loc["max_hd_calls"] == stats["max_hd_calls"]
    status, _ = await admin.get("status/v1/worker_vm/2/statistics/")
    assert status == 404
    status, alarms = await admin.get("status/v1/alarm/")
    assert status == 200 and alarms["objects"] == []
    for path in ("status/v1/nonsense/", "history/v1/alarm/", "configuration/v1/licence/", "x"):
        status, body = await admin.get(path)
        assert status == 404 and body["error"].startswith("No resource at"), path
    async with admin.http.post(
        f"{admin.base}/api/admin/configuration/v1/conference/", json={"name": "x"},
        headers=admin.headers,
    ) as resp:  # fmt: skip
        assert resp.status == 405


async def test_catastrophic_regex_is_bounded(api: Api, admin: Admin) -> None:  # noqa: F811
    # 26 characters that made `re` backtrack for seconds.
    await api.joined("meet", "a" * 25 + "!")
    await api.joined("meet", "plain")
    url = f"{admin.base}/api/admin/status/v1/participant/"

    async def evil() -> tuple[int, Any, float]:
        started = time.monotonic()
        async with admin.http.get(
            url, params={"display_name__regex": "(a|a)+$"}, headers=admin.headers
        ) as resp:
            return resp.status, await resp.json(), time.monotonic() - started

    async def quick() -> float:
        started = time.monotonic()
        async with admin.http.get(url, params={"limit": "1"}, headers=admin.headers) as resp:
            assert resp.status == 200
        return time.monotonic() - started

    slow_task = asyncio.create_task(evil())
    await asyncio.sleep(0.02)
    other = await quick()  # answered while the regex runs in its thread
    status, body, took = await slow_task
    assert status == 400
    assert body["error"].startswith("The regular expression took too long to evaluate")
    assert took < 1.5, took
    assert other < 0.2, other
    status, body = await admin.get("status/v1/participant/", {"display_name__regex": "a" * 300})
    assert status == 400 and "too long (300 characters" in body["error"]
    # An ordinary pattern still works.
    assert await admin.names("status/v1/participant/", display_name__regex="^pl") == ["plain"]


async def test_oauth_token_errors(node: LocalNode) -> None:
    url = f"{node.base_url}/oauth/token/"
    async with aiohttp.ClientSession() as http:
        async with http.post(url, data={"grant_type": "client_credentials"}) as resp:
            body = await resp.json()
        assert resp.status == 400 and body["error"] == "unauthorized_client"  # not enabled
        admin_url = f"{node.base_url}/api/admin/status/v1/alarm/"
        async with http.get(admin_url, headers={"Authorization": "Bearer forged"}) as resp:
            assert resp.status == 401
