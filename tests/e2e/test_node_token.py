"""Token flows of the local node: PINs, Virtual Reception, waiting room, rotation, release."""

from __future__ import annotations

import asyncio
import re

import pytest

from agent.node import NodeConfig

from .conftest import Api, fast_config


@pytest.fixture
def node_config() -> NodeConfig:
    return fast_config(token_grace=0.4)


async def test_open_vmr_everyone_is_host(api: Api) -> None:
    reply = await api.join("meet", "alice")
    assert reply.status == 200
    result = reply.result
    assert result["role"] == "HOST"
    assert result["current_service_type"] == "conference"
    assert isinstance(result["expires"], str) and int(result["expires"]) > 0
    assert isinstance(result["version"], dict)
    assert "stun" not in result and "turn" not in result
    # URL-safe: the SDK puts it raw into ?token=
    assert re.fullmatch(r"[A-Za-z0-9_-]+", result["token"])


async def test_pin_required_then_roles_by_pin(api: Api) -> None:
    first = await api.join("secure", "a")
    assert first.status == 403
    assert first.body["status"] == "success"
    assert first.result["pin"] == "required"
    assert first.result["guest_pin"] == "required"
    assert isinstance(first.result["version"], dict)
    host = await api.join("secure", "h", pin="1234")
    guest = await api.join("secure", "g", pin="5678")
    assert (host.status, host.result["role"]) == (200, "HOST")
    assert (guest.status, guest.result["role"]) == (200, "GUEST")


async def test_guest_without_pin_uses_literal_none(api: Api) -> None:
    first = await api.join("lecture", "a")
    assert first.status == 403
    assert (first.result["pin"], first.result["guest_pin"]) == ("required", "none")
    guest = await api.join("lecture", "g", pin="none")
    assert guest.status == 200
    assert guest.result["role"] == "GUEST"
    assert guest.result["current_service_type"] == "lecture"
    assert guest.result["service_type"] == "lecture"


async def test_invalid_pin_then_retries_exceeded(api: Api) -> None:
    bad1 = await api.join("secure", "x", pin="0000")
    bad2 = await api.join("secure", "x", pin="0001")
    bad3 = await api.join("secure", "x", pin="0002")
    assert (bad1.status, bad1.result) == (403, "Invalid PIN")
    assert (bad2.status, bad2.result) == (403, "Invalid PIN")
    assert (bad3.status, bad3.result) == (403, "Participant exceeded PIN entry retries")
    # A fresh attempt with the right PIN works.
    assert (await api.join("secure", "x", pin="1234")).status == 200


async def test_virtual_reception_extension_flow(api: Api) -> None:
    first = await api.join("lobby", "v")
    assert first.status == 403
    assert first.result == {
        "conference_extension": "required",
        "conference_extension_type": "standard",
    }
    missing = await api.join("lobby", "v", conference_extension="nowhere")
    assert (missing.status, missing.result) == (403, "Conference extension not found")
    forwarded = await api.join("lobby", "v", conference_extension="meet")
    assert forwarded.status == 200
    assert forwarded.result["conference_name"] == "meet"
    # The token works under the reception alias the client dialled and the target alias.
    token = forwarded.result["token"]
    for alias in ("lobby", "meet"):
        reply = await api.call("participants", "GET", alias, "participants", token=token)
        assert reply.status == 200
    # Forwarding to a PIN-protected room goes through its PIN step.
    pin = await api.join("lobby", "v", conference_extension="secure")
    assert pin.status == 403 and pin.result["pin"] == "required"


async def test_unknown_alias_is_404(api: Api) -> None:
    reply = await api.join("no-such-room", "x")
    assert reply.status == 404
    assert reply.body["status"] == "failed"


async def test_requests_without_valid_token_are_403(api: Api) -> None:
    member = await api.joined("meet")
    for token in (None, "", "bogus", member.token + "x"):
        reply = await api.call("conference_status", "GET", "meet", "conference_status", token=token)
        assert (reply.status, reply.result) == (403, "Invalid token")
    refresh = await api.call("refresh_token", "POST", "meet", "refresh_token", token="bogus")
    assert (refresh.status, refresh.result) == (403, "Invalid token")
    # A token of one conference is no good in another.
    other = await api.call(
        "conference_status", "GET", "secure", "conference_status", token=member.token
    )
    assert other.status == 403


async def test_refresh_rotates_with_grace(api: Api) -> None:
    member = await api.joined("meet")
    old = member.token
    reply = await api.call("refresh_token", "POST", "meet", "refresh_token", token=old)
    assert reply.status == 200
    new = reply.result["token"]
    assert new != old and isinstance(reply.result["expires"], str)
    # Within the grace period both work; after it only the new one.
    status = await api.call("conference_status", "GET", "meet", "conference_status", token=old)
    assert status.status == 200
    await asyncio.sleep(0.5)
    stale = await api.call("conference_status", "GET", "meet", "conference_status", token=old)
    assert (stale.status, stale.result) == (403, "Invalid token")
    fresh = await api.call("conference_status", "GET", "meet", "conference_status", token=new)
    assert fresh.status == 200


async def test_release_token_removes_participant(api: Api) -> None:
    watcher = await api.joined("meet", "w")
    leaver = await api.joined("meet", "l")
    events = await watcher.events()
    await events.sync()
    reply = await api.call(
        "release_token",
        "POST",
        "meet",
        "release_token",
        token=leaver.token,
        json_body={"reason": "User initiated disconnect"},
    )
    assert (reply.status, reply.result) == (200, True)
    assert (await events.until("participant_delete", uuid=leaver.uuid))["uuid"] == leaver.uuid
    after = await api.call("participants", "GET", "meet", "participants", token=leaver.token)
    assert after.status == 403
    await events.close()


async def test_release_by_beacon_query_token(api: Api) -> None:
    member = await api.joined("meet")
    reply = await api.call(
        "release_token",
        "POST",
        "meet",
        f"release_token?token={member.token}",
        data='{"reason":"Browser closed"}',
        headers={"Content-Type": "text/plain;charset=UTF-8"},
    )
    assert (reply.status, reply.result) == (200, True)


async def test_release_accepted_after_server_disconnect(api: Api) -> None:
    host = await api.joined("meet", "h")
    victim = await api.joined("meet", "v")
    stream = await victim.events()
    await stream.sync()
    kicked = await host.part("disconnect_participant", victim.uuid, "disconnect")
    assert kicked.status == 200
    data = await stream.until("disconnect")
    assert data == {"reason": "Disconnected by another participant"}
    assert await stream.ended()
    reply = await api.call("release_token", "POST", "meet", "release_token", token=victim.token)
    assert (reply.status, reply.result) == (200, True)


async def test_waiting_room_admitted_by_host(api: Api) -> None:
    guest = await api.joined("locked", "g", pin="none")
    assert guest.result["current_service_type"] == "waiting_room"
    assert guest.role == "GUEST"
    stream = await guest.events()
    mine = [p for p in await stream.sync() if p["uuid"] == guest.uuid]
    assert mine[0]["service_type"] == "waiting_room"
    host = await api.joined("locked", "h", pin="1234")
    assert host.result["current_service_type"] == "conference"
    # Guests cannot admit anyone.
    refused = await guest.part("unlock_participant", guest.uuid, "unlock")
    assert refused.status == 403
    admitted = await host.part("unlock_participant", guest.uuid, "unlock")
    assert (admitted.status, admitted.result) == (200, True)
    update = await stream.until("participant_update", uuid=guest.uuid, service_type="conference")
    assert update["role"] == "guest"
    await stream.close()


async def test_waiting_room_admitted_by_conference_unlock(api: Api) -> None:
    host = await api.joined("locked", "h", pin="1234")
    guests = [await api.joined("locked", f"g{i}", pin="none") for i in range(2)]
    assert all(g.result["current_service_type"] == "waiting_room" for g in guests)
    stream = await guests[0].events()
    await stream.sync()
    reply = await host.conf("unlock", "unlock")
    assert (reply.status, reply.result) == (200, True)
    status = await stream.until("conference_update")
    assert status["locked"] is False
    for g in guests:
        await stream.until("participant_update", uuid=g.uuid, service_type="conference")
    # Once unlocked, new guests go straight in.
    late = await api.joined("locked", "late", pin="none")
    assert late.result["current_service_type"] == "conference"
    await stream.close()


async def test_refer_token_joins_without_pin(api: Api) -> None:
    host = await api.joined("meet", "h")
    guest = await api.joined("meet", "g")
    stream = await guest.events()
    await stream.sync()
    reply = await host.part(
        "transfer_participant",
        guest.uuid,
        "transfer",
        {"role": "guest", "conference_alias": "secure"},
    )
    assert reply.status == 200
    refer = await stream.until("refer")
    assert refer["alias"] == "secure"
    joined = await api.join("secure", "g", token=refer["token"])
    assert (joined.status, joined.result["role"]) == (200, "GUEST")
    # One-time: the same token does not skip the PIN again.
    again = await api.join("secure", "g", token=refer["token"])
    assert again.status == 403
    await stream.close()


def _limited() -> NodeConfig:
    config = fast_config()
    config.services[0].participant_limit = 1
    return config


@pytest.mark.parametrize("node_config", [_limited()])
async def test_participant_limit(api: Api) -> None:
    assert (await api.join("meet", "one")).status == 200
    full = await api.join("meet", "two")
    assert (full.status, full.result) == (403, "Participant limit reached")
