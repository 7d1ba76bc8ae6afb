"""The event stream: sync on every connection, live events, keepalives."""

from __future__ import annotations

import asyncio

from tests.support.inspect_node import control

from .conftest import Api


async def test_stream_headers_and_raw_format(api: Api) -> None:
    member = await api.joined("meet", "raw")
    async with api.http.get(api.url("meet", f"events?token={member.token}")) as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("text/event-stream")
        blocks: list[list[str]] = []
        current: list[str] = []
        while len(blocks) < 3:
            line = (await asyncio.wait_for(resp.content.readline(), 5)).decode().rstrip("\n")
            if line:
                current.append(line)
            elif current:
                blocks.append(current)
                current = []
    # Every event carries a `data:` line (EventSource drops events without one).
    for block in blocks:
        assert any(line.startswith("event: ") for line in block)
        assert any(line.startswith("data: ") for line in block)
    assert blocks[0][1:] == ["event: participant_sync_begin", "data: null"]


async def test_invalid_token_gets_403(api: Api) -> None:
    async with api.http.get(api.url("meet", "events?token=nope")) as resp:
        assert resp.status == 403
        assert await resp.json() == {"status": "failed", "result": "Invalid token"}


async def test_sync_on_every_connection(api: Api) -> None:
    alice = await api.joined("meet", "alice")
    first = await alice.events()
    listed = await first.sync()
    assert [p["uuid"] for p in listed] == [alice.uuid]
    bob = await api.joined("meet", "bob")
    created = await first.until("participant_create", uuid=bob.uuid)
    assert created["display_name"] == "bob"
    await first.close()
    # Reconnect (with a rotated token, as the SDK does): a full resync with both.
    refreshed = await api.call("refresh_token", "POST", "meet", "refresh_token", token=alice.token)
    alice.token = refreshed.result["token"]
    second = await alice.events()
    names = sorted(p["display_name"] for p in await second.sync())
    assert names == ["alice", "bob"]
    await second.close()


async def test_live_events(api: Api) -> None:
    host = await api.joined("meet", "host")
    other = await api.joined("meet", "other")
    stream = await host.events()
    await stream.sync()
    await host.conf("lock", "lock")
    assert (await stream.until("conference_update"))["locked"] is True
    await other.conf("message_conference", "message", {"type": "text/plain", "payload": "hi"})
    msg = await stream.until("message_received")
    assert msg == {
        "origin": "other",
        "uuid": other.uuid,
        "type": "text/plain",
        "payload": "hi",
        "direct": False,
    }
    await host.part("mute_participant", other.uuid, "mute")
    update = await stream.until("participant_update", uuid=other.uuid)
    assert update["is_muted"] == "YES"
    await api.call("release_token", "POST", "meet", "release_token", token=other.token)
    assert (await stream.until("participant_delete")) == {"uuid": other.uuid}
    await stream.close()


async def test_refresh_token_event_and_keepalive(api: Api) -> None:
    member = await api.joined("meet")
    stream = await member.events()
    await stream.sync()
    status, _ = await control(
        api.node, "POST", f"participants/{member.uuid}/events", {"event": "refresh_token"}
    )
    assert status == 200
    assert await stream.next() == ("refresh_token", None)
    # fast_config sends a keepalive comment every 0.5 s.
    await asyncio.sleep(1.2)
    assert stream.comments >= 1
    await stream.close()


async def test_node_stop_ends_streams(api: Api) -> None:
    member = await api.joined("meet")
    stream = await member.events()
    await stream.sync()
    await api.node.stop()
    assert await stream.ended(timeout=5)


async def test_client_going_away_unsubscribes(api: Api) -> None:
    member = await api.joined("meet")
    stream = await member.events()
    await stream.sync()
    await stream.close()
    conference = api.node.ctx.state.by_alias("meet")
    assert conference is not None
    for _ in range(50):
        # Publishing makes the handler notice the closed connection.
        conference.events.publish("stage", [])
        if not conference.events.connected(member.uuid):
            break
        await asyncio.sleep(0.05)
    assert not conference.events.connected(member.uuid)
    # The node still answers.
    reply = await member.conf("conference_status", "conference_status", method="GET")
    assert reply.status == 200


async def test_events_reject_wrong_method(api: Api) -> None:
    member = await api.joined("meet")
    async with api.http.post(api.url("meet", f"events?token={member.token}")) as resp:
        assert resp.status == 405
        body = await resp.json()
        assert body["status"] == "failed"
