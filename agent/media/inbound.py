"""Received SRTP handled in the datagram callback, without a queue hop per packet.

aiortc reads its ICE connection in a task: `RTCDtlsTransport.__run` loops on `_recv_next`,
which awaits `connection.recv()`, an `asyncio.Queue` that aioice's datagram callback fills.
Every received RTP/RTCP packet so costs a queue put, a woken future and a second loop turn
for the task before aiortc looks at it. `deliver_srtp_directly(dtls)` marks the
transport's ICE connection; from then on the demux wrapper (`agent.media.demux`) hands an
RTP/RTCP datagram (first byte 128..191, RFC 7983) straight to the transport's SRTP branch
of `_recv_next`, repeated here: count it, stamp its arrival, unprotect it and run
`_handle_rtp_data` / `_handle_rtcp_data`. In aiortc 1.16 those coroutines never suspend
(what they send goes out synchronously), so no task is made per packet; should one ever
suspend, a task finishes it from where it stopped, owned by the caller's `HandlerTasks`
(the peer's: cancelled and awaited when it closes). Order is kept: while the queue holds
anything (a DTLS record, or a packet the task is about to take), RTP queues behind it.
DTLS and STUN take aioice's path.

Bots only: the local node keeps aioice's path, because its impairments (loss, delay,
jitter on what it receives) replace the ICE transport's `_recv`, which this path skips
(tests/e2e/test_probe_e2e.py's injected loss would go missing).

One difference: an error in aiortc's packet handling (a bug) is logged and the next packet
is handled, where aiortc's task would stop reading altogether. The log says so once, then
once per `FAILURE_LOG_EVERY` failures with their count, so a bug that fails every packet
does not write a hundred lines a second for hours.

Private API: `check_inbound_seam()` verifies the code shape of `_recv_next`, the ICE
transport's `_connection` and aioice's queue (RuntimeError "aiortc private seam moved:
..."); `tests/unit/test_media_seam.py` fails loudly if they move.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine, Generator
from typing import Any

import aioice.ice
import pylibsrtp
from aiortc import clock
from aiortc.rtcdtlstransport import RTCDtlsTransport, State
from aiortc.rtcicetransport import RTCIceTransport
from aiortc.rtp import is_rtcp

log = logging.getLogger(__name__)

#: The attribute on an aioice Connection holding its direct SRTP handler.
DIRECT = "_pexbot_direct_srtp"

Direct = Callable[[bytes], None]
#: After the first failure of a connection's packet handling, one log line per this many.
FAILURE_LOG_EVERY = 1000


class FailureLog:
    """Counts one connection's failed packets and logs the first and then every
    `FAILURE_LOG_EVERY`-th."""

    def __init__(self) -> None:
        self.count = 0

    def failed(self) -> None:
        self.count += 1
        if self.count == 1 or self.count % FAILURE_LOG_EVERY == 0:
            log.exception("handling a received SRTP packet failed (%d so far)", self.count)


def check_inbound_seam() -> None:
    """Raise RuntimeError("aiortc private seam moved: ...") if received SRTP can no longer
    be handled the way `_recv_next` handles it."""
    problems = []
    recv_next = getattr(getattr(RTCDtlsTransport, "_recv_next", None), "__code__", None)
    wanted = {
        "_rx_srtp", "unprotect", "unprotect_rtcp", "_handle_rtp_data", "_handle_rtcp_data",
        "current_ms", "is_rtcp", "_RTCDtlsTransport__rx_bytes",
        "_RTCDtlsTransport__rx_packets", "_recv",
    }  # fmt: skip
    if recv_next is None or not wanted <= set(recv_next.co_names):
        problems.append("RTCDtlsTransport._recv_next no longer unprotects and routes SRTP")
    handlers = {"_handle_rtp_data": ("data", "arrival_time_ms"), "_handle_rtcp_data": ("data",)}
    for name, args in handlers.items():
        code = getattr(getattr(RTCDtlsTransport, name, None), "__code__", None)
        if code is None or code.co_varnames[1 : 1 + len(args)] != args:
            problems.append(f"RTCDtlsTransport.{name} changed")
    ice_init = getattr(RTCIceTransport.__init__, "__code__", None)
    if ice_init is None or "_connection" not in ice_init.co_names:
        problems.append("RTCIceTransport has no _connection")
    received = getattr(aioice.ice.Connection, "data_received", None)
    names = set(getattr(getattr(received, "__code__", None), "co_names", ()))
    if not {"_queue", "put_nowait"} <= names:
        problems.append("aioice Connection.data_received no longer fills its _queue")
    if not hasattr(State, "CONNECTED"):
        problems.append("aiortc.rtcdtlstransport.State.CONNECTED is gone")
    if problems:
        raise RuntimeError("aiortc private seam moved: " + "; ".join(problems))


class _Resumed:
    """Awaiting it continues a coroutine that already ran to its first suspension, where
    it awaits `waited` (what its `send(None)` yielded): the running Task waits on that, then
    sends into or throws into (a cancellation) the coroutine as if it had run it from the
    start."""

    def __init__(self, coro: Coroutine[Any, Any, None], waited: Any) -> None:
        self._coro = coro
        self._waited = waited

    def __await__(self) -> Generator[Any, Any, None]:
        waited = self._waited
        while True:
            try:
                try:
                    sent = yield waited
                except BaseException as exc:  # what the Task throws in: a cancellation
                    waited = self._coro.throw(exc)
                else:
                    waited = self._coro.send(sent)
            except StopIteration:
                return


class HandlerTasks:
    """The tasks that finish packet handlers which suspended, owned by whoever installed
    the direct path (a `MediaPeer`): `aclose()` cancels and awaits them."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False

    def __len__(self) -> int:
        return len(self._tasks)

    def adopt(self, coro: Coroutine[Any, Any, None], waited: Any, failures: FailureLog) -> None:
        """Finish `coro`, suspended on `waited`, in a task of this set."""
        if self._closed:  # a packet after close: nothing would cancel its task
            coro.close()
            return
        task = asyncio.get_running_loop().create_task(
            _resume(coro, waited, failures), name="srtp-handler"
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def aclose(self) -> None:
        """Cancel the handlers still running and wait for them. Idempotent."""
        self._closed = True
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def _resume(coro: Coroutine[Any, Any, None], waited: Any, failures: FailureLog) -> None:
    try:
        await _Resumed(coro, waited)
    except Exception:
        failures.failed()


def _finish(coro: Coroutine[Any, Any, None], failures: FailureLog, tasks: HandlerTasks) -> None:
    """Run `coro` to its end: now when it never suspends (aiortc's handlers), else in a
    task of `tasks` from where it suspended."""
    try:
        waited = coro.send(None)
    except StopIteration:
        return
    except Exception:
        failures.failed()
        return
    tasks.adopt(coro, waited, failures)


def _direct(
    dtls: RTCDtlsTransport, connection: aioice.ice.Connection, tasks: HandlerTasks
) -> Direct:
    failures = FailureLog()

    def direct(data: bytes) -> None:
        srtp = dtls._rx_srtp
        if dtls._state is not State.CONNECTED or srtp is None:
            connection.data_received(data, 1)  # aiortc's own path decides
            return
        dtls._RTCDtlsTransport__rx_bytes += len(data)  # type: ignore[attr-defined]
        dtls._RTCDtlsTransport__rx_packets += 1  # type: ignore[attr-defined]
        arrival_time_ms = clock.current_ms()
        try:
            if is_rtcp(data):
                coro = dtls._handle_rtcp_data(srtp.unprotect_rtcp(data))
            else:
                coro = dtls._handle_rtp_data(srtp.unprotect(data), arrival_time_ms)
        except pylibsrtp.Error:
            return  # as aiortc: a packet that does not authenticate is dropped
        _finish(coro, failures, tasks)

    return direct


def deliver_srtp_directly(dtls: RTCDtlsTransport, tasks: HandlerTasks) -> bool:
    """Handle `dtls`'s received SRTP in the datagram callback from now on (once connected;
    idempotent). A handler that suspends finishes in a task of `tasks`, which the caller
    closes with the transport. False when the transport is not connected yet."""
    if dtls._state is not State.CONNECTED or dtls._rx_srtp is None:
        return False
    connection = dtls.transport._connection
    if getattr(connection, DIRECT, None) is None:
        check_inbound_seam()
        setattr(connection, DIRECT, _direct(dtls, connection, tasks))
    return True


def direct_handler(connection: object) -> Direct | None:
    return getattr(connection, DIRECT, None)
