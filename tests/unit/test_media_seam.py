"""Fails loudly if the private aiortc / aioice seams the media layer relies on move.

If this fails after an upgrade, re-read aiortc's RTCRtpReceiver, RTCRtpSender,
RTCDtlsTransport._recv_next and aioice's Connection (gather_candidates, data_received) and
StunProtocol.datagram_received, and update agent/media/tap.py, sender.py, ice.py, demux.py
and inbound.py.
"""

from __future__ import annotations

import asyncio
import inspect
import queue
import time

import aioice.ice
import aiortc
import pytest
from aiortc import RTCPeerConnection, RTCRtpReceiver, RTCRtpSender
from aiortc.codecs import opus, vpx
from aiortc.mediastreams import AudioStreamTrack
from aiortc.rtcdtlstransport import RTCDtlsTransport
from aiortc.rtcicetransport import RTCIceTransport
from aiortc.rtcrtpreceiver import decoder_worker

from agent.media import demux, inbound, ratecounter, rtpclock
from agent.media.demux import check_demux_seam, install_rtp_demux, rtp_demux_installed
from agent.media.ice import check_consent_seam, check_host_address_seam, close_peer_connection
from agent.media.inbound import check_inbound_seam, direct_handler
from agent.media.sender import check_sender_seam, hook_keyframe_requests
from agent.media.sources import ToneSource
from agent.media.tap import SEAM_ATTRIBUTE, EncodedTap, check_tap_seam
from agent.node.media import restrict_host_addresses
from tests.support.loopback import peer_pair


def test_aiortc_version_is_pinned_116() -> None:
    assert aiortc.__version__.startswith("1.16."), aiortc.__version__


async def test_receiver_has_a_private_decoder_queue() -> None:
    pc = RTCPeerConnection()
    try:
        receiver = pc.addTransceiver("video").receiver
        assert isinstance(getattr(receiver, SEAM_ATTRIBUTE), queue.Queue)
        check_tap_seam(receiver)
        tap = EncodedTap(receiver)
        assert getattr(receiver, SEAM_ATTRIBUTE) is not tap
        with pytest.raises(RuntimeError, match="already has"):
            EncodedTap(receiver)
    finally:
        await pc.close()


def test_receiver_code_shape() -> None:
    source = inspect.getsource(RTCRtpReceiver._handle_rtp_packet)
    assert "self.__decoder_queue.put((codec, encoded_frame))" in source
    # The tap asks for a keyframe through the decode-error path: a PLI with the next packet.
    assert "if self.__decoder_error.is_set():" in source and "pli_flag = True" in source
    assert "encoded_frame.timestamp = self.__timestamp_mapper.map(" in source
    worker = inspect.getsource(decoder_worker)
    assert "input_q.get()" in worker and "codec, encoded_frame = task" in worker
    assert list(inspect.signature(decoder_worker).parameters) == [
        "loop",
        "input_q",
        "output_q",
        "decode_error",
    ]
    # The decoder thread receives the queue attribute as it is when receive() runs; it is
    # made through the module's `threading` (the tap makes it lazy).
    receive = inspect.getsource(RTCRtpReceiver.receive)
    assert "self.__decoder_queue," in receive
    assert "self.__decoder_thread = threading.Thread(" in receive
    assert "target=decoder_worker," in receive and "self.__decoder_thread.start()" in receive


def test_check_reports_a_moved_seam(monkeypatch: pytest.MonkeyPatch) -> None:
    async def elsewhere(self: RTCRtpReceiver, packet: object, arrival_time_ms: int) -> None:
        return None

    monkeypatch.setattr(RTCRtpReceiver, "_handle_rtp_packet", elsewhere)
    with pytest.raises(RuntimeError, match="aiortc private seam moved"):
        check_tap_seam()


def test_aioice_host_address_seam() -> None:
    check_host_address_seam()


def test_aioice_consent_seam() -> None:
    # `close_peer_connection` reaps the consent task aioice may start after a close.
    check_consent_seam()


def test_consent_seam_check_fails_loudly_when_aioice_moves(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def renamed(self: object) -> None:
        return None

    monkeypatch.setattr(aioice.ice.Connection, "query_consent", renamed)
    with pytest.raises(RuntimeError, match="aioice/aiortc seam moved"):
        check_consent_seam()


async def test_closing_a_connected_peer_leaves_no_ice_task() -> None:
    offerer, answerer = RTCPeerConnection(), RTCPeerConnection()
    for pc in (offerer, answerer):
        restrict_host_addresses(pc)
    offerer.addTrack(AudioStreamTrack())
    await offerer.setLocalDescription(await offerer.createOffer())
    await answerer.setRemoteDescription(offerer.localDescription)
    await answerer.setLocalDescription(await answerer.createAnswer())
    await offerer.setRemoteDescription(answerer.localDescription)
    # Close as soon as ICE completes: the window in which aioice starts consent late.
    async with asyncio.timeout(10):
        while offerer.iceConnectionState not in ("completed", "connected"):  # noqa: ASYNC110
            await asyncio.sleep(0)
    for pc in (offerer, answerer):
        await close_peer_connection(pc)
    assert [t for t in asyncio.all_tasks() if "consent" in repr(t.get_coro())] == []


def test_sender_passes_packets_and_keyframe_requests_through_the_seam() -> None:
    check_sender_seam()
    rtcp = inspect.getsource(RTCRtpSender._handle_rtcp_packet)
    assert "RTCP_PSFB_PLI" in rtcp and "self._send_keyframe()" in rtcp
    nxt = inspect.getsource(RTCRtpSender._next_encoded_frame)
    assert "isinstance(data, Frame)" in nxt and "self.__encoder.pack(data)" in nxt
    for encoder in (vpx.Vp8Encoder, opus.OpusEncoder):
        assert "convert_timebase(packet.pts, packet.time_base" in inspect.getsource(encoder.pack)


async def test_the_keyframe_hook_tells_the_track_and_keeps_the_flag() -> None:
    class Track(AudioStreamTrack):
        kind = "video"
        asked = 0

        def request_keyframe(self) -> None:
            self.asked += 1

    pc = RTCPeerConnection()
    try:
        track = Track()
        sender = pc.addTransceiver("video").sender
        sender.replaceTrack(track)
        hook_keyframe_requests(sender)
        hook_keyframe_requests(sender)  # idempotent
        sender._send_keyframe()
        assert track.asked == 1
        assert sender._RTCRtpSender__force_keyframe  # type: ignore[attr-defined]
    finally:
        await pc.close()


def test_sender_check_reports_a_moved_seam(monkeypatch: pytest.MonkeyPatch) -> None:
    async def elsewhere(self: RTCRtpSender, packet: object) -> None:
        return None

    monkeypatch.setattr(RTCRtpSender, "_handle_rtcp_packet", elsewhere)
    with pytest.raises(RuntimeError, match=r"aiortc private seam moved: .*_send_keyframe"):
        check_sender_seam()


def test_rtp_demux_seam_shape() -> None:
    check_demux_seam()
    original = demux._original or aioice.ice.StunProtocol.datagram_received
    source = inspect.getsource(original)
    # What the fast path repeats for RTP/RTCP: aioice's own fallback for non-STUN data.
    fallback = (
        "except ValueError:\n"
        "            self.receiver.data_received(data, self.local_candidate.component)\n"
        "            return"
    )
    assert fallback in source


class _Receiver:
    def __init__(self) -> None:
        self.data: list[tuple[bytes, int]] = []
        self.requests: list[object] = []

    def data_received(self, data: bytes, component: int) -> None:
        self.data.append((data, component))

    def request_received(self, message: object, addr: object, protocol: object) -> None:
        self.requests.append(message)


def _protocol(receiver: _Receiver) -> aioice.ice.StunProtocol:
    protocol = aioice.ice.StunProtocol(receiver)  # type: ignore[arg-type]
    protocol.local_candidate = aioice.Candidate(
        foundation="1", component=1, transport="udp", priority=1, host="127.0.0.1",
        port=9, type="host",
    )  # fmt: skip
    return protocol


def test_rtp_and_rtcp_skip_the_stun_parse_and_stun_still_is_stun() -> None:
    install_rtp_demux()
    install_rtp_demux()  # idempotent
    assert rtp_demux_installed()
    receiver = _Receiver()
    protocol = _protocol(receiver)
    rtp = bytes([0x80, 96]) + bytes(10)
    rtcp = bytes([0x81, 200]) + bytes(26)
    dtls = bytes([22, 0xFE, 0xFD]) + bytes(10)
    for data in (rtp, rtcp, dtls):
        protocol.datagram_received(data, ("127.0.0.1", 5000))
    assert receiver.data == [(rtp, 1), (rtcp, 1), (dtls, 1)]  # DTLS: aioice's own path
    request = aioice.stun.Message(
        message_method=aioice.stun.Method.BINDING, message_class=aioice.stun.Class.REQUEST
    )
    protocol.datagram_received(bytes(request), ("127.0.0.1", 5000))
    assert len(receiver.requests) == 1 and len(receiver.data) == 3


def test_demux_check_fails_loudly_when_aioice_moves(monkeypatch: pytest.MonkeyPatch) -> None:
    def elsewhere(self: object, data: bytes, addr: object) -> None:
        return None

    monkeypatch.setattr(demux, "_original", None)
    monkeypatch.setattr(aioice.ice.StunProtocol, "datagram_received", elsewhere)
    with pytest.raises(RuntimeError, match="aioice private seam moved"):
        check_demux_seam()


def test_the_fast_clock_agrees_with_aiortcs_own() -> None:
    from aiortc import clock

    rtpclock.install_fast_clock()
    rtpclock.install_fast_clock()  # idempotent
    assert rtpclock.fast_clock_installed()
    rtpclock.check_clock_seam()
    ntp = rtpclock._originals["current_ntp_time"]()
    assert abs(clock.current_ntp_time() - ntp) < 2**32 // 100  # within 10 ms
    assert abs(clock.current_ms() - rtpclock._originals["current_ms"]()) < 10
    # The fraction is the low 32 bits, as aiortc's datetime_to_ntp makes it.
    value = clock.current_ntp_time()
    back = clock.datetime_from_ntp(value).timestamp()
    assert abs(back - time.time()) < 0.01


def test_clock_check_fails_loudly_when_aiortc_moves(monkeypatch: pytest.MonkeyPatch) -> None:
    from aiortc import clock

    monkeypatch.setattr(rtpclock, "_originals", {})
    monkeypatch.delattr(clock, "current_ms")
    with pytest.raises(RuntimeError, match=r"aiortc private seam moved: .*current_ms is gone"):
        rtpclock.check_clock_seam()


def test_inbound_seam_shape() -> None:
    check_inbound_seam()
    source = inspect.getsource(RTCDtlsTransport._recv_next)
    # What `agent.media.inbound` repeats: the SRTP branch of aiortc's receive loop.
    for line in (
        "data = await self.transport._recv()",
        "self.__rx_bytes += len(data)",
        "self.__rx_packets += 1",
        "elif first_byte > 127 and first_byte < 192 and self._rx_srtp:",
        "arrival_time_ms = clock.current_ms()",
        "data = self._rx_srtp.unprotect_rtcp(data)",
        "await self._handle_rtcp_data(data)",
        "data = self._rx_srtp.unprotect(data)",
        "await self._handle_rtp_data(data, arrival_time_ms=arrival_time_ms)",
        "except pylibsrtp.Error as exc:",
    ):
        assert line in source, line
    assert "self._queue.put_nowait((data, component))" in inspect.getsource(
        aioice.ice.Connection.data_received
    )
    assert "self._connection = " in inspect.getsource(RTCIceTransport.__init__)


def test_inbound_check_fails_loudly_when_aiortc_moves(monkeypatch: pytest.MonkeyPatch) -> None:
    async def elsewhere(self: object) -> None:
        return None

    monkeypatch.setattr(RTCDtlsTransport, "_recv_next", elsewhere)
    with pytest.raises(RuntimeError, match=r"aiortc private seam moved: .*_recv_next"):
        check_inbound_seam()


async def test_received_srtp_skips_the_queue_and_arrives_in_order() -> None:
    """Real peers over loopback: once connected, every RTP/RTCP packet is handled in the
    datagram callback (none is queued), the transport still counts them, and the tones
    and RTCP (receiver reports) still flow."""
    async with peer_pair({"audio_source": ToneSource(440)}, {"audio_source": ToneSource(880)}) as (
        a,
        b,
    ):
        await asyncio.gather(a.wait_connected(5), b.wait_connected(5))
        dtls = b.pc.getTransceivers()[0].receiver.transport
        connection = dtls.transport._connection
        assert direct_handler(connection) is not None
        queued: list[bytes] = []
        original = connection.data_received

        def spy(data: bytes, component: int) -> None:
            queued.append(data)
            original(data, component)

        connection.data_received = spy  # type: ignore[method-assign]
        before = dtls._RTCDtlsTransport__rx_packets  # type: ignore[attr-defined]
        track = b.decoded_track("audio")
        for _ in range(25):
            await asyncio.wait_for(track.recv(), 2)
        after = dtls._RTCDtlsTransport__rx_packets  # type: ignore[attr-defined]
        # Receiver reports go out every 0.5-1.5 s.
        for _ in range(40):
            stats = await b.pc.getStats()
            if any(s.type == "remote-inbound-rtp" for s in stats.values()):
                break
            await asyncio.sleep(0.1)
    assert after - before >= 20
    assert not [d for d in queued if 127 < d[0] < 192]
    inbound = [s for s in stats.values() if s.type == "inbound-rtp"]
    assert inbound and inbound[0].packetsReceived > 20
    remote = [s for s in stats.values() if s.type == "remote-inbound-rtp"]
    assert remote  # b's sender heard a's receiver reports: RTCP came in the direct way


async def test_a_handler_that_suspends_is_finished_in_an_owned_task(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """aiortc's handlers never suspend today; if one does, it still runs to its end, in a
    task of the owner's set, with what it awaited (results and errors) as a Task gives it."""
    steps: list[object] = []
    loop = asyncio.get_running_loop()
    answer: asyncio.Future[str] = loop.create_future()
    failing: asyncio.Future[str] = loop.create_future()

    async def handler() -> None:
        steps.append("start")
        steps.append(await answer)  # waits on a future, gets its result
        await asyncio.sleep(0)  # a bare yield
        try:
            await failing
        except KeyError as exc:
            steps.append(f"caught {exc}")
        steps.append("end")
        raise ValueError("a bug in a handler")

    tasks = inbound.HandlerTasks()
    inbound._finish(handler(), inbound.FailureLog(), tasks)
    assert steps == ["start"] and len(tasks) == 1
    loop.call_later(0.01, answer.set_result, "woke")
    loop.call_later(0.02, failing.set_exception, KeyError("k"))
    await asyncio.sleep(0.1)
    assert steps == ["start", "woke", "caught 'k'", "end"]
    assert "handling a received SRTP packet failed (1 so far)" in caplog.text
    assert len(tasks) == 0  # done: out of the set
    await tasks.aclose()


async def test_closing_the_owner_cancels_a_handler_still_suspended() -> None:
    steps: list[str] = []

    async def handler() -> None:
        steps.append("start")
        try:
            await asyncio.Event().wait()  # never set
        except asyncio.CancelledError:
            steps.append("cancelled")
            raise

    tasks = inbound.HandlerTasks()
    inbound._finish(handler(), inbound.FailureLog(), tasks)
    await asyncio.sleep(0)
    assert len(tasks) == 1
    await tasks.aclose()
    assert steps == ["start", "cancelled"] and len(tasks) == 0
    # A packet after close starts no task: nothing would cancel it any more.
    inbound._finish(handler(), inbound.FailureLog(), tasks)
    assert steps == ["start", "cancelled", "start"] and len(tasks) == 0


async def test_closing_a_peer_cancels_its_suspended_packet_handlers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Real peers over loopback with aiortc's RTP handler replaced by one that suspends
    forever: closing the peers cancels every such handler and awaits it."""
    started = 0
    cancelled = 0

    async def suspending(self: RTCDtlsTransport, data: bytes, arrival_time_ms: int) -> None:
        nonlocal started, cancelled
        started += 1
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled += 1
            raise

    async with peer_pair({"audio_source": ToneSource(440)}, {"audio_source": ToneSource(880)}) as (
        a,
        b,
    ):
        monkeypatch.setattr(RTCDtlsTransport, "_handle_rtp_data", suspending)
        for _ in range(100):
            if started >= 10:
                break
            await asyncio.sleep(0.05)
        assert started >= 10
        peers = (a, b)
    assert cancelled == started
    assert [len(p._handlers) for p in peers] == [0, 0]


def test_a_handler_failing_on_every_packet_is_logged_once_per_thousand(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def broken() -> None:
        raise ValueError("a bug in a handler")

    failures = inbound.FailureLog()
    tasks = inbound.HandlerTasks()
    for _ in range(2500):
        inbound._finish(broken(), failures, tasks)
    assert len(tasks) == 0
    lines = [r.getMessage() for r in caplog.records]
    assert lines == [
        "handling a received SRTP packet failed (1 so far)",
        "handling a received SRTP packet failed (1000 so far)",
        "handling a received SRTP packet failed (2000 so far)",
    ]


def test_the_compact_rate_counter_replaces_aiortcs() -> None:
    from aiortc import rate

    ratecounter.install_compact_rate_counter()
    ratecounter.install_compact_rate_counter()  # idempotent
    assert getattr(rate, "RateCounter") is ratecounter.CompactRateCounter  # noqa: B009
    counter = rate.RemoteBitrateEstimator().incoming_bitrate
    assert isinstance(counter, ratecounter.CompactRateCounter)
    ratecounter.check_rate_counter_seam()


def test_rate_counter_check_fails_loudly_when_aiortc_moves(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from aiortc import rate

    monkeypatch.setattr(ratecounter, "_original", [])
    monkeypatch.delattr(rate, "RateCounter")
    with pytest.raises(RuntimeError, match=r"aiortc private seam moved: .*RateCounter is gone"):
        ratecounter.check_rate_counter_seam()
