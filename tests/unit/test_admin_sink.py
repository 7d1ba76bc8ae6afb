"""The event-sink receiver: v1/v2 envelopes single and bulk, deduplication by node and
sequence, gaps (also across a receiver restart, from its JSONL file), late arrivals, bad
input answered with a reason, Basic auth, counters. The end-to-end test against the local
node's emitter is in tests/e2e/test_event_sink.py."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from agent.admin import (
    ConferenceEvent,
    EventSinkReceiver,
    MediaStreamWindowEvent,
    ParticipantEvent,
    SequenceTracker,
    SinkEvent,
    UnknownSinkEvent,
    parse_event,
)

# From the event-sink documentation's examples (v1 capture and v2).
V1_CONNECTED = {
    "node": "10.44.99.2",
    "seq": 2,
    "version": 1,
    "time": 1559897800.1,
    "event": "participant_connected",
    "data": {
        "uuid": "a0ed2c58-f45b-4d96-a1cb-89812ec938ea",
        "conference": "meet.alice",
        "display_name": "Alice",
        "service_type": "connecting",
        "vendor": "TANDBERG (Tandberg 257)",
        "connect_time": 1559897800.0,
        "rx_bandwidth": "",
    },
}
V2_WINDOW = {
    "node": "10.0.1.52",
    "seq": 29,
    "version": 2,
    "time": 1603188859.437286,
    "event": "participant_media_stream_window",
    "data": {
        "uuid": "c0548ea2",
        "call_quality_was": "1_good",
        "call_quality_now": "3_bad",
        "packet_loss_history": [{"stream_id": "0", "stream_type": "audio", "rx_packets_lost": 58}],
        "recent_quality": [{"time": 1603188859.4, "quality": 3, "audio": 3, "video": 3}],
    },
}


def event(
    node: str, seq: int, name: str = "conference_updated", t: float | None = None
) -> dict[str, Any]:
    return {
        "node": node,
        "seq": seq,
        "version": 2,
        "time": t if t is not None else 1000.0 + seq,
        "event": name,
        "data": {"name": "meet", "start_time": 999.5, "is_started": True},
    }


class Posts:
    def __init__(self, receiver: EventSinkReceiver, http: aiohttp.ClientSession) -> None:
        self.receiver = receiver
        self.http = http

    async def __call__(self, body: Any, headers: dict[str, str] | None = None) -> tuple[int, Any]:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        async with self.http.post(self.receiver.url, data=data, headers=headers) as resp:
            return resp.status, await resp.json(content_type=None) if resp.status != 401 else None


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def test_typed_events() -> None:
    connected = parse_event(V1_CONNECTED)
    assert isinstance(connected, ParticipantEvent)
    assert connected.data.display_name == "Alice" and connected.data.rx_bandwidth is None
    assert connected.data.unknown_fields == {"vendor": "TANDBERG (Tandberg 257)"}
    window = parse_event(V2_WINDOW)
    assert isinstance(window, MediaStreamWindowEvent) and window.data.quality_now == 3
    other = parse_event({**V2_WINDOW, "event": "participant_teleported", "data": [1]})
    assert isinstance(other, UnknownSinkEvent) and other.data == [1]
    assert isinstance(parse_event(event("n", 1)), ConferenceEvent)


async def test_single_and_bulk_dedup_gaps_and_late(
    http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    got: list[SinkEvent] = []
    jsonl = tmp_path / "events.jsonl"
    async with EventSinkReceiver(jsonl=jsonl) as receiver:
        receiver.add_handler(got.append)
        post = Posts(receiver, http)
        assert (await post(event("A", 1, "eventsink_started")))[0] == 200
        await post(event("A", 2))
        await post(event("A", 2))  # a retried POST
        bulk = {"event": "eventsink_bulk", "node": "127.0.0.1", "seq": 0, "version": 2,
                "time": 5.0, "data": [event("A", 3), event("A", 6), event("B", 1)]}  # fmt: skip
        assert (await post(bulk))[0] == 200
        await post(event("A", 4))  # late: fills part of the gap
        await post([event("A", 7), event("B", 2)])  # a plain list is accepted too
    c = receiver.counters
    assert (c.received, c.delivered, c.duplicates, c.late, c.bulk_posts) == (9, 8, 1, 1, 1)
    ((gap),) = c.gaps
    assert (gap.node, gap.first, gap.last, gap.count) == ("A", 4, 5, 2)
    assert c.missing == 1  # 5 never came
    assert c.last_seq == {"A": 7, "B": 2}
    assert [(e.node, e.seq) for e in got] == [
        ("A", 1), ("A", 2), ("A", 3), ("A", 6), ("B", 1), ("A", 4), ("A", 7), ("B", 2),
    ]  # fmt: skip
    lines = [json.loads(line) for line in jsonl.read_text().splitlines()]
    assert [(x["node"], x["seq"]) for x in lines] == [(e.node, e.seq) for e in got]


async def test_restarted_receiver_reports_what_it_missed(
    http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    jsonl = tmp_path / "events.jsonl"
    async with EventSinkReceiver(jsonl=jsonl) as first:
        post = Posts(first, http)
        for seq in (1, 2, 3):
            await post(event("A", seq))
    async with EventSinkReceiver(jsonl=jsonl, resume=True) as second:
        await Posts(second, http)(event("A", 7))
    ((gap),) = second.counters.gaps
    assert (gap.first, gap.last, gap.reason) == (4, 6, "missing between events")
    async with EventSinkReceiver() as fresh:  # no file: everything before is unknown
        await Posts(fresh, http)(event("A", 9))
    ((gap),) = fresh.counters.gaps
    assert (gap.first, gap.last, gap.reason) == (1, 8, "before the first event received")


def test_sequence_restart_of_the_node() -> None:
    tracker = SequenceTracker()
    for seq in (1, 2, 3):
        assert tracker.judge("A", seq, 100.0 + seq) == ("new", None)
    assert tracker.judge("A", 1, 100.0 + 1) == ("duplicate", None)
    # The node's sink restarted: 1 again, with a new time.
    assert tracker.judge("A", 1, 500.0) == ("new", None)
    assert tracker.judge("A", 2, 501.0) == ("new", None)


async def test_bad_input_and_auth(http: aiohttp.ClientSession) -> None:
    async with EventSinkReceiver(username="pexip", password="sink-secret") as receiver:
        post = Posts(receiver, http)
        status, _ = await post(event("A", 1))
        assert status == 401
        good = {"Authorization": "Basic " + base64.b64encode(b"pexip:sink-secret").decode()}
        status, body = await post(b"{not json", good)
        assert status == 400 and body["error"].startswith("not an event:")
        status, body = await post({"node": "A", "seq": "x", "event": "participant_updated",
                                   "data": {}}, good)  # fmt: skip
        assert status == 400
        assert body["error"].startswith("participant_updated: seq: Input should be a valid")
        status, body = await post({"event": "eventsink_bulk", "data": {}}, good)
        assert status == 400 and "data must be a list" in body["error"]
        status, body = await post([event("A", 1), {"seq": 2}], good)
        assert status == 200 and body["rejected"] == 1
        async with http.get(receiver.url + "counters", headers=good) as resp:
            counters = await resp.json()
        assert counters["delivered"] == 1 and counters["invalid"] == 4
        assert counters["unauthorized"] == 1


async def test_a_failing_handler_does_not_stop_the_others(http: aiohttp.ClientSession) -> None:
    got: list[int] = []

    def broken(item: SinkEvent) -> None:
        raise RuntimeError("boom")

    async def fine(item: SinkEvent) -> None:
        got.append(item.seq)

    async with EventSinkReceiver() as receiver:
        receiver.add_handler(broken)
        receiver.add_handler(fine)
        await Posts(receiver, http)(event("A", 1))
    assert got == [1] and receiver.counters.handler_errors == 1
