"""`calls` with a real aiortc peer on both sides, all on 127.0.0.1."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import AudioStreamTrack

from agent.media.ice import close_peer_connection
from agent.node.media import restrict_host_addresses
from tests.support.inspect_node import control

from .conftest import Api, Member


@pytest.fixture
async def client_pc() -> AsyncIterator[RTCPeerConnection]:
    # The test's own peer: no public STUN (explicit empty list) and loopback-only ICE.
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    yield pc
    await close_peer_connection(pc)


async def _offer(pc: RTCPeerConnection) -> str:
    pc.addTrack(AudioStreamTrack())
    pc.addTransceiver("video", direction="recvonly")
    restrict_host_addresses(pc)
    await pc.setLocalDescription(await pc.createOffer())
    return str(pc.localDescription.sdp)


def _candidate_hosts(sdp: str) -> set[str]:
    return {line.split()[4] for line in sdp.splitlines() if line.startswith("a=candidate:")}


async def _wait_connected(pc: RTCPeerConnection, timeout: float = 10) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while pc.connectionState != "connected":
        assert loop.time() < deadline, pc.connectionState
        await asyncio.sleep(0.05)


async def _place_call(member: Member, pc: RTCPeerConnection) -> str:
    offer = await _offer(pc)
    assert _candidate_hosts(offer) == {"127.0.0.1"}
    reply = await member.part(
        "calls_webrtc_participant", member.uuid, "calls", {"call_type": "WEBRTC", "sdp": offer}
    )
    assert reply.status == 200, reply.body
    answer = reply.result["sdp"]
    # A complete answer: candidates gathered, and only on loopback.
    assert _candidate_hosts(answer) == {"127.0.0.1"}
    await pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
    return str(reply.result["call_uuid"])


async def test_webrtc_call_lifecycle(api: Api, client_pc: RTCPeerConnection) -> None:
    member = await api.joined("meet", "caller")
    watcher = await api.joined("meet", "watcher")
    stream = await watcher.events()
    await stream.sync()
    call_uuid = await _place_call(member, client_pc)
    assert (await stream.until("participant_update", uuid=member.uuid))["has_media"] is True
    # Before ack: trickled candidates, end-of-candidates, DTMF and statistics are accepted.
    for body in (
        {"candidate": "candidate:1 1 udp 2130706431 127.0.0.1 9 typ host", "mid": "0"},
        {"candidate": "", "mid": "0"},
        {"candidate": ""},
        {"candidate": "garbage", "mid": "0"},
    ):
        reply = await member.call_fn("new_candidate", call_uuid, "new_candidate", body)
        assert (reply.status, reply.result) == (200, None), body
    assert (await member.call_fn("dtmf", call_uuid, "dtmf", {"digits": "42"})).result is True
    stats = {"audio": {"rx_bitrate": 32, "rx_packets_received": 10}}
    assert (await member.call_fn("statistics", call_uuid, "statistics", stats)).result is None
    ack = await member.call_fn("ack", call_uuid, "ack", {})
    assert (ack.status, ack.result) == (200, True)
    await _wait_connected(client_pc)
    seen = (await control(api.node, "GET", f"participants/{member.uuid}"))[1]["result"]
    (call,) = seen["calls"]
    assert call["acked"] is True and seen["dtmf"] == "42"
    assert call["statistics"] == stats
    hung_up = await member.call_fn("disconnect_call", call_uuid, "disconnect")
    assert (hung_up.status, hung_up.result) == (200, None)
    update = await stream.until("participant_update", uuid=member.uuid)
    assert update["has_media"] is False
    again = await member.call_fn("ack", call_uuid, "ack", {})
    assert again.status == 403
    await stream.close()


async def test_node_receives_media(api: Api, client_pc: RTCPeerConnection) -> None:
    member = await api.joined("meet")
    call_uuid = await _place_call(member, client_pc)
    await member.call_fn("ack", call_uuid, "ack", {})
    await _wait_connected(client_pc)
    conference = api.node.ctx.state.by_alias("meet")
    assert conference is not None
    peer = conference.participants[member.uuid].calls[call_uuid].peer
    assert peer is not None
    for _ in range(100):
        if peer.frames_received.get("audio", 0) > 5:
            break
        await asyncio.sleep(0.05)
    assert peer.frames_received.get("audio", 0) > 5


async def test_update_renegotiates(api: Api, client_pc: RTCPeerConnection) -> None:
    member = await api.joined("meet")
    call_uuid = await _place_call(member, client_pc)
    await member.call_fn("ack", call_uuid, "ack", {})
    await _wait_connected(client_pc)
    await client_pc.setLocalDescription(await client_pc.createOffer())
    reply = await member.call_fn(
        "update", call_uuid, "update", {"sdp": client_pc.localDescription.sdp}
    )
    assert reply.status == 200 and isinstance(reply.result, str)
    await client_pc.setRemoteDescription(RTCSessionDescription(sdp=reply.result, type="answer"))
    current = await member.call_fn("update", call_uuid, "update", {})
    assert current.result["call_uuid"] == call_uuid


async def test_bad_sdp_is_400_and_node_lives(api: Api) -> None:
    member = await api.joined("meet")
    for sdp in ("not sdp at all", "v=0\r\n"):
        reply = await member.part(
            "calls_webrtc_participant", member.uuid, "calls", {"call_type": "WEBRTC", "sdp": sdp}
        )
        assert reply.status == 400
    missing = await member.part(
        "calls_webrtc_participant", member.uuid, "calls", {"call_type": "WEBRTC"}
    )
    assert missing.status == 400
    assert (await member.conf("participants", "participants", method="GET")).status == 200


async def test_calls_only_for_self(api: Api) -> None:
    a = await api.joined("meet", "a")
    b = await api.joined("meet", "b")
    reply = await a.part(
        "calls_webrtc_participant", b.uuid, "calls", {"call_type": "WEBRTC", "sdp": "v=0"}
    )
    assert reply.status == 403


async def test_rtmp_call_returns_urls(api: Api) -> None:
    member = await api.joined("meet")
    reply = await member.part(
        "calls_rtmp_participant", member.uuid, "calls", {"call_type": "RTMP", "streaming": True}
    )
    assert reply.status == 200
    assert reply.result["url"].startswith("rtmp://127.0.0.1")
    assert reply.result["secure_url"].startswith("rtmps://")


async def test_participant_disconnect_ends_call(api: Api, client_pc: RTCPeerConnection) -> None:
    host = await api.joined("meet", "host")
    member = await api.joined("meet", "member")
    stream = await member.events()
    await stream.sync()
    call_uuid = await _place_call(member, client_pc)
    await host.part("disconnect_participant", member.uuid, "disconnect")
    ended = await stream.until("call_disconnected")
    assert ended["call_uuid"] == call_uuid
    await stream.until("disconnect")


def test_aioice_seam_is_present() -> None:
    """ice.py relies on private aioice attributes: fail loudly if an upgrade moves them."""
    from aioice import Connection

    from agent.node.media import check_seam

    check_seam(Connection(ice_controlling=False))
