"""The local node's event-sink emitter against `EventSinkReceiver`: three real bots join
and leave; the receiver gets every lifecycle event once, in order, and media stream
windows while they are in; a receiver restarted mid-way reports the sequence gap."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from agent.admin import (
    EventSinkReceiver,
    ManagementClient,
    MediaStreamWindowEvent,
    ParticipantEvent,
    SinkEvent,
)
from agent.config import parse_config
from agent.node import LocalNode, NodeConfig
from agent.node.admin.admin_state import ADMIN
from agent.runtime.bot import Bot

from .conftest import fast_config


def node_config(url: str, **sink: Any) -> NodeConfig:
    data = fast_config().model_dump()
    data["management"]["event_sinks"] = [
        {"url": url, "version": 2, "window": 1.0, "retries": 2, "retry_delay": 0.05, **sink}
    ]
    return NodeConfig.model_validate(data)


def bot(node: LocalNode, name: str, seconds: float, audio: str = "tone:440") -> Bot:
    config = parse_config(
        {
            "node": node.base_url,
            "alias": "meet",
            "display_name": name,
            "media": {"audio": audio, "video": "none", "receive_audio": False,
                      "receive_video": False},
            "leave": {"duration": seconds, "alone_seconds": None},
        }
    )  # fmt: skip
    return Bot(config, [])


async def until(check: Callable[[], bool], timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not check():
        assert loop.time() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def test_three_bots_lifecycle_in_order_with_windows(tmp_path: Path) -> None:
    got: list[SinkEvent] = []
    async with EventSinkReceiver(jsonl=tmp_path / "sink.jsonl", resume=True) as receiver:
        receiver.add_handler(got.append)
        async with LocalNode(node_config(receiver.url)) as node:
            runs = []
            for i, seconds in enumerate((4.0, 3.5, 3.0)):
                runs.append(asyncio.create_task(bot(node, f"bot{i}", seconds).run()))
                await asyncio.sleep(0.3)
            results = await asyncio.wait_for(asyncio.gather(*runs), 30)
            assert all(r.exit_code == 0 for r in results), results
            await until(lambda: any(e.event == "conference_ended" for e in got))
            # The management API sees the same participants in its history.
            async with ManagementClient(node.base_url, username="admin", password="admin") as api:
                history = {p.id for p in await api.history.participants().all()}
    c = receiver.counters
    assert c.gaps == [] and c.duplicates == 0 and c.invalid == 0
    seqs = [e.seq for e in got]
    assert seqs == list(range(1, len(got) + 1))  # every event once, in order
    assert {e.node for e in got} == {"127.0.0.1"}
    names = Counter(e.event for e in got)
    assert names["eventsink_started"] == 1 and got[0].event == "eventsink_started"
    assert names["conference_started"] == 1 and names["conference_ended"] == 1
    participants = [e for e in got if isinstance(e, ParticipantEvent)]
    connected = [e.data.uuid for e in participants if e.event == "participant_connected"]
    left = [e for e in participants if e.event == "participant_disconnected"]
    assert len(connected) == len(set(connected)) == 3 and set(connected) == history
    assert sorted(e.data.uuid for e in left) == sorted(connected)
    assert all(e.data.disconnect_reason and e.data.duration for e in left)
    assert {e.data.display_name for e in left} == {"bot0", "bot1", "bot2"}
    position = {(e.event, getattr(e.data, "uuid", "")): e.seq for e in got}
    windows = [e for e in got if isinstance(e, MediaStreamWindowEvent)]
    for uuid in connected:
        mine = [w.seq for w in windows if w.data.uuid == uuid]
        assert mine, f"no media stream window for {uuid}"
        assert position[("participant_connected", uuid)] < min(mine)
        assert max(mine) < position[("participant_disconnected", uuid)]
        audio = [h for w in windows if w.data.uuid == uuid for h in w.data.packet_loss_history]
        assert any(h["stream_type"] == "audio" and h["rx_packets_received"] > 0 for h in audio)
    destroyed = [e for e in got if e.event == "participant_media_streams_destroyed"]
    assert len(destroyed) == 3
    first_conf = position[("conference_started", "")]
    assert first_conf < min(position[("participant_connected", u)] for u in connected)
    assert position[("conference_ended", "")] > max(e.seq for e in left)


async def test_receiver_restarted_mid_way_reports_the_gap(tmp_path: Path) -> None:
    jsonl = tmp_path / "sink.jsonl"
    first = EventSinkReceiver(jsonl=jsonl)
    await first.start()
    port = first.port
    async with LocalNode(node_config(first.url, retries=1)) as node:
        emitter = node._runner.app[ADMIN].sinks[0]  # type: ignore[union-attr]
        await bot(node, "early", 0.5, audio="none").run()
        await until(lambda: first.counters.delivered == emitter.seq)
        await first.stop()
        # While the receiver is down: events are retried, then dropped with an alarm.
        await bot(node, "unseen", 0.5, audio="none").run()
        await until(lambda: emitter.dropped > 0 and not emitter.queue)
        assert node._runner.app[ADMIN].alarms.raised  # type: ignore[union-attr]
        dropped_from, dropped = first.counters.last_seq["127.0.0.1"] + 1, emitter.dropped
        second = EventSinkReceiver(port=port, jsonl=jsonl, resume=True)
        async with second:
            await bot(node, "late", 0.5, audio="none").run()
            await until(lambda: second.counters.last_seq.get("127.0.0.1") == emitter.seq)
        assert not node._runner.app[ADMIN].alarms.raised  # type: ignore[union-attr]
    ((gap),) = second.counters.gaps
    assert (gap.first, gap.count) == (dropped_from, dropped)
    assert gap.reason == "missing between events"


async def test_bulk_delivery_keeps_the_sequence() -> None:
    got: list[SinkEvent] = []
    async with EventSinkReceiver() as receiver:
        receiver.add_handler(got.append)
        config = node_config(receiver.url, bulk=True, bulk_interval=0.2, version=1)
        async with LocalNode(config) as node:
            await bot(node, "batched", 0.5, audio="none").run()
            await until(lambda: any(e.event == "conference_ended" for e in got))
    assert receiver.counters.bulk_posts >= 1 and receiver.counters.gaps == []
    assert [e.seq for e in got] == list(range(1, len(got) + 1))
    (left,) = [e for e in got if e.event == "participant_disconnected"]
    assert isinstance(left, ParticipantEvent) and left.version == 1
    assert left.data.media_streams == []  # v1 carries them here (none: no media)
