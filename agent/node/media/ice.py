"""Keep the node's ICE on chosen host addresses (127.0.0.1 by default).

One mechanism serves bots and node: `agent.media.ice`'s ContextVar-scoped wrapper around
`aioice.ice.get_host_addresses` (see that module for why). `NodePeer.answer` gathers inside
`ice_host_addresses(...)`, exactly like `MediaPeer`, so the node needs no private aioice
attributes of its own.

`restrict_host_addresses(pc)` remains for code that drives a raw `RTCPeerConnection` and
calls `setLocalDescription` itself, outside any scope (some tests): it wraps each of the
pc's ICE connections' `gather_candidates` so that gathering runs inside the scope. That
reaches `RTCIceGatherer._connection` (private, pinned through aiortc 1.16.*);
`check_seam` covers it and the aioice seam, and `tests/e2e/test_node_calls.py` fails
loudly if either moves.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from aiortc.rtcicetransport import RTCIceGatherer

from agent.media.ice import LOOPBACK, check_host_address_seam, ice_host_addresses

__all__ = ["LOOPBACK", "check_seam", "ice_host_addresses", "restrict_host_addresses"]


def check_seam(connection: Any = None) -> None:
    """Raise RuntimeError if a seam this module relies on moved.

    `connection` (an `aioice.Connection`, optional) is checked for the method the wrapper
    replaces.
    """
    check_host_address_seam()
    if not hasattr(RTCIceGatherer(), "_connection"):
        raise RuntimeError("aiortc changed: RTCIceGatherer._connection is gone; update ice.py")
    if connection is not None and not callable(getattr(connection, "gather_candidates", None)):
        raise RuntimeError("aioice changed: Connection.gather_candidates is gone")


def _ice_connections(pc: Any) -> list[Any]:
    """The aioice connections behind every transport of an aiortc peer connection."""
    connections: list[Any] = []
    transports = [t.receiver.transport for t in pc.getTransceivers()]
    if pc.sctp is not None:
        transports.append(pc.sctp.transport)
    for dtls in transports:
        if dtls is None:
            continue
        connection = getattr(dtls.transport.iceGatherer, "_connection", None)
        if connection is None:
            raise RuntimeError("aiortc changed: RTCIceGatherer._connection is gone")
        if all(c is not connection for c in connections):
            connections.append(connection)
    return connections


def restrict_host_addresses(pc: Any, addresses: Sequence[str] = LOOPBACK) -> None:
    """Call after the transceivers exist and before setLocalDescription (which gathers)."""
    chosen = tuple(addresses)
    for connection in _ice_connections(pc):
        original = connection.gather_candidates

        async def gather_candidates(original: Any = original) -> None:
            # The scope is set inside the gathering coroutine itself, so it holds whatever
            # task later awaits setLocalDescription.
            with ice_host_addresses(chosen):
                await original()

        connection.gather_candidates = gather_candidates
