"""Conference- and participant-level functions, and who may use them."""

from __future__ import annotations

import pytest

from tests.support.inspect_node import control

from .conftest import Api, Member


async def _host_and_guest(api: Api) -> tuple[Member, Member]:
    host = await api.joined("secure", "host", pin="1234")
    guest = await api.joined("secure", "guest", pin="5678")
    return host, guest


async def test_conference_status_lock_and_guests_muted(api: Api) -> None:
    host, guest = await _host_and_guest(api)
    status = await host.conf("conference_status", "conference_status", method="GET")
    assert status.result["locked"] is False and status.result["started"] is True
    assert (await host.conf("lock", "lock")).result is True
    assert (await host.conf("muteguests", "muteguests")).result is True
    status = await guest.conf("conference_status", "conference_status", method="GET")
    assert status.result["locked"] is True and status.result["guests_muted"] is True
    listed = {
        p["uuid"]: p for p in (await host.conf("participants", "participants", method="GET")).result
    }
    assert listed[guest.uuid]["is_muted"] == "YES"
    assert listed[host.uuid]["is_muted"] == "NO"
    await host.conf("set_guests_can_unmute", "set_guests_can_unmute", {"setting": False})
    refused = await guest.part("unmute_participant", guest.uuid, "unmute")
    assert refused.status == 403
    await host.conf("unmuteguests", "unmuteguests")
    await host.conf("unlock", "unlock")
    status = await host.conf("conference_status", "conference_status", method="GET")
    assert status.result["locked"] is False and status.result["guests_muted"] is False
    assert status.result["guests_can_unmute"] is False


@pytest.mark.parametrize(
    ("endpoint", "path", "body"),
    [
        ("lock", "lock", None),
        ("unlock", "unlock", None),
        ("muteguests", "muteguests", None),
        ("unmuteguests", "unmuteguests", None),
        ("set_guests_can_unmute", "set_guests_can_unmute", {"setting": True}),
        ("disconnect", "disconnect", None),
        ("transform_layout", "transform_layout", {"transforms": {"layout": "1:7"}}),
        ("dial", "dial", {"role": "GUEST", "destination": "sip:x@y", "protocol": "sip"}),
        ("clear_all_buzz", "clearallbuzz", None),
    ],
)
async def test_host_only_conference_functions_refuse_guests(
    api: Api, endpoint: str, path: str, body: object
) -> None:
    _host, guest = await _host_and_guest(api)
    reply = await guest.conf(endpoint, path, body)
    assert reply.status == 403
    assert reply.body["status"] == "failed"


@pytest.mark.parametrize(
    ("endpoint", "path", "body"),
    [
        ("mute_participant", "mute", None),
        ("unlock_participant", "unlock", None),
        ("spotlighton_participant", "spotlighton", None),
        ("denyrxpresentation_participant", "denyrxpresentation", None),
        ("role_participant", "role", {"role": "chair"}),
        ("overlaytext_participant", "overlaytext", {"text": "x"}),
        ("transfer_participant", "transfer", {"role": "guest", "conference_alias": "meet"}),
        ("disconnect_participant", "disconnect", None),
    ],
)
async def test_host_only_participant_functions_refuse_guests(
    api: Api, endpoint: str, path: str, body: object
) -> None:
    host, guest = await _host_and_guest(api)
    reply = await guest.part(endpoint, host.uuid, path, body)
    assert reply.status == 403


async def test_participant_functions_update_state(api: Api) -> None:
    host, guest = await _host_and_guest(api)
    stream = await host.events()
    await stream.sync()
    steps: list[tuple[str, str, dict[str, str] | None, dict[str, object]]] = [
        ("mute_participant", "mute", None, {"is_muted": "YES"}),
        ("unmute_participant", "unmute", None, {"is_muted": "NO"}),
        ("video_mute_participant", "video_muted", None, {"is_video_muted": True}),
        ("video_unmute_participant", "video_unmuted", None, {"is_video_muted": False}),
        (
            "denyrxpresentation_participant",
            "denyrxpresentation",
            None,
            {"rx_presentation_policy": "DENY"},
        ),
        (
            "allowrxpresentation_participant",
            "allowrxpresentation",
            None,
            {"rx_presentation_policy": "ALLOW"},
        ),
        (
            "overlaytext_participant",
            "overlaytext",
            {"text": "Guest 1"},
            {"overlay_text": "Guest 1"},
        ),
        ("role_participant", "role", {"role": "chair"}, {"role": "chair"}),
        ("role_participant", "role", {"role": "guest"}, {"role": "guest"}),
    ]
    for endpoint, path, body, expected in steps:
        reply = await host.part(endpoint, guest.uuid, path, body)
        assert (reply.status, reply.result) == (200, True), endpoint
        update = await stream.until("participant_update", uuid=guest.uuid)
        for key, value in expected.items():
            assert update[key] == value, (endpoint, key)
    await host.part("spotlighton_participant", guest.uuid, "spotlighton")
    assert (await stream.until("participant_update", uuid=guest.uuid))["spotlight"] > 0
    await host.part("spotlightoff_participant", guest.uuid, "spotlightoff")
    assert (await stream.until("participant_update", uuid=guest.uuid))["spotlight"] == 0
    await stream.close()


async def test_guest_self_service(api: Api) -> None:
    host, guest = await _host_and_guest(api)
    stream = await host.events()
    await stream.sync()
    for endpoint, path in [
        ("buzz_participant", "buzz"),
        ("client_mute_participant", "client_mute"),
        ("client_unmute_participant", "client_unmute"),
        ("mute_participant", "mute"),
        ("unmute_participant", "unmute"),
        ("clearbuzz_participant", "clearbuzz"),
    ]:
        reply = await guest.part(endpoint, guest.uuid, path)
        assert (reply.status, reply.result) == (200, True), endpoint
    buzz = await stream.until("participant_update", uuid=guest.uuid)
    assert buzz["buzz_time"] > 0
    assert (await host.conf("clear_all_buzz", "clearallbuzz")).result is True
    await stream.close()


async def test_private_message_and_dtmf_inspection(api: Api) -> None:
    host, guest = await _host_and_guest(api)
    stream = await guest.events()
    await stream.sync()
    reply = await host.part(
        "message_participant", guest.uuid, "message", {"type": "application/json", "payload": "{}"}
    )
    assert reply.result is True
    msg = await stream.until("message_received")
    assert msg["direct"] is True and msg["uuid"] == host.uuid
    for digits in ("12", "3#"):
        assert (await host.part("dtmf_participant", guest.uuid, "dtmf", {"digits": digits})).result
    _, seen = await control(api.node, "GET", f"participants/{guest.uuid}/dtmf")
    assert seen["result"] == {"digits": "123#", "sequences": ["12", "3#"]}
    await stream.close()


async def test_presentation_floor(api: Api) -> None:
    host, guest = await _host_and_guest(api)
    stream = await host.events()
    await stream.sync()
    taken = await guest.part("take_floor", guest.uuid, "take_floor")
    assert (taken.status, taken.result) == (200, None)
    start = await stream.until("presentation_start")
    assert start["presenter_uuid"] == guest.uuid
    released = await guest.part("release_floor", guest.uuid, "release_floor")
    assert (released.status, released.result) == (200, None)
    assert (await stream.until("presentation_stop")) is None
    await stream.close()


async def test_disconnect_all(api: Api) -> None:
    host, guest = await _host_and_guest(api)
    stream = await guest.events()
    await stream.sync()
    assert (await host.conf("disconnect", "disconnect")).result is True
    reason = await stream.until("disconnect")
    assert reason == {"reason": "Conference terminated by another participant"}
    assert await stream.ended()
    gone = await host.conf("participants", "participants", method="GET")
    assert gone.status == 403


async def test_dial_answered_and_rejected(api: Api) -> None:
    host = await api.joined("meet", "host")
    stream = await host.events()
    await stream.sync()
    answered = await host.conf(
        "dial", "dial", {"role": "GUEST", "destination": "sip:alice@example.com", "protocol": "sip"}
    )
    (alice,) = answered.result
    created = await stream.until("participant_create", uuid=alice)
    assert created["service_type"] == "connecting" and created["call_direction"] == "out"
    await stream.until("participant_update", uuid=alice, service_type="conference")
    rejected = await host.conf(
        "dial",
        "dial",
        {"role": "GUEST", "destination": "sip:reject@example.com", "protocol": "sip"},
    )
    (bob,) = rejected.result
    await stream.until("participant_create", uuid=bob)
    assert (await stream.until("participant_delete", uuid=bob)) == {"uuid": bob}
    await stream.close()


async def test_layouts_and_theme(api: Api) -> None:
    host = await api.joined("meet")
    plain = await host.conf("available_layouts", "available_layouts?annotate=false", method="GET")
    assert "1:7" in plain.result
    annotated = await host.conf(
        "available_layouts", "available_layouts?annotate=true", method="GET"
    )
    assert {"name": "1:7", "tags": []} in annotated.result
    stream = await host.events()
    await stream.sync()
    assert (
        await host.conf("transform_layout", "transform_layout", {"transforms": {"layout": "1:7"}})
    ).result
    assert (await stream.until("layout"))["view"] == "1:7"
    theme = await host.conf("theme", "theme/", method="GET")
    assert (theme.status, theme.body) == (204, "")
    await stream.close()


async def test_unknown_participant_is_refused(api: Api) -> None:
    host = await api.joined("meet")
    reply = await host.part("mute_participant", "00000000-0000-0000-0000-000000000000", "mute")
    assert reply.status == 403
