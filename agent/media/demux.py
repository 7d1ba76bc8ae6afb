"""Received datagrams: RTP and RTCP go straight to the ICE connection, without a STUN parse.

aioice's `StunProtocol.datagram_received` tries every datagram as a STUN message first and
hands it on as media only when that parse raises `ValueError`: for every RTP packet a parse
attempt and an exception, about a tenth of what a receiving bot spends per packet. RFC 7983
demultiplexes by the first byte instead: 0-3 is STUN, 20-63 DTLS, 128-191 RTP/RTCP. So a
datagram whose first byte is in 128..191 cannot be STUN, and the wrapper hands it on
exactly as aioice's own fallback does (`self.receiver.data_received(data,
self.local_candidate.component)`); everything else takes aioice's path unchanged. Once a
transport has been connected and marked (`agent.media.inbound.deliver_srtp_directly`),
its RTP/RTCP skips aioice's queue as well and is handled here, in the datagram callback.

Private API: `StunProtocol.datagram_received`'s code shape is checked by
`check_demux_seam()` (RuntimeError "aioice private seam moved: ...") before the wrapper is
installed (once per process, `install_rtp_demux()`); `tests/unit/test_media_seam.py` fails
loudly if it moves.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import aioice.ice

from .inbound import DIRECT

_lock = threading.Lock()
_original: Callable[[Any, bytes | str, tuple[Any, ...]], None] | None = None


def check_demux_seam() -> None:
    """Raise RuntimeError("aioice private seam moved: ...") if RTP no longer reaches the ICE
    connection the way the wrapper hands it on."""
    protocol = getattr(aioice.ice, "StunProtocol", None)
    received = getattr(protocol, "datagram_received", None)
    if received is not None and received is _fast_datagram_received:
        received = _original
    code = getattr(received, "__code__", None)
    names = set(getattr(code, "co_names", ()))
    wanted = {"parse_message", "receiver", "data_received", "local_candidate", "component"}
    if code is None or not wanted <= names:
        raise RuntimeError(
            "aioice private seam moved: StunProtocol.datagram_received no longer hands "
            "non-STUN datagrams to receiver.data_received(data, local_candidate.component)"
        )


def _fast_datagram_received(self: Any, data: bytes | str, addr: tuple[Any, ...]) -> None:
    if data and isinstance(data, bytes) and 127 < data[0] < 192:
        connection = self.receiver
        # SRTP of a connected transport: handled here, unless something queued is first.
        direct = getattr(connection, DIRECT, None)
        if direct is not None and connection._queue.empty():
            direct(data)
        else:
            connection.data_received(data, self.local_candidate.component)
        return
    assert _original is not None
    _original(self, data, addr)


def install_rtp_demux() -> None:
    """Let RTP/RTCP skip the STUN parse (idempotent, thread-safe; checks the seam first)."""
    global _original  # noqa: PLW0603
    with _lock:
        if _original is not None:
            return
        check_demux_seam()
        _original = aioice.ice.StunProtocol.datagram_received
        aioice.ice.StunProtocol.datagram_received = _fast_datagram_received  # type: ignore[method-assign]


def rtp_demux_installed() -> bool:
    return aioice.ice.StunProtocol.datagram_received is _fast_datagram_received
