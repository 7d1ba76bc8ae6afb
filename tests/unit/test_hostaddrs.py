"""The host addresses pexbot reads over netlink (agent/media/hostaddrs.py) are exactly the
ones aioice lists through ifaddr, in the same order; and a peer gathering without a scope
uses them without loading ifaddr or ctypes."""

from __future__ import annotations

import json
import subprocess
import sys

import aioice.ice
import pytest

from agent.media import ice
from agent.media.hostaddrs import host_addresses


@pytest.mark.parametrize(("ipv4", "ipv6"), [(True, True), (True, False), (False, True)])
def test_netlink_lists_what_aioice_lists(ipv4: bool, ipv6: bool) -> None:
    original = ice._original_get_host_addresses or aioice.ice.get_host_addresses
    found = host_addresses(ipv4, ipv6)
    assert found is not None, "no netlink on this Linux machine?"
    assert found == original(use_ipv4=ipv4, use_ipv6=ipv6)


def test_an_unscoped_gather_offers_the_host_addresses_without_ifaddr() -> None:
    code = """
import asyncio, json
import agent
from aiortc import RTCPeerConnection
from agent._lazy_imports import loaded_modules
from agent.media.ice import IceSettings, candidate_addresses
from agent.media.hostaddrs import host_addresses

async def main():
    pc = RTCPeerConnection(IceSettings().configuration())
    try:
        pc.addTransceiver("audio", direction="recvonly")
        with IceSettings().scope():
            await pc.setLocalDescription(await pc.createOffer())
        offered = candidate_addresses(pc.localDescription.sdp)
    finally:
        await pc.close()
    loaded = [m for m in loaded_modules() if m.split(".")[0] in ("ifaddr", "ctypes")]
    print(json.dumps({"offered": offered, "host": host_addresses(True, True),
                      "loaded": loaded}))

asyncio.run(main())
"""
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout.splitlines()[-1])
    assert got["host"] and set(got["offered"]) == set(got["host"])
    assert got["loaded"] == []
