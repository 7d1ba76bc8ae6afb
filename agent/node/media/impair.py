"""Media impairment: packet loss (random, bursty or even), jitter, added delay and a
bandwidth cap, applied to the real SRTP/SRTCP datagrams of the node's calls, per
participant and direction, so a client's WebRTC stack sees real loss, late packets and
queueing.

Directions are named from the node, as the management API names its figures: `rx` is what
the node receives from the participant (its `rx_packet_loss`), `tx` what the node sends to
it (the participant's receive side).

Where: every datagram of a call passes aiortc's `RTCIceTransport._send` / `._recv` (bound
aioice methods the DTLS transport calls for DTLS, SRTP and SRTCP). `attach` replaces those
two attributes on the node's transports with impairing versions. STUN checks go through
aioice directly and DTLS records (first byte 20-63) pass untouched, so calls still set up
under 100 % loss; only SRTP/SRTCP (first byte 128-191) is impaired. The seam is private
(pinned with aiortc 1.16.*); `check_impair_seam` fails loudly if it moves.

The knobs (`DirectionImpairment`, all per direction):

- `loss` percent of packets dropped. `loss_model`: `random` (each packet independently),
  `burst` (a two-state Gilbert model: losses come in runs of `burst` packets on average,
  at the same overall rate), `even` (exactly `loss` per 100 packets of each RTP stream,
  spread evenly from a random start, so any run of W packets loses W x `loss` / 100
  rounded down or up: for tests and demos that need the figure, not a roll of the dice,
  in every 20 s quality window too, however few packets a starved sender got out).
- `delay` ms added to every packet.
- `jitter` ms: each packet also waits an exponentially distributed extra time with mean
  `jitter`, and never overtakes an earlier one (one path, one queue). RFC 3550's estimator
  then reads about `jitter` on 15 fps video but at most about twice the packet spacing on
  20 ms audio (an order-keeping path cannot make consecutive audio packets differ more).
- `bandwidth` kbit/s: packets are serialized at that rate; a packet that would wait more
  than `queue` ms is dropped (tail drop).

Each participant's settings come from, in order: a live per-participant override (the
control API, by participant uuid), `participants` by display name, then `all`. A `seed`
makes the dice repeatable.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import random
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiortc.rtcicetransport import RTCIceTransport
from aiortc.rtp import is_rtcp

from ..impair_config import DirectionImpairment, ImpairmentConfig, ParticipantImpairment

__all__ = [
    "DirectionImpairment",
    "ImpairmentConfig",
    "Impairments",
    "LinkCounters",
    "ParticipantImpairment",
    "check_impair_seam",
]


def check_impair_seam(transport: RTCIceTransport | None = None) -> None:
    """Raise RuntimeError if aiortc no longer sends and receives through
    `RTCIceTransport._send` / `._recv`."""
    from aiortc.rtcdtlstransport import RTCDtlsTransport  # noqa: PLC0415

    problems = []
    for method in ("_send_rtp", "_recv_next", "_write_ssl"):
        names = getattr(getattr(RTCDtlsTransport, method, None), "__code__", None)
        if names is None or not {"_send", "_recv"} & set(names.co_names):
            problems.append(f"RTCDtlsTransport.{method} no longer uses transport._send/_recv")
    if transport is not None and not (
        callable(getattr(transport, "_send", None)) and callable(getattr(transport, "_recv", None))
    ):
        problems.append("RTCIceTransport has no _send/_recv")
    if problems:
        raise RuntimeError("aiortc private seam moved: " + "; ".join(problems))


def _is_srtp(data: bytes) -> bool:
    return len(data) >= 12 and 127 < data[0] < 192


def _ssrc(data: bytes) -> int:
    # RTCP carries the sender's SSRC at 4..8, RTP at 8..12 (both outside SRTP encryption).
    start = 4 if is_rtcp(data) else 8
    return int.from_bytes(data[start : start + 4], "big")


@dataclass
class LinkCounters:
    """What one direction of one participant's link did."""

    packets: int = 0  # SRTP/SRTCP datagrams seen
    lost: int = 0  # dropped by the loss model
    queue_drops: int = 0  # dropped at the bandwidth cap
    delayed: int = 0  # held before delivery
    # Summed over the held packets: how long after their due time they went out. The
    # node's own lateness (its process starved), on top of the configured delay/jitter.
    late_ms: int = 0


class _LinkState:
    """The dice, the queue and the order of one direction: decides each packet's fate."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.counters = LinkCounters()
        self._bad = False  # Gilbert state
        self._even: dict[int, tuple[int, float]] = {}  # ssrc -> (packets, phase)
        self._free_at = 0.0  # the capped link is busy until then
        self._last_due = 0.0  # delivery times never go backwards: one path keeps order

    def _lost(self, knobs: DirectionImpairment, data: bytes) -> bool:
        p = knobs.loss / 100
        if p <= 0:
            return False
        if knobs.loss_model == "random":
            return self.rng.random() < p
        if knobs.loss_model == "burst":
            lost = self._bad or p >= 1
            enter = min(1.0, p / (knobs.burst * (1 - p))) if p < 1 else 1.0
            self._bad = self.rng.random() < (1 - 1 / knobs.burst if self._bad else enter)
            return lost
        ssrc = _ssrc(data)
        count, phase = self._even.get(ssrc) or (0, self.rng.random())
        self._even[ssrc] = (count + 1, phase)
        # A drop each time the running share p x packets passes a whole packet: one every
        # 1/p packets. Random places in each run of 100 (the old way) let a window of 190
        # packets at 0.5 % lose 2 (1.05 %: another class); this way it loses 0 or 1.
        return math.floor((count + 1) * p + phase) > math.floor(count * p + phase)

    def admit(self, knobs: DirectionImpairment, data: bytes, now: float) -> float | None:
        """Delivery time of `data` (loop time), or None when it is dropped."""
        self.counters.packets += 1
        if self._lost(knobs, data):
            self.counters.lost += 1
            return None
        due = now
        if knobs.bandwidth is not None:
            start = max(now, self._free_at)
            if start - now > knobs.queue / 1000:
                self.counters.queue_drops += 1
                return None
            self._free_at = start + len(data) * 8 / (knobs.bandwidth * 1000)
            due = self._free_at
        due += knobs.delay / 1000
        if knobs.jitter:
            due += self.rng.expovariate(1000 / knobs.jitter)
        due = max(due, self._last_due)
        self._last_due = due
        return due


Send = Callable[[bytes], Awaitable[None]]
Recv = Callable[[], Awaitable[bytes]]
Settings = Callable[[], "ParticipantImpairment"]


class _Delayed:
    """Datagrams held until their delivery time (in order: times never go backwards)."""

    def __init__(
        self, deliver: Callable[[bytes], Awaitable[None] | None], counters: LinkCounters
    ) -> None:
        self._deliver = deliver
        self._counters = counters
        self._late = 0.0
        self.queue: deque[tuple[float, bytes]] = deque()
        self._wake = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    def put(self, due: float, data: bytes, name: str) -> None:
        self.queue.append((due, data))
        self._wake.set()
        if self.task is None:
            self.task = asyncio.create_task(self._run(), name=name)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            if not self.queue:
                self._wake.clear()
                await self._wake.wait()
                continue
            due, data = self.queue[0]
            wait = due - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
                continue
            self.queue.popleft()
            before = round(self._late * 1000)
            self._late -= wait  # wait <= 0: how far past its due time
            self._counters.late_ms += round(self._late * 1000) - before
            result = self._deliver(data)
            if result is not None:
                with contextlib.suppress(ConnectionError):
                    await result


class _ImpairedTransport:
    """The impairing `_send`/`_recv` of one ICE transport."""

    def __init__(self, transport: Any, tx: _LinkState, rx: _LinkState, settings: Settings) -> None:
        self._send: Send = transport._send
        self._recv: Recv = transport._recv
        self._tx, self._rx, self._settings = tx, rx, settings
        self._loop = asyncio.get_running_loop()
        self._out: asyncio.Queue[bytes | BaseException] = asyncio.Queue()
        self._tx_held = _Delayed(self._send, tx.counters)
        self._rx_held = _Delayed(self._out.put_nowait, rx.counters)
        self._pump: asyncio.Task[None] | None = None
        transport._send = self.send
        transport._recv = self.recv

    async def send(self, data: bytes) -> None:
        """Node -> participant."""
        knobs = self._settings().tx
        held = self._tx_held.queue
        if not _is_srtp(data) or not (knobs.active or held):
            await self._send(data)
            return
        now = self._loop.time()
        due = self._tx.admit(knobs, data, now)
        if due is None:
            return
        if due <= now and not held:
            await self._send(data)
            return
        self._tx.counters.delayed += 1
        self._tx_held.put(due, data, "impair-tx")

    async def recv(self) -> bytes:
        """Participant -> node."""
        if self._pump is None:
            # Started by the first read: aioice refuses reads before ICE has connected.
            self._pump = asyncio.create_task(self._run_pump(), name="impair-rx-pump")
        item = await self._out.get()
        if isinstance(item, BaseException):
            self._out.put_nowait(item)  # every later read fails the same way
            raise item
        return item

    async def _run_pump(self) -> None:
        try:
            while True:
                data = await self._recv()
                knobs = self._settings().rx
                held = self._rx_held.queue
                if not _is_srtp(data) or not (knobs.active or held):
                    self._out.put_nowait(data)
                    continue
                now = self._loop.time()
                due = self._rx.admit(knobs, data, now)
                if due is None:
                    continue
                if due <= now and not held:
                    self._out.put_nowait(data)
                    continue
                self._rx.counters.delayed += 1
                self._rx_held.put(due, data, "impair-rx")
        except ConnectionError as exc:
            self._out.put_nowait(exc)

    async def close(self) -> None:
        tasks = [t for t in (self._pump, self._tx_held.task, self._rx_held.task) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


@dataclass(eq=False)
class _Attached:
    participant_uuid: str
    display_name: Callable[[], str]
    tx: _LinkState
    rx: _LinkState
    transports: dict[int, _ImpairedTransport] = field(default_factory=dict)


def _ice_transports(pc: Any) -> list[Any]:
    found: list[Any] = []
    dtls = [t.receiver.transport for t in pc.getTransceivers()]
    if pc.sctp is not None:
        dtls.append(pc.sctp.transport)
    for transport in dtls:
        ice = getattr(transport, "transport", None)
        if ice is not None and all(ice is not f for f in found):
            found.append(ice)
    return found


class Impairments:
    """The node's live impairment settings and the calls they apply to."""

    def __init__(self, config: ImpairmentConfig) -> None:
        self.config = config
        self._initial = config
        #: participant uuid -> live override (control API)
        self.overrides: dict[str, ParticipantImpairment] = {}
        self._peers: dict[int, tuple[Any, _Attached]] = {}  # id(pc) -> (pc, attached)
        self._candidates: dict[int, tuple[Any, str, Callable[[], str]]] = {}
        self._closed: deque[_Attached] = deque(maxlen=1000)  # counters of calls that ended

    # -- settings ------------------------------------------------------------------------

    def settings_for(self, participant_uuid: str, display_name: str) -> ParticipantImpairment:
        found = self.overrides.get(participant_uuid)
        if found is None:
            found = self.config.participants.get(display_name, self.config.all)
        return found

    def update(self, patch: dict[str, Any]) -> ImpairmentConfig:
        """Merge a partial `ImpairmentConfig` (top-level keys replace; `participants`
        entries replace, null removes one); `{"reset": true}` first restores the configured
        settings and clears every override. Raises pydantic's ValidationError."""
        if patch.pop("reset", False):
            self.config = self._initial
            self.overrides.clear()
        merged = self.config.model_dump()
        for key, value in patch.items():
            if key == "participants" and isinstance(value, dict):
                for name, entry in value.items():
                    if entry is None:
                        merged["participants"].pop(name, None)
                    else:
                        merged["participants"][name] = entry
            else:
                merged[key] = value
        self.config = ImpairmentConfig.model_validate(merged)
        self._attach_needed()
        return self.config

    def set_participant(self, participant_uuid: str, body: dict[str, Any] | None) -> None:
        """A live override for one participant (None removes it); ValidationError if bad."""
        if body is None:
            self.overrides.pop(participant_uuid, None)
        else:
            self.overrides[participant_uuid] = ParticipantImpairment.model_validate(body)
        self._attach_needed()

    def counters(self) -> dict[str, dict[str, dict[str, int]]]:
        """participant uuid -> {"rx": ..., "tx": ...} of the calls impaired so far."""
        out: dict[str, dict[str, dict[str, int]]] = {}
        every = [*self._closed, *(attached for _pc, attached in self._peers.values())]
        for attached in every:
            entry = out.setdefault(attached.participant_uuid, {"rx": {}, "tx": {}})
            for direction, link in (("rx", attached.rx), ("tx", attached.tx)):
                for key, value in vars(link.counters).items():
                    entry[direction][key] = entry[direction].get(key, 0) + value
        return out

    # -- calls ---------------------------------------------------------------------------

    def track(self, pc: Any, participant_uuid: str, display_name: Callable[[], str]) -> None:
        """A call of `participant_uuid` whose transports exist (after the remote offer):
        impaired now if its settings say so, or as soon as they do."""
        self._candidates[id(pc)] = (pc, participant_uuid, display_name)
        self._attach(pc, participant_uuid, display_name)

    def _attach_needed(self) -> None:
        for pc, uuid, name in list(self._candidates.values()):
            self._attach(pc, uuid, name)

    def _rng(self, participant_uuid: str, direction: str) -> random.Random:
        seed = self.config.seed
        return random.Random(None if seed is None else f"{seed}:{participant_uuid}:{direction}")

    def _attach(self, pc: Any, participant_uuid: str, display_name: Callable[[], str]) -> None:
        existing = self._peers.get(id(pc))
        if existing is None:
            if not self.settings_for(participant_uuid, display_name()).active:
                return
            attached = _Attached(
                participant_uuid,
                display_name,
                tx=_LinkState(self._rng(participant_uuid, "tx")),
                rx=_LinkState(self._rng(participant_uuid, "rx")),
            )
            self._peers[id(pc)] = (pc, attached)
        else:
            attached = existing[1]

        def settings() -> ParticipantImpairment:
            return self.settings_for(attached.participant_uuid, attached.display_name())

        for ice in _ice_transports(pc):
            if id(ice) not in attached.transports:
                check_impair_seam(ice)
                attached.transports[id(ice)] = _ImpairedTransport(
                    ice, attached.tx, attached.rx, settings
                )

    async def forget(self, pc: Any) -> None:
        """The call closed: stop its delivery tasks."""
        self._candidates.pop(id(pc), None)
        found = self._peers.pop(id(pc), None)
        if found is not None:
            self._closed.append(found[1])
            for transport in found[1].transports.values():
                await transport.close()

    async def close(self) -> None:
        for pc, _ in list(self._peers.values()):
            await self.forget(pc)
        self._candidates.clear()
