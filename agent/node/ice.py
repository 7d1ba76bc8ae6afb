"""Keep the node's ICE on chosen host addresses (127.0.0.1 by default).

aioice gathers host candidates from every interface *except* loopback
(`aioice.ice.get_host_addresses`), and offers no option to choose them. Patching that module
function would change every peer in the process (bots included), so instead each of the
node's own ICE connections gets an instance-level `gather_candidates` that binds only the
given addresses. It touches four private attributes of `aioice.Connection` (pinned through
aiortc 1.16.*); `tests/e2e/test_node_calls.py` fails loudly if they move.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

LOOPBACK = ("127.0.0.1",)
_SEAM = ("_local_candidates_start", "_local_candidates_end", "_local_candidates", "_components")


def _ice_connections(pc: Any) -> list[Any]:
    """The aioice connections behind every transport of an aiortc peer connection."""
    connections: list[Any] = []
    transports = [t.receiver.transport for t in pc.getTransceivers()]
    if pc.sctp is not None:
        transports.append(pc.sctp.transport)
    for dtls in transports:
        if dtls is None:
            continue
        connection = dtls.transport.iceGatherer._connection
        if all(c is not connection for c in connections):
            connections.append(connection)
    return connections


def check_seam(connection: Any) -> None:
    missing = [name for name in _SEAM if not hasattr(connection, name)]
    if missing or not hasattr(connection, "get_component_candidates"):
        raise RuntimeError(f"aioice.Connection changed, ice.py needs updating: {missing}")


def restrict_host_addresses(pc: Any, addresses: Sequence[str] = LOOPBACK) -> None:
    """Call after setRemoteDescription and before setLocalDescription (which gathers)."""
    for connection in _ice_connections(pc):
        check_seam(connection)
        connection.gather_candidates = _gatherer(connection, list(addresses))


def _gatherer(connection: Any, addresses: list[str]) -> Any:
    async def gather_candidates() -> None:
        # Mirrors aioice's own gather_candidates with a fixed address list; no STUN/TURN
        # because the node's peers get an explicit empty iceServers list.
        if connection._local_candidates_start:
            return
        connection._local_candidates_start = True
        for component in connection._components:
            connection._local_candidates += await connection.get_component_candidates(
                component=component, addresses=addresses
            )
        connection._local_candidates_end = True

    return gather_candidates
