"""The node's media impairment: the loss models, delay and jitter, the bandwidth cap, the
transport wrapper (datagrams in and out, DTLS untouched) and the live settings."""

from __future__ import annotations

import asyncio
import itertools
import math
import random
import statistics
import struct
import time
from typing import Any

import pytest
from aiortc import RTCPeerConnection
from pydantic import ValidationError

from agent.node.config import NodeConfig
from agent.node.impair_config import DirectionImpairment, ImpairmentConfig
from agent.node.media.impair import (
    Impairments,
    _ImpairedTransport,
    _LinkState,
    check_impair_seam,
)


def rtp(seq: int, ssrc: int = 1111, size: int = 200) -> bytes:
    header = struct.pack("!BBHII", 0x80, 111, seq & 0xFFFF, seq * 960, ssrc)
    return header + bytes(size - len(header))


def rtcp(ssrc: int = 1111) -> bytes:
    return struct.pack("!BBHI", 0x80, 200, 6, ssrc) + bytes(20)


DTLS = bytes([22, 254, 253]) + bytes(40)


def fates(knobs: DirectionImpairment, packets: list[bytes], seed: int = 1) -> list[float | None]:
    link = _LinkState(random.Random(seed))
    return [link.admit(knobs, p, 0.0) for p in packets]


def test_random_loss_drops_about_the_rate() -> None:
    lost = fates(DirectionImpairment(loss=10), [rtp(i) for i in range(20000)]).count(None)
    assert 1800 <= lost <= 2200


def test_burst_loss_keeps_the_rate_in_runs_of_the_mean_length() -> None:
    out = fates(
        DirectionImpairment(loss=5, loss_model="burst", burst=4), [rtp(i) for i in range(60000)]
    )
    lost = [f is None for f in out]
    assert sum(lost) / len(lost) == pytest.approx(0.05, abs=0.01)
    runs, run = [], 0
    for gone in lost:
        if gone:
            run += 1
        elif run:
            runs.append(run)
            run = 0
    assert statistics.mean(runs) == pytest.approx(4, rel=0.15)


@pytest.mark.parametrize(("loss", "per_1000"), [(2, 20), (0.5, 5), (15, 150)])
def test_even_loss_is_exact_per_stream(loss: float, per_1000: int) -> None:
    knobs = DirectionImpairment(loss=loss, loss_model="even")
    # Two streams interleaved: each loses exactly its share, whatever the other does.
    packets = [rtp(i, ssrc=1 + i % 2) for i in range(4000)]
    out = fates(knobs, packets)
    for ssrc in (1, 2):
        mine = [f for p, f in zip(packets, out, strict=True) if p[8:12] == struct.pack("!I", ssrc)]
        for k in range(2):
            assert mine[k * 1000 : (k + 1) * 1000].count(None) == per_1000


@pytest.mark.parametrize("loss", [0.5, 2, 5, 15])
@pytest.mark.parametrize("window", [120, 189, 300])
def test_even_loss_holds_in_every_window_of_a_stream(loss: float, window: int) -> None:
    # A 20 s quality window of 15 fps video is 150-300 packets (fewer when the sender is
    # starved): each one must show the figure, rounded to a whole packet, not a block's
    # worth more or less.
    knobs = DirectionImpairment(loss=loss, loss_model="even")
    for seed in range(5):
        lost = itertools.accumulate(
            f is None for f in fates(knobs, [rtp(i) for i in range(3000)], seed)
        )
        total = [0, *lost]
        counts = {total[i + window] - total[i] for i in range(len(total) - window)}
        share = window * loss / 100
        assert counts <= {math.floor(share), math.ceil(share)}, (seed, sorted(counts))


def test_delay_and_jitter_keep_packet_order() -> None:
    link = _LinkState(random.Random(3))
    knobs = DirectionImpairment(delay=150, jitter=60)
    dues = [link.admit(knobs, rtp(i), i * 0.02) for i in range(5000)]
    assert all(d is not None for d in dues)
    times = [d for d in dues if d is not None]
    assert times == sorted(times)  # one path: nothing overtakes
    extra = [t - i * 0.02 for i, t in enumerate(times)]
    assert min(extra) >= 0.150
    # Exponential waits of mean 60 ms, then held behind earlier packets: a bit more.
    assert 0.150 + 0.060 <= statistics.mean(extra) <= 0.150 + 0.120


def test_the_bandwidth_cap_serializes_and_drops_beyond_the_queue() -> None:
    link = _LinkState(random.Random(1))
    knobs = DirectionImpairment(bandwidth=800, queue=50)  # 1000-byte packets: 10 ms each
    dues = [link.admit(knobs, rtp(i, size=1000), 0.0) for i in range(10)]
    assert dues[:6] == pytest.approx([0.01 * (i + 1) for i in range(6)])
    assert dues[6:] == [None] * 4  # a 50 ms queue holds 5 waiting packets
    assert link.counters.queue_drops == 4


def test_rtcp_is_impaired_too_and_counted() -> None:
    link = _LinkState(random.Random(1))
    knobs = DirectionImpairment(loss=100)
    assert link.admit(knobs, rtcp(), 0.0) is None
    assert link.counters.packets == link.counters.lost == 1


class FakeIce:
    """What aiortc's DTLS transport sees of an ICE transport: `_send` and `_recv`."""

    def __init__(self) -> None:
        self.sent: list[tuple[float, bytes]] = []
        self.incoming: asyncio.Queue[bytes | Exception] = asyncio.Queue()

    async def _send(self, data: bytes) -> None:
        self.sent.append((asyncio.get_running_loop().time(), data))

    async def _recv(self) -> bytes:
        item = await self.incoming.get()
        if isinstance(item, Exception):
            raise item
        return item


def settings(**knobs: Any) -> Any:
    config = ImpairmentConfig.model_validate({"all": knobs})
    return lambda: config.all


async def test_the_wrapper_drops_delays_and_lets_dtls_through() -> None:
    ice = FakeIce()
    wrapper = _ImpairedTransport(
        ice,
        _LinkState(random.Random(1)),
        _LinkState(random.Random(2)),
        settings(tx={"delay": 80, "loss": 50, "loss_model": "even"}),
    )
    loop = asyncio.get_running_loop()
    start = loop.time()
    await ice._send(DTLS)  # the wrapper replaced _send: DTLS goes out at once
    for i in range(10):
        await ice._send(rtp(i))
    assert [d for _, d in ice.sent] == [DTLS]
    await asyncio.sleep(0.2)
    out = [(t - start, d) for t, d in ice.sent[1:]]
    assert len(out) == 5  # half of them
    assert all(0.075 <= t <= 0.2 for t, _ in out)
    await wrapper.close()


async def test_held_packets_sent_late_by_a_starved_node_are_counted() -> None:
    # The node's own lateness is kept apart from the configured delay: a test can tell
    # the link's 150 ms from what a busy machine added.
    ice = FakeIce()
    tx = _LinkState(random.Random(1))
    wrapper = _ImpairedTransport(ice, tx, _LinkState(random.Random(2)), settings(tx={"delay": 20}))
    for i in range(5):
        await ice._send(rtp(i))
    time.sleep(0.1)  # noqa: ASYNC251 (the process starved: every packet is due long before the loop runs)
    await asyncio.sleep(0.05)
    assert len(ice.sent) == 5 and tx.counters.delayed == 5
    assert tx.counters.late_ms >= 5 * 70
    await wrapper.close()


async def test_the_wrapper_delays_what_the_node_receives_and_passes_errors_on() -> None:
    ice = FakeIce()
    wrapper = _ImpairedTransport(
        ice, _LinkState(random.Random(1)), _LinkState(random.Random(2)), settings(rx={"delay": 60})
    )
    loop = asyncio.get_running_loop()
    for item in (DTLS, rtp(1), rtp(2)):
        ice.incoming.put_nowait(item)
    start = loop.time()
    assert await ice._recv() == DTLS  # not delayed
    assert await ice._recv() == rtp(1)
    assert loop.time() - start >= 0.055
    assert await ice._recv() == rtp(2)
    ice.incoming.put_nowait(ConnectionError("closed"))
    for _ in range(2):  # every later read fails as the transport did
        with pytest.raises(ConnectionError, match="closed"):
            await ice._recv()
    await wrapper.close()


def test_participant_settings_come_from_override_then_name_then_all() -> None:
    impairments = Impairments(
        ImpairmentConfig.model_validate(
            {"all": {"rx": {"loss": 1}}, "participants": {"Probe": {"tx": {"delay": 100}}}}
        )
    )
    assert impairments.settings_for("u1", "Someone").rx.loss == 1
    assert impairments.settings_for("u2", "Probe").tx.delay == 100
    impairments.set_participant("u2", {"rx": {"jitter": 30}})
    assert impairments.settings_for("u2", "Probe").rx.jitter == 30
    impairments.set_participant("u2", None)
    assert impairments.settings_for("u2", "Probe").tx.delay == 100
    impairments.update({"participants": {"Probe": None}, "seed": 7})
    assert impairments.settings_for("u2", "Probe").rx.loss == 1 and impairments.config.seed == 7
    impairments.update({"reset": True})
    assert impairments.config.seed is None and "Probe" in impairments.config.participants


def test_bad_settings_name_the_field() -> None:
    impairments = Impairments(ImpairmentConfig())
    with pytest.raises(ValidationError, match=r"all\.tx\.loss"):
        impairments.update({"all": {"tx": {"loss": 101}}})
    with pytest.raises(ValidationError, match="loss_model"):
        impairments.set_participant("u", {"rx": {"loss_model": "sometimes"}})
    with pytest.raises(ValidationError, match=r"media\.impairment\.all\.rx\.jiter"):
        NodeConfig.model_validate({"media": {"impairment": {"all": {"rx": {"jiter": 5}}}}})


async def test_calls_are_wrapped_only_once_their_settings_impair() -> None:
    pc = RTCPeerConnection()
    pc.addTransceiver("audio")
    await pc.setLocalDescription(await pc.createOffer())  # the transports exist now
    ice = pc.getTransceivers()[0].receiver.transport.transport
    original = ice._send
    impairments = Impairments(ImpairmentConfig())
    impairments.track(pc, "u1", lambda: "Probe")
    assert ice._send == original  # nothing to impair: untouched
    impairments.update({"participants": {"Probe": {"tx": {"loss": 5}}}})
    assert ice._send != original
    check_impair_seam(ice)
    await impairments.forget(pc)
    await pc.close()


def test_the_seam_check_fails_loudly() -> None:
    check_impair_seam()
    with pytest.raises(RuntimeError, match="aiortc private seam moved"):
        check_impair_seam(object())  # type: ignore[arg-type]
