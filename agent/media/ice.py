"""ICE configuration: which local host addresses aiortc may use, and which STUN/TURN servers.

Servers. aiortc silently adds Google's public STUN server when `RTCConfiguration.iceServers`
is None, so `rtc_configuration` always passes an explicit list (possibly empty). The node
returns `stun: [{url}]` and `turn: [{urls, username, credential}]`; `ice_servers_from_node`
converts them. aiortc uses only the first usable STUN and the first usable TURN URL; the
rest are ignored by aiortc, not by us (we log it).

Host addresses. aioice gathers host candidates from every interface *except* loopback
(`aioice.ice.get_host_addresses`, looked up as a module global at gather time). Tests and
the local node need loopback only; bots in containers need a given list. There is no
per-connection option, so the seam chosen is:

- `aioice.ice.get_host_addresses` is replaced once per process by a wrapper that reads a
  `contextvars.ContextVar`. Unset (the default) it calls the original, so code that never
  asks for scoping sees aioice's normal behaviour.
- `ice_host_addresses([...])` is a context manager that sets the variable. aiortc gathers
  inside `setLocalDescription`, via `asyncio.gather`, whose tasks copy the caller's
  context; so the scope is exactly "offers/answers created by this task inside the
  `with`". Many peers with different address lists can gather concurrently in one
  process, because each asyncio task has its own context.

Limits: the scope must be active in the task that awaits `setLocalDescription` (MediaPeer
does this itself); tasks created *before* the `with` keep their old context. The wrapper is
a process-wide monkeypatch of a public-looking but undocumented function of aioice; it is
checked by `check_host_address_seam()` and a unit test. Addresses are used as given
(no check that they belong to a local interface: binding fails loudly if not).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import inspect
import ipaddress
import logging
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import aioice.ice
from aiortc import (
    RTCConfiguration,
    RTCIceServer,
    RTCIceTransport,
    RTCPeerConnection,
    RTCRtpReceiver,
    RTCRtpSender,
)
from aiortc.rtcconfiguration import RTCIceTransportPolicy

log = logging.getLogger(__name__)

LOOPBACK: tuple[str, ...] = ("127.0.0.1",)

_HOST_ADDRESSES: contextvars.ContextVar[tuple[str, ...] | None] = contextvars.ContextVar(
    "pexbot_ice_host_addresses", default=None
)
_install_lock = threading.Lock()
_original_get_host_addresses: Callable[..., list[str]] | None = None


def _scoped_get_host_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:
    scoped = _HOST_ADDRESSES.get()
    if scoped is None:
        assert _original_get_host_addresses is not None
        return _original_get_host_addresses(use_ipv4=use_ipv4, use_ipv6=use_ipv6)
    result = []
    for address in scoped:
        version = ipaddress.ip_address(address).version
        if (version == 4 and use_ipv4) or (version == 6 and use_ipv6):
            result.append(address)
    return result


def check_host_address_seam() -> None:
    """Raise RuntimeError if aioice no longer gathers through `get_host_addresses`."""
    func = getattr(aioice.ice, "get_host_addresses", None)
    conn = getattr(aioice.ice, "Connection", None)
    gather = getattr(conn, "gather_candidates", None)
    code = getattr(gather, "__code__", None)
    if func is None or code is None or "get_host_addresses" not in code.co_names:
        raise RuntimeError(
            "aioice seam moved: Connection.gather_candidates no longer calls "
            "aioice.ice.get_host_addresses; ICE host address scoping would be ignored"
        )


def install_host_address_seam() -> None:
    """Install the context-aware wrapper (idempotent, thread-safe)."""
    global _original_get_host_addresses  # noqa: PLW0603
    with _install_lock:
        if _original_get_host_addresses is not None:
            return
        check_host_address_seam()
        _original_get_host_addresses = aioice.ice.get_host_addresses
        setattr(aioice.ice, "get_host_addresses", _scoped_get_host_addresses)  # noqa: B010


def _normalise_addresses(addresses: Iterable[str]) -> tuple[str, ...]:
    out = []
    for address in addresses:
        try:
            out.append(str(ipaddress.ip_address(address)))
        except ValueError:
            raise ValueError(f"ICE host address is not an IP address: {address!r}") from None
    return tuple(out)


@contextlib.contextmanager
def ice_host_addresses(addresses: Iterable[str] | None) -> Iterator[None]:
    """Within this scope, ICE host candidates use exactly `addresses`.

    None means "no scoping" (aioice default: every interface but loopback). An empty list
    means no host candidates at all (relay only).
    """
    if addresses is None:
        yield
        return
    normalised = _normalise_addresses(addresses)
    install_host_address_seam()
    token = _HOST_ADDRESSES.set(normalised)
    try:
        yield
    finally:
        _HOST_ADDRESSES.reset(token)


def _field(entry: Mapping[str, Any] | object, name: str) -> Any:
    if isinstance(entry, Mapping):
        return entry.get(name)
    return getattr(entry, name, None)


def _urls(entry: Mapping[str, Any] | object) -> list[str]:
    raw = _field(entry, "urls")
    if raw is None:
        raw = _field(entry, "url")
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, list | tuple) or not raw or not all(isinstance(u, str) for u in raw):
        raise ValueError(f"ICE server entry has no url/urls string(s): {entry!r}")
    return list(raw)


def ice_servers_from_node(
    stun: Sequence[Mapping[str, Any] | object] | None,
    turn: Sequence[Mapping[str, Any] | object] | None,
) -> list[RTCIceServer]:
    """Convert the node's `stun`/`turn` lists (dicts or pydantic models) to aiortc servers.

    Exactly what the node returned: nothing added. Raises ValueError for an entry without
    URLs or with a URL that is not stun:/stuns:/turn:/turns:.
    """
    servers: list[RTCIceServer] = []
    for kind, entries, schemes in (
        ("stun", stun or (), ("stun:", "stuns:")),
        ("turn", turn or (), ("turn:", "turns:")),
    ):
        for entry in entries:
            urls = _urls(entry)
            bad = [u for u in urls if not u.startswith(schemes)]
            if bad:
                raise ValueError(f"{kind} server URL(s) with a wrong scheme: {bad}")
            if kind == "stun":
                servers.append(RTCIceServer(urls=urls))
            else:
                servers.append(
                    RTCIceServer(
                        urls=urls,
                        username=_field(entry, "username"),
                        credential=_field(entry, "credential"),
                    )
                )
    n_stun = sum(1 for s in servers for u in _as_list(s.urls) if u.startswith("stun"))
    n_turn = sum(1 for s in servers for u in _as_list(s.urls) if u.startswith("turn"))
    if n_stun > 1 or n_turn > 1:
        log.info(
            "aiortc uses one STUN and one TURN URL; %d STUN and %d TURN URLs given",
            n_stun,
            n_turn,
        )
    return servers


def _as_list(urls: str | list[str]) -> list[str]:
    return [urls] if isinstance(urls, str) else list(urls)


def rtc_configuration(
    servers: Sequence[RTCIceServer] = (), *, relay_only: bool = False
) -> RTCConfiguration:
    """An RTCConfiguration with exactly `servers` (never aiortc's default public STUN)."""
    return RTCConfiguration(
        iceServers=list(servers),
        iceTransportPolicy=RTCIceTransportPolicy.RELAY if relay_only else RTCIceTransportPolicy.ALL,
    )


@dataclass(frozen=True)
class IceSettings:
    """What a peer needs for ICE: servers (exactly as given) and allowed host addresses.

    `host_addresses=None` leaves aioice's default (all interfaces but loopback);
    `LOOPBACK` keeps every packet on 127.0.0.1.
    """

    servers: tuple[RTCIceServer, ...] = ()
    host_addresses: tuple[str, ...] | None = None
    relay_only: bool = False

    @classmethod
    def loopback(cls, servers: Sequence[RTCIceServer] = ()) -> IceSettings:
        return cls(servers=tuple(servers), host_addresses=LOOPBACK)

    def configuration(self) -> RTCConfiguration:
        return rtc_configuration(self.servers, relay_only=self.relay_only)

    def scope(self) -> contextlib.AbstractContextManager[None]:
        return ice_host_addresses(self.host_addresses)


def candidate_addresses(sdp: str) -> list[str]:
    """Connection addresses of every `a=candidate` line in an SDP (for hygiene checks)."""
    out = []
    for line in sdp.splitlines():
        if line.startswith("a=candidate:"):
            parts = line.split()
            if len(parts) >= 5:
                out.append(parts[4])
    return out


# -- closing a peer connection without leaving tasks behind -------------------------------
#
# aioice 0.13 starts an RFC 7675 consent task when `Connection.connect()` completes, and
# `close()` cancels the one it knows. But a peer closed while its checks were already
# succeeding (a call hung up right after it was placed) sees `connect()` complete *after*
# the close: the consent task then starts on a closed connection and lives on for up to six
# consent intervals (~30 s), holding the connection; aiortc's `__connect` likewise goes on
# to start the senders' and receivers' RTP/RTCP loops. So after closing we let aiortc's
# connect task finish (it does within one check interval) and cancel every such task still
# bound to the peer. This reads aiortc's private `RTCIceTransport._connection` and
# `RTCPeerConnection.__connect`, and the frames of aioice's `query_consent` and aiortc's
# `_run_rtp`/`_run_rtcp`: `check_consent_seam()` fails loudly if any of them moves.


_CONSENT = "Connection.query_consent"
_CONNECT = "RTCPeerConnection.__connect"
_MEDIA_LOOPS = ("RTCRtpSender._run_rtp", "RTCRtpSender._run_rtcp", "RTCRtpReceiver._run_rtcp")
#: After a close, aiortc's connect task ends within one aioice check interval (20 ms).
_CONNECT_GRACE = 1.0


def _ice_connections(pc: Any) -> list[Any]:
    seen: dict[int, Any] = {}
    transports = [t.sender.transport for t in pc.getTransceivers()]
    sctp = getattr(pc, "sctp", None)
    if sctp is not None:
        transports.append(sctp.transport)
    for dtls in transports:
        conn = getattr(getattr(dtls, "transport", None), "_connection", None)
        if conn is not None:
            seen[id(conn)] = conn
    return list(seen.values())


def _owner(task: asyncio.Task[Any], qualname: str) -> Any:
    """The `self` of a task running the method `qualname`, or None."""
    coro = task.get_coro()
    if getattr(coro, "__qualname__", "") != qualname:
        return None
    frame = getattr(coro, "cr_frame", None)
    return frame.f_locals.get("self") if frame is not None else None


def check_consent_seam() -> None:
    """Raise RuntimeError if aioice's consent task or aiortc's ICE connection moved."""
    loops = [
        getattr(RTCRtpSender, "_run_rtp", None),
        getattr(RTCRtpSender, "_run_rtcp", None),
        getattr(RTCRtpReceiver, "_run_rtcp", None),
    ]
    if [getattr(f, "__qualname__", None) for f in loops] != list(_MEDIA_LOOPS) or not all(
        inspect.iscoroutinefunction(f) for f in loops
    ):
        raise RuntimeError(
            "aiortc seam moved: RTCRtpSender._run_rtp/_run_rtcp or RTCRtpReceiver._run_rtcp "
            "are no longer coroutines of those names; closed peers may leak tasks"
        )
    consent = getattr(getattr(aioice.ice, "Connection", None), "query_consent", None)
    connect = getattr(RTCPeerConnection, "_RTCPeerConnection__connect", None)
    ice_init = getattr(RTCIceTransport.__init__, "__code__", None)
    if (
        not inspect.iscoroutinefunction(consent)
        or consent.__qualname__ != _CONSENT
        or not inspect.iscoroutinefunction(connect)
        or connect.__qualname__ != _CONNECT
        or ice_init is None
        or "_connection" not in ice_init.co_names
    ):
        raise RuntimeError(
            "aioice/aiortc seam moved: no Connection.query_consent or "
            "RTCPeerConnection.__connect coroutine, or RTCIceTransport no longer holds "
            "_connection; closed peers may leak tasks"
        )


async def close_peer_connection(pc: Any) -> None:
    """`pc.close()`, then cancel what aiortc and aioice started on it after the close."""
    connections = {id(c) for c in _ice_connections(pc)}
    # RTP/RTCP loops of senders and receivers that `__connect` may start after a close.
    endpoints = {id(x) for t in pc.getTransceivers() for x in (t.sender, t.receiver)}
    connecting = [t for t in asyncio.all_tasks() if _owner(t, _CONNECT) is pc]
    await pc.close()
    if connecting:
        await asyncio.wait(connecting, timeout=_CONNECT_GRACE)
    orphans = [
        task
        for task in asyncio.all_tasks()
        if not task.done()
        and (
            id(_owner(task, _CONSENT)) in connections
            or any(id(_owner(task, name)) in endpoints for name in _MEDIA_LOOPS)
        )
    ]
    for task in orphans:
        task.cancel()
    for task in orphans:
        with contextlib.suppress(asyncio.CancelledError):
            await task
