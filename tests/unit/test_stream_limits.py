"""Bounded event streams (issue 12, points 3 and 5): the SSE parser caps line and event sizes,
the event stream drops what exceeds them, reconnects with backoff, gives up after a budget,
and a flood of malformed events is a few log lines and a count."""

from __future__ import annotations

import logging
import random
from typing import Any

import pytest

from agent.infinity._sse import MAX_EVENT, MAX_LINE, SseLimitExceeded, SseMessage, SseParser
from agent.infinity.events import EventStream, EventStreamLost, StreamInterrupted, StreamOpened
from agent.infinity.models import events as ev
from tests.support.fakes_events import ALIAS, Conn, FakeTransport, Sleeps, TokenBox, api_for, sse

# --- the parser ---------------------------------------------------------------------------


def test_defaults_are_generous() -> None:
    parser = SseParser()
    assert (parser.max_line, parser.max_event) == (MAX_LINE, MAX_EVENT) == (1 << 20, 4 << 20)
    big = "x" * 900_000
    assert parser.feed(f"data: {big}\n\n".encode()) == [SseMessage("message", big)]


def test_a_line_without_end_is_cut_at_the_cap_and_nothing_is_kept() -> None:
    parser = SseParser(max_line=1000)
    fed = 0
    with pytest.raises(SseLimitExceeded) as err:
        for _ in range(10_000):
            fed += 64
            parser.feed(b"y" * 64)
    assert 1000 < fed <= 1064  # raised as soon as the cap was passed
    assert str(err.value) == "event stream line longer than 1000 characters"
    assert err.value.messages == []
    assert parser._pending == [] and parser._pending_len == 0


def test_one_huge_chunk_with_a_newline_is_caught_too() -> None:
    parser = SseParser(max_line=100)
    with pytest.raises(SseLimitExceeded):
        parser.feed(b"data: " + b"z" * 500 + b"\n\n")
    parser = SseParser(max_line=100)
    with pytest.raises(SseLimitExceeded):
        parser.feed(b"data: ok\n\n" + b"z" * 500)  # the unterminated tail


def test_messages_before_the_overflow_are_handed_over() -> None:
    parser = SseParser(max_line=100)
    with pytest.raises(SseLimitExceeded) as err:
        parser.feed(b"event: a\ndata: 1\n\nevent: b\ndata: 2\n\n: " + b"c" * 200 + b"\n")
    assert err.value.messages == [SseMessage("a", "1"), SseMessage("b", "2")]


def test_an_event_of_many_small_lines_is_capped() -> None:
    parser = SseParser(max_line=100, max_event=1000)
    line = b"data: " + b"d" * 90 + b"\n"
    with pytest.raises(SseLimitExceeded) as err:
        for _ in range(100):
            parser.feed(line)
    assert str(err.value) == "event stream event longer than 1000 characters"
    assert parser._data == [] and parser._data_len == 0


def test_the_event_size_restarts_with_each_event() -> None:
    parser = SseParser(max_line=100, max_event=250)
    out = []
    for i in range(50):
        out += parser.feed(b"data: " + b"e" * 90 + b"\ndata: " + b"e" * 90 + b"\n\n")
        assert len(out) == i + 1


def test_bad_caps() -> None:
    with pytest.raises(ValueError):
        SseParser(max_line=0)
    with pytest.raises(ValueError):
        SseParser(max_event=0)


# --- the event stream ---------------------------------------------------------------------


def stream_for(transport: FakeTransport, sleeps: Sleeps, **kwargs: Any) -> EventStream:
    kwargs.setdefault("rng", random.Random(7))
    return EventStream(api_for(transport), ALIAS, TokenBox(), sleep=sleeps, **kwargs)


async def test_an_oversized_line_is_dropped_and_the_stream_reopened() -> None:
    transport = FakeTransport(
        [
            Conn(chunks=[sse("stage", []), b"data: " + b"x" * 300, b"x" * 300, sse("stage", [])]),
            Conn(chunks=[sse("conference_update", {"locked": True})], then="hang"),
        ]
    )
    sleeps = Sleeps()
    async with stream_for(transport, sleeps, max_line=500, jitter=0) as stream:
        items = [await anext(stream) for _ in range(5)]
        assert stream.oversized == 1
        # The broken connection was closed, its rest never read.
        assert transport.closed_streams == 1
    assert isinstance(items[0], StreamOpened) and isinstance(items[1], ev.Stage)
    assert items[2] == StreamInterrupted(
        reason="event stream line longer than 500 characters", failures=0, retry_in=0.1
    )
    assert items[3] == StreamOpened(attempt=1, connection=2)
    assert isinstance(items[4], ev.ConferenceUpdate)


async def test_a_node_that_only_sends_oversized_events_loses_the_stream() -> None:
    huge = sse("stage", ["x" * 2000])
    transport = FakeTransport([Conn(chunks=[huge]) for _ in range(4)])
    sleeps = Sleeps()
    stream = stream_for(transport, sleeps, max_event=1000, max_attempts=4, jitter=0)
    with pytest.raises(EventStreamLost) as err:
        async for _ in stream:
            pass
    assert str(err.value) == (
        "event stream lost after 4 failed attempt(s): event stream event longer than 1000 "
        "characters"
    )
    # Backing off like failed opens, although every open succeeded.
    assert sleeps.delays == pytest.approx([0.1, 0.2, 0.4])
    assert stream.oversized == 4


async def test_a_malformed_event_flood_is_a_few_lines_and_a_count(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="agent.infinity.events")
    flood = b"".join(sse("participant_delete", {"nope": i}) for i in range(2000))
    transport = FakeTransport([Conn(chunks=[flood], then="hang")])
    async with stream_for(transport, Sleeps()) as stream:
        items = [await anext(stream) for _ in range(2001)]
        assert stream.malformed == 2000
    assert sum(isinstance(i, ev.MalformedEvent) for i in items) == 2000
    lines = [r.getMessage() for r in caplog.records if r.name == "agent.infinity.events"]
    assert len(lines) == 4
    assert lines[-1].startswith("1997 more like this in the last ")
    assert "participant_delete" in lines[-1]
