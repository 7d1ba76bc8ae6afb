"""The local node's management API (`/api/admin/...`) with plain aiohttp: Basic auth,
Tastypie lists (pagination, the filter specifiers, order_by), commands seen through the
client API and its event stream, history, and media-stream status of a real WebRTC call."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import AudioStreamTrack

from agent.media.ice import close_peer_connection
from agent.node import LocalNode
from agent.node.media import restrict_host_addresses

from .conftest import Api, Member

ADMIN = "/api/admin"


def basic(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


class Admin:
    """Raw management-API requests with the node's default credentials."""

    def __init__(self, http: aiohttp.ClientSession, node: LocalNode) -> None:
        self.http = http
        self.base = node.base_url
        self.headers = basic("admin", "admin")

    async def get(self, path: str, params: dict[str, str] | None = None) -> tuple[int, Any]:
        url = path if path.startswith("/") else f"{ADMIN}/{path}"
        async with self.http.get(self.base + url, params=params, headers=self.headers) as resp:
            return resp.status, await resp.json()

    async def objects(self, path: str, **params: str) -> list[dict[str, Any]]:
        status, body = await self.get(path, {"limit": "0", **params})
        assert status == 200, body
        return list(body["objects"])

    async def names(self, path: str, **params: str) -> list[str]:
        return [o["display_name"] for o in await self.objects(path, **params)]

    async def command(
        self, action: str, body: dict[str, Any], *, form: bool = False
    ) -> tuple[int, Any]:
        url = f"{self.base}{ADMIN}/command/v1/{action}/"
        kwargs: dict[str, Any] = {"data": body} if form else {"json": body}
        async with self.http.post(url, headers=self.headers, **kwargs) as resp:
            return resp.status, await resp.json()

    async def ok(self, action: str, body: dict[str, Any], **kw: Any) -> Any:
        status, reply = await self.command(action, body, **kw)
        assert (status, reply["status"]) == (202, "success"), reply
        return reply.get("data")

    async def conference_id(self, name: str) -> str:
        (conference,) = await self.objects("status/v1/conference/", name=name)
        return str(conference["id"])


@pytest.fixture
async def admin(api: Api, node: LocalNode) -> Admin:
    return Admin(api.http, node)


async def _join_many(api: Api, names: list[str]) -> list[Member]:
    return [await api.joined("meet", name) for name in names]


# -- auth ------------------------------------------------------------------------------------


async def test_wrong_or_missing_credentials_get_401(admin: Admin) -> None:
    url = f"{admin.base}{ADMIN}/status/v1/conference/"
    cases: list[dict[str, str]] = [
        {},
        basic("admin", "wrong"),
        basic("root", "admin"),
        {"Authorization": "Basic !!!not-base64"},
        {"Authorization": "Bearer abc"},
    ]
    for headers in cases:
        async with admin.http.get(url, headers=headers) as resp:
            assert resp.status == 401, headers
            assert resp.headers["WWW-Authenticate"].startswith("Basic"), headers
    async with admin.http.post(f"{admin.base}{ADMIN}/command/v1/conference/lock/") as resp:
        assert resp.status == 401
    async with admin.http.get(url, headers=admin.headers) as resp:
        assert resp.status == 200


# -- Tastypie lists --------------------------------------------------------------------------


async def test_pagination_over_more_than_a_page(api: Api, admin: Admin) -> None:
    await _join_many(api, [f"p{i:02}" for i in range(25)])
    status, first = await admin.get("status/v1/participant/", {"order_by": "display_name"})
    assert status == 200
    meta = first["meta"]
    assert (meta["limit"], meta["offset"], meta["total_count"]) == (20, 0, 25)
    assert meta["previous"] is None
    assert [o["display_name"] for o in first["objects"]] == [f"p{i:02}" for i in range(20)]
    # `next` is relative and keeps the other parameters.
    assert meta["next"].startswith(f"{ADMIN}/status/v1/participant/?")
    assert "order_by=display_name" in meta["next"] and "offset=20" in meta["next"]
    status, second = await admin.get(meta["next"])
    assert [o["display_name"] for o in second["objects"]] == [f"p{i:02}" for i in range(20, 25)]
    assert second["meta"]["next"] is None
    assert second["meta"]["offset"] == 20
    assert "offset=0" in second["meta"]["previous"]

    _, middle = await admin.get(
        "status/v1/participant/", {"limit": "10", "offset": "10", "order_by": "display_name"}
    )
    assert middle["objects"][0]["display_name"] == "p10"
    assert "offset=20" in middle["meta"]["next"] and "limit=10" in middle["meta"]["next"]
    assert "offset=0" in middle["meta"]["previous"]

    _, everything = await admin.get("status/v1/participant/", {"limit": "0"})
    assert len(everything["objects"]) == 25 and everything["meta"]["next"] is None
    _, beyond = await admin.get("status/v1/participant/", {"offset": "40"})
    assert beyond["objects"] == [] and beyond["meta"]["total_count"] == 25
    for bad in ({"limit": "x"}, {"limit": "-1"}, {"offset": "-5"}):
        status, body = await admin.get("status/v1/participant/", bad)
        assert status == 400 and "error" in body, bad


async def test_every_filter_specifier(api: Api, admin: Admin) -> None:
    names = ["Alice", "alice2", "Bob", "Carol", "dave"]
    await _join_many(api, names)
    guest = await api.joined("secure", "Erin", pin="5678")
    await admin.ok("participant/mute", {"participant_id": guest.uuid})
    path = "status/v1/participant/"

    async def match(**params: str) -> set[str]:
        return set(await admin.names(path, **params))

    assert await match(display_name="Bob") == {"Bob"}
    assert await match(display_name__exact="Bob") == {"Bob"}
    assert await match(display_name__iexact="bob") == {"Bob"}
    assert await match(display_name__contains="lic") == {"Alice", "alice2"}
    assert await match(display_name__icontains="ALI") == {"Alice", "alice2"}
    assert await match(display_name__startswith="A") == {"Alice"}
    assert await match(display_name__istartswith="a") == {"Alice", "alice2"}
    assert await match(display_name__endswith="ol") == {"Carol"}
    assert await match(display_name__iendswith="OL") == {"Carol"}
    assert await match(display_name__regex="^[AB]") == {"Alice", "Bob"}
    assert await match(display_name__iregex=r"^a.*\d$") == {"alice2"}
    assert await match(display_name__in="Alice,Bob,nobody") == {"Alice", "Bob"}
    # Booleans, choices and the conference name.
    assert await match(is_muted="true") == {"Erin"}
    assert await match(is_muted="false") == set(names)
    assert await match(role="guest") == {"Erin"}
    assert await match(conference="secure") == {"Erin"}
    assert await match(display_name__isnull="true") == set()
    assert await match(display_name__isnull="false") == {*names, "Erin"}
    # Comparisons on the join times (naive ISO strings order like times).
    joined = await admin.objects(path, order_by="connect_time")
    times = [o["connect_time"] for o in joined]
    order = [o["display_name"] for o in joined]
    assert await match(connect_time__gt=times[2]) == set(order[3:])
    assert await match(connect_time__gte=times[2]) == set(order[2:])
    assert await match(connect_time__lt=times[2]) == set(order[:2])
    assert await match(connect_time__lte=times[2]) == set(order[:3])
    assert await match(connect_time__range=f"{times[1]},{times[3]}") == set(order[1:4])
    # Several filters together are ANDed.
    assert await match(display_name__istartswith="a", display_name__endswith="2") == {"alice2"}
    # Other resources: text and boolean filters on the node itself.
    assert len(await admin.objects("status/v1/worker_vm/", name__iexact="LOCAL-NODE")) == 1
    assert await admin.objects("status/v1/worker_vm/", maintenance_mode="true") == []


async def test_undeclared_filters_and_bad_values_are_400(api: Api, admin: Admin) -> None:
    await api.joined("meet", "Alice")
    cases = {
        "vendor": "The 'vendor' field does not allow filtering.",
        "no_such_field": "The 'no_such_field' field is not a field of this resource.",
        "display_name__bogus": "'bogus' is not a filter specifier of the 'display_name' field.",
        "media_streams__rx_jitter__gt": "The 'media_streams' field is not a field of this",
        "display_name__regex": "Invalid regular expression",
        "is_muted": "Invalid value",
    }
    values = {"display_name__regex": "(", "is_muted": "maybe"}
    for key, message in cases.items():
        status, body = await admin.get("status/v1/participant/", {key: values.get(key, "x")})
        assert status == 400, key
        assert body["error"].startswith(message), body
    # A declared field whose specifiers are restricted.
    status, body = await admin.get("history/v1/participant/", {"conference__regex": "x"})
    assert status == 400
    assert body["error"] == "'regex' is not an allowed filter on the 'conference' field."


async def test_order_by_ascending_descending_and_undeclared(api: Api, admin: Admin) -> None:
    names = ["mike", "alpha", "zulu", "kilo"]
    await _join_many(api, names)
    path = "status/v1/participant/"
    assert await admin.names(path, order_by="display_name") == sorted(names)
    assert await admin.names(path, order_by="-display_name") == sorted(names, reverse=True)
    assert await admin.names(path, order_by="connect_time") == names
    assert await admin.names(path, order_by="-connect_time") == names[::-1]
    for bad in ("vendor", "-bogus"):
        status, body = await admin.get(path, {"order_by": bad})
        assert status == 400
        assert body["error"] == f"No matching '{bad.lstrip('-')}' field for ordering on."


async def test_single_objects_and_schema(api: Api, admin: Admin) -> None:
    member = await api.joined("meet", "Solo")
    status, body = await admin.get(f"status/v1/participant/{member.uuid}/")
    assert status == 200
    assert body["display_name"] == "Solo" and body["role"] == "chair"
    assert body["bucketed_call_quality"] == [0, 0, 0, 0, 0]
    conference_id = await admin.conference_id("meet")
    status, body = await admin.get(f"status/v1/conference/{conference_id}/")
    assert (status, body["name"], body["is_started"]) == (200, "meet", True)
    status, body = await admin.get("status/v1/worker_vm/1/")
    assert (status, body["node_type"], body["address"]) == (200, "CONFERENCING", "127.0.0.1")
    status, body = await admin.get("status/v1/system_location/1/")
    assert (status, body["name"]) == (200, "Local")
    status, body = await admin.get("status/v1/participant/nope/")
    assert status == 404
    status, schema = await admin.get("status/v1/participant/schema/")
    assert status == 200 and schema["filtering"]["display_name"] == 1
    assert "vendor" not in schema["filtering"] and "display_name" in schema["ordering"]


# -- commands --------------------------------------------------------------------------------


async def test_participant_commands_change_client_state_and_events(api: Api, admin: Admin) -> None:
    host = await api.joined("meet", "host")
    target = await api.joined("meet", "target")
    stream = await host.events()
    await stream.sync()

    await admin.ok("participant/mute", {"participant_id": target.uuid})
    update = await stream.until("participant_update", uuid=target.uuid)
    assert update["is_muted"] == "YES"
    listed = {
        p["uuid"]: p for p in (await host.conf("participants", "participants", method="GET")).result
    }
    assert listed[target.uuid]["is_muted"] == "YES"
    (status_obj,) = await admin.objects("status/v1/participant/", id=target.uuid)
    assert status_obj["is_muted"] is True

    # Form-encoded, as in the document's examples.
    await admin.ok("participant/unmute", {"participant_id": target.uuid}, form=True)
    assert (await stream.until("participant_update", uuid=target.uuid))["is_muted"] == "NO"

    await admin.ok("participant/role", {"participant_id": target.uuid, "role": "guest"})
    assert (await stream.until("participant_update", uuid=target.uuid))["role"] == "guest"

    await admin.ok("participant/disconnect", {"participant_id": target.uuid})
    await stream.until("participant_delete", uuid=target.uuid)
    assert await admin.objects("status/v1/participant/", id=target.uuid) == []

    # Errors: unknown participant, missing field, malformed JSON, unknown choice.
    for body in (
        {"participant_id": "nope"},
        {},
        {"participant_id": host.uuid, "role": "king"},
    ):
        action = "participant/role" if "role" in body else "participant/mute"
        status, reply = await admin.command(action, body)
        assert status == 400 and reply["status"] == "error" and reply["message"], body
    async with admin.http.post(
        f"{admin.base}{ADMIN}/command/v1/participant/mute/", data=b"{", headers=admin.headers
    ) as resp:
        assert resp.status == 400 and (await resp.json())["status"] == "error"
    await stream.close()


async def test_conference_commands(api: Api, admin: Admin) -> None:
    host = await api.joined("secure", "host", pin="1234")
    guest = await api.joined("secure", "guest", pin="5678")
    stream = await host.events()
    await stream.sync()
    conference_id = await admin.conference_id("secure")

    await admin.ok("conference/lock", {"conference_id": conference_id})
    assert (await stream.until("conference_update"))["locked"] is True
    assert (await host.conf("conference_status", "conference_status", method="GET")).result[
        "locked"
    ] is True
    await admin.ok("conference/unlock", {"conference_id": conference_id})
    assert (await stream.until("conference_update"))["locked"] is False

    await admin.ok("conference/mute_guests", {"conference_id": conference_id})
    assert (await stream.until("participant_update", uuid=guest.uuid))["is_muted"] == "YES"
    assert (await stream.until("conference_update"))["guests_muted"] is True
    await admin.ok("conference/unmute_guests", {"conference_id": conference_id})
    assert (await stream.until("participant_update", uuid=guest.uuid))["is_muted"] == "NO"

    await admin.ok("conference/transform_layout", {"conference_id": conference_id, "layout": "1:7"})
    assert (await stream.until("layout"))["view"] == "1:7"

    status, reply = await admin.command("conference/lock", {"conference_id": "nope"})
    assert status == 400 and reply["status"] == "error"

    await admin.ok("conference/disconnect", {"conference_id": conference_id})
    disconnect = await stream.until("disconnect")
    assert disconnect["reason"] == "API initiated conference termination"
    assert await admin.objects("status/v1/conference/", name="secure") == []
    await stream.close()


async def test_dial_unlock_and_transfer_commands(api: Api, admin: Admin, node: LocalNode) -> None:
    host = await api.joined("meet", "host")
    stream = await host.events()
    await stream.sync()

    data = await admin.ok(
        "participant/dial",
        {
            "conference_alias": "meet",
            "destination": "alice@example.com",
            "remote_display_name": "Alice Parkes",
            "protocol": "sip",
            "system_location": "Local",
            "role": "chair",
        },
        form=True,
    )
    dialled = data["participant_id"]
    created = await stream.until("participant_create", uuid=dialled)
    assert created["display_name"] == "Alice Parkes" and created["service_type"] == "connecting"
    assert (await stream.until("participant_update", uuid=dialled))["service_type"] == "conference"
    (obj,) = await admin.objects("status/v1/participant/", id=dialled)
    assert (obj["call_direction"], obj["protocol"], obj["role"]) == ("out", "SIP", "chair")
    bad_dials = [
        {"conference_alias": "meet", "destination": "x"},
        {"conference_alias": "meet", "destination": "x", "node": "node.example.com"},
        {"conference_alias": "nowhere", "destination": "x", "node": "127.0.0.1"},
    ]
    for body in bad_dials:
        status, reply = await admin.command("participant/dial", body)
        assert status == 400 and reply["status"] == "error", body
    await admin.ok(
        "participant/dial", {"conference_alias": "meet", "destination": "b", "node": "127.0.0.1"}
    )

    # A guest waiting in a locked room is let in by the participant unlock command.
    waiting = await api.joined("locked", "waiter", pin="none")
    assert waiting.result["current_service_type"] == "waiting_room"
    await admin.ok("participant/unlock", {"participant_id": waiting.uuid})
    (obj,) = await admin.objects("status/v1/participant/", id=waiting.uuid)
    assert obj["service_type"] == "conference"

    # Transfer: the client gets a `refer` and joins the target with the given role, no PIN.
    mover = await api.joined("meet", "mover")
    mover_stream = await mover.events()
    await mover_stream.sync()
    await admin.ok(
        "participant/transfer",
        {"participant_id": mover.uuid, "conference_alias": "secure", "role": "guest"},
    )
    refer = await mover_stream.until("refer")
    assert refer["alias"] == "secure"
    rejoined = await api.join("secure", "mover", token=refer["token"])
    assert rejoined.status == 200 and rejoined.result["role"] == "GUEST"
    status, reply = await admin.command(
        "participant/transfer", {"participant_id": host.uuid, "conference_alias": "nowhere"}
    )
    assert status == 400 and reply["status"] == "error"
    await stream.close()
    await mover_stream.close()


# -- history ---------------------------------------------------------------------------------


async def test_history_after_conference_ends(api: Api, admin: Admin) -> None:
    first = await api.joined("meet", "first")
    second = await api.joined("meet", "second")
    conference_id = await admin.conference_id("meet")
    assert await admin.objects("history/v1/conference/") == []

    released = await first.conf("release_token", "release_token", {})
    assert released.status == 200
    # The conference goes on: only the participant is in the history.
    assert await admin.objects("history/v1/conference/") == []
    await admin.ok("participant/disconnect", {"participant_id": second.uuid})

    (conference,) = await admin.objects("history/v1/conference/")
    assert conference["id"] == conference_id and conference["name"] == "meet"
    assert conference["participant_count"] == 2
    assert sorted(conference["participants"]) == sorted(
        f"{ADMIN}/history/v1/participant/{m.uuid}/" for m in (first, second)
    )
    assert conference["end_time"] >= conference["start_time"] and conference["duration"] >= 0
    status, single = await admin.get(f"history/v1/conference/{conference_id}/")
    assert status == 200 and single == conference

    people = await admin.objects("history/v1/participant/", conference=conference_id)
    by_name = {p["display_name"]: p for p in people}
    assert set(by_name) == {"first", "second"}
    assert by_name["first"]["disconnect_reason"] == "Call disconnected"
    assert by_name["second"]["disconnect_reason"] == "API initiated participant disconnect"
    assert by_name["second"]["conference"] == f"{ADMIN}/history/v1/conference/{conference_id}/"
    assert by_name["first"]["media_streams"] == []
    assert await admin.names("history/v1/participant/", order_by="-end_time") == [
        "second",
        "first",
    ]
    # A new instance of the same service is a new conference.
    await api.joined("meet", "later")
    assert await admin.conference_id("meet") != conference_id


async def test_history_when_the_last_two_leave_together(api: Api, admin: Admin) -> None:
    members = [await api.joined("lecture", name, pin="1234") for name in ("one", "two")]
    conference_id = await admin.conference_id("lecture")
    await asyncio.gather(*(m.conf("release_token", "release_token", {}) for m in members))
    (conference,) = await admin.objects("history/v1/conference/", name="lecture")
    assert conference["id"] == conference_id and conference["service_type"] == "lecture"
    people = await admin.objects("history/v1/participant/", conference=conference_id)
    assert sorted(p["display_name"] for p in people) == ["one", "two"]


# -- media streams of a real call ------------------------------------------------------------


@pytest.fixture
async def client_pc() -> AsyncIterator[RTCPeerConnection]:
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    yield pc
    await close_peer_connection(pc)


async def _call(member: Member, pc: RTCPeerConnection) -> str:
    pc.addTrack(AudioStreamTrack())
    pc.addTransceiver("video", direction="recvonly")
    restrict_host_addresses(pc)
    await pc.setLocalDescription(await pc.createOffer())
    reply = await member.part(
        "calls_webrtc_participant",
        member.uuid,
        "calls",
        {"call_type": "WEBRTC", "sdp": pc.localDescription.sdp},
    )
    assert reply.status == 200, reply.body
    await pc.setRemoteDescription(RTCSessionDescription(sdp=reply.result["sdp"], type="answer"))
    call_uuid = str(reply.result["call_uuid"])
    assert (await member.call_fn("ack", call_uuid, "ack", {})).status == 200
    return call_uuid


async def test_media_stream_status_of_a_webrtc_call(
    api: Api, admin: Admin, client_pc: RTCPeerConnection
) -> None:
    member = await api.joined("meet", "caller")
    await _call(member, client_pc)
    path = f"status/v1/participant/{member.uuid}/media_stream/"
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 15
    while True:
        status, body = await admin.get(path)
        assert status == 200, body
        audio = [s for s in body["objects"] if s["type"] == "audio"]
        if audio and audio[0]["rx_packets_received"] > 0 and audio[0]["tx_packets_sent"] > 0:
            break
        assert loop.time() < deadline, body
        await asyncio.sleep(0.2)
    (stream,) = audio
    assert stream["rx_codec"].lower() == "opus" and stream["end_time"] == ""
    assert body["meta"]["total_count"] == len(body["objects"]) == 2
    assert {s["type"] for s in body["objects"]} == {"audio", "video"}
    (video,) = await admin.objects(path, type="video")
    assert video["type"] == "video"
    (obj,) = await admin.objects("status/v1/participant/", id=member.uuid)
    assert obj["has_media"] is True and obj["protocol"] == "WebRTC"
    assert obj["call_quality"] == "0_unknown"  # younger than one 20 s window
    status, _ = await admin.get("status/v1/participant/nope/media_stream/")
    assert status == 404

    # After the call: the history keeps the streams' figures.
    await member.conf("release_token", "release_token", {})
    (ended,) = await admin.objects("history/v1/participant/", id=member.uuid)
    assert ended["has_media"] is True
    audio_history = [s for s in ended["media_streams"] if s["stream_type"] == "audio"]
    assert audio_history and audio_history[0]["rx_packets_received"] > 0
    assert audio_history[0]["end_time"] >= audio_history[0]["start_time"]
    found = await admin.objects(
        "history/v1/participant/",
        media_streams__rx_packets_lost__gte="0",
        media_streams__stream_type="audio",
    )
    assert [p["id"] for p in found] == [member.uuid]
    assert (
        await admin.objects("history/v1/participant/", media_streams__rx_packet_loss__gt="50") == []
    )
    nested = await admin.objects(f"history/v1/participant/{member.uuid}/media_stream/")
    assert len(nested) == len(ended["media_streams"])
