"""ICE servers exactly as the node gave them; host addresses scoped per task."""

from __future__ import annotations

import asyncio

import aioice.ice
import pytest
from aiortc import RTCIceServer

from agent.infinity.models.token import StunServer, TurnServer
from agent.media.ice import (
    IceSettings,
    check_host_address_seam,
    ice_host_addresses,
    ice_servers_from_node,
    rtc_configuration,
)
from agent.media.peer import MediaPeer


def test_node_lists_convert_from_dicts() -> None:
    servers = ice_servers_from_node(
        [{"url": "stun:stun.example.com:3478"}],
        [
            {
                "urls": ["turn:turn.example.com:3478?transport=udp"],
                "username": "u",
                "credential": "p",
            }
        ],
    )
    assert servers == [
        RTCIceServer(urls=["stun:stun.example.com:3478"]),
        RTCIceServer(
            urls=["turn:turn.example.com:3478?transport=udp"], username="u", credential="p"
        ),
    ]


def test_node_lists_convert_from_models() -> None:
    servers = ice_servers_from_node(
        [StunServer(url="stun:10.0.0.1:3478")],
        [TurnServer(urls=["turns:t.example.com:443?transport=tcp"], username="a", credential="b")],
    )
    assert [s.urls for s in servers] == [
        ["stun:10.0.0.1:3478"],
        ["turns:t.example.com:443?transport=tcp"],
    ]
    assert servers[1].username == "a" and servers[1].credential == "b"


def test_empty_or_missing_lists_give_no_servers() -> None:
    assert ice_servers_from_node(None, None) == []
    assert ice_servers_from_node([], []) == []


def test_bad_entries_are_named() -> None:
    with pytest.raises(ValueError, match="wrong scheme"):
        ice_servers_from_node([{"url": "http://x"}], None)
    with pytest.raises(ValueError, match="no url/urls"):
        ice_servers_from_node(None, [{"username": "u"}])
    with pytest.raises(ValueError, match="wrong scheme"):
        ice_servers_from_node(None, [{"urls": "stun:x"}])


def test_configuration_never_falls_back_to_default_stun() -> None:
    assert rtc_configuration().iceServers == []
    assert IceSettings().configuration().iceServers == []
    assert rtc_configuration([RTCIceServer(urls="stun:a:1")]).iceServers == [
        RTCIceServer(urls="stun:a:1")
    ]


async def test_peer_gatherer_has_no_stun_server() -> None:
    peer = MediaPeer(IceSettings.loopback(), name="x")
    try:
        sdp = await peer.create_offer()
        assert "typ srflx" not in sdp
        for transceiver in peer.pc.getTransceivers():
            connection = transceiver.receiver.transport.transport.iceGatherer._connection
            assert connection.stun_server is None
            assert connection.turn_server is None
    finally:
        await peer.close()


def test_scope_replaces_host_addresses_and_restores() -> None:
    with ice_host_addresses(["127.0.0.1", "::1"]):
        assert aioice.ice.get_host_addresses(use_ipv4=True, use_ipv6=True) == ["127.0.0.1", "::1"]
        assert aioice.ice.get_host_addresses(use_ipv4=True, use_ipv6=False) == ["127.0.0.1"]
        assert aioice.ice.get_host_addresses(use_ipv4=False, use_ipv6=True) == ["::1"]
        with ice_host_addresses([]):
            assert aioice.ice.get_host_addresses(use_ipv4=True, use_ipv6=True) == []
        assert aioice.ice.get_host_addresses(use_ipv4=True, use_ipv6=False) == ["127.0.0.1"]
    # Outside any scope: aioice's own behaviour (never loopback).
    assert "127.0.0.1" not in aioice.ice.get_host_addresses(use_ipv4=True, use_ipv6=False)
    with ice_host_addresses(None):
        assert "127.0.0.1" not in aioice.ice.get_host_addresses(use_ipv4=True, use_ipv6=False)


def test_scope_rejects_non_addresses() -> None:
    with pytest.raises(ValueError, match="not an IP address"), ice_host_addresses(["eth0"]):
        pass


async def test_scopes_are_per_task() -> None:
    seen: dict[str, list[str]] = {}

    async def gather(name: str, addresses: list[str]) -> None:
        with ice_host_addresses(addresses):
            await asyncio.sleep(0.01)  # interleave with the other task
            seen[name] = aioice.ice.get_host_addresses(use_ipv4=True, use_ipv6=True)

    await asyncio.gather(gather("a", ["127.0.0.1"]), gather("b", ["127.0.0.2"]))
    assert seen == {"a": ["127.0.0.1"], "b": ["127.0.0.2"]}


def test_host_address_seam_present() -> None:
    check_host_address_seam()
