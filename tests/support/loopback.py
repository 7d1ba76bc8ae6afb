"""Two MediaPeers in one process, connected over 127.0.0.1 only."""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from agent.media.ice import IceSettings, candidate_addresses
from agent.media.peer import MediaPeer


def assert_loopback_only(sdp: str) -> None:
    addresses = candidate_addresses(sdp)
    assert addresses, "SDP has no candidates"
    bad = [a for a in addresses if not ipaddress.ip_address(a).is_loopback]
    assert not bad, f"non-loopback candidates in SDP: {bad}"


@asynccontextmanager
async def peer_pair(
    offerer: dict[str, Any] | None = None,
    answerer: dict[str, Any] | None = None,
    *,
    connect: bool = True,
) -> AsyncIterator[tuple[MediaPeer, MediaPeer]]:
    """Offerer (bot-like: create_offer/apply_answer) and answerer (answer()) on loopback."""
    a = MediaPeer(IceSettings.loopback(), name="A", **(offerer or {}))
    b = MediaPeer(IceSettings.loopback(), name="B", **(answerer or {}))
    try:
        offer = await a.create_offer()
        assert_loopback_only(offer)
        answer = await b.answer(offer)
        assert_loopback_only(answer)
        await a.apply_answer(answer)
        if connect:
            await asyncio.gather(a.wait_connected(10), b.wait_connected(10))
        yield a, b
    finally:
        await asyncio.gather(a.close(), b.close())
