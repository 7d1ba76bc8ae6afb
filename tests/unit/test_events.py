"""Typed event parsing, and the reconnecting event stream against a scripted transport."""

from __future__ import annotations

import asyncio
import json
import logging
import random
from typing import Any

import pytest

from agent.backoff import backoff_delay
from agent.infinity._sse import SseMessage
from agent.infinity.events import (
    EventStream,
    EventStreamLost,
    StreamInterrupted,
    StreamItem,
    StreamOpened,
)
from agent.infinity.models import events as ev
from agent.infinity.models.participant import ParticipantInfo
from tests.support.fakes_events import (
    ALIAS,
    Conn,
    FakeTransport,
    Sleeps,
    TokenBox,
    api_for,
    participant,
    sse,
    sync,
)

# --- typed parsing of every event ---------------------------------------------------------

PARTICIPANT = {
    **participant("p-1", display_name="Alice", role="chair", is_muted="YES"),
    "brand_new_field": {"nested": True},
}

# (event name, payload, expected class, expected attribute values)
CASES: list[tuple[str, Any, type[Any], dict[str, Any]]] = [
    ("participant_sync_begin", None, ev.ParticipantSyncBegin, {}),
    ("participant_sync_end", None, ev.ParticipantSyncEnd, {}),
    ("participant_create", PARTICIPANT, ev.ParticipantCreate, {}),
    ("participant_update", PARTICIPANT, ev.ParticipantUpdate, {}),
    ("participant_delete", {"uuid": "p-1"}, ev.ParticipantDelete, {"uuid": "p-1"}),
    (
        "conference_update",
        {"locked": True, "guests_muted": False, "started": True, "end_action": "disconnect"},
        ev.ConferenceUpdate,
        {"locked": True, "guests_muted": False, "started": True, "end_action": "disconnect"},
    ),
    (
        "message_received",
        {"origin": "Bob", "uuid": "p-2", "type": "text/plain", "payload": "hi", "direct": True},
        ev.MessageReceived,
        {"origin": "Bob", "uuid": "p-2", "payload": "hi", "direct": True, "is_text": True},
    ),
    (
        "message",
        {"origin": "Bob", "uuid": "p-2", "type": "application/json", "payload": '{"a": 1}'},
        ev.Message,
        {"origin": "Bob", "is_text": False, "direct": None},
    ),
    (
        "stage",
        [{"participant_uuid": "p-1", "stage_index": 0, "vad": 100}],
        ev.Stage,
        {"speakers": (ev.StageEntry(participant_uuid="p-1", stage_index=0, vad=100),)},
    ),
    (
        "layout",
        {
            "view": "1:7",
            "participants": ["p-1", "p-2"],
            "requested_layout": {"primary_screen": {"chair_layout": "ac", "guest_layout": "1:7"}},
            "overlay_text_enabled": True,
        },
        ev.Layout,
        {"view": "1:7", "participants": ("p-1", "p-2"), "overlay_text_enabled": True},
    ),
    (
        "presentation_start",
        {"presenter_name": "Bob", "presenter_uri": "bob@x", "presenter_uuid": "p-2"},
        ev.PresentationStart,
        {"presenter_name": "Bob", "presenter_uuid": "p-2", "revoked": False},
    ),
    ("presentation_stop", None, ev.PresentationStop, {}),
    ("presentation_ended", None, ev.PresentationEnded, {}),
    ("presentation_frame", None, ev.PresentationFrame, {"frame_id": None}),
    (
        "call_disconnected",
        {"call_uuid": "c-1", "reason": "Call disconnected"},
        ev.CallDisconnected,
        {"call_uuid": "c-1", "reason": "Call disconnected"},
    ),
    (
        "disconnect",
        {"reason": "Disconnected by an administrator"},
        ev.Disconnect,
        {"reason": "Disconnected by an administrator", "code": "pex123"},
    ),
    (
        "refer",
        {"alias": "room2", "token": "one-time", "breakout_name": "B", "target": "breakout"},
        ev.Refer,
        {"alias": "room2", "token": "one-time", "target": "breakout"},
    ),
    ("cancel_refer", {"alias": "room2"}, ev.CancelRefer, {"model_extra": {"alias": "room2"}}),
    ("on_hold", True, ev.OnHold, {"on_hold": True}),
    (
        "fecc",
        {"action": "start", "movement": [{"axis": "pan", "direction": "left"}], "timeout": 1000},
        ev.Fecc,
        {
            "action": "start",
            "movement": (ev.FeccMovement(axis="pan", direction="left"),),
            "timeout": 1000,
        },
    ),
    ("refresh_token", None, ev.RefreshToken, {}),
    (
        "live_captions",
        {"data": "hello", "is_final": True, "src_lang": "en", "sources": []},
        ev.LiveCaptions,
        {"data": "hello", "is_final": True, "src_lang": "en", "sources": ()},
    ),
    ("peer_disconnect", None, ev.PeerDisconnect, {}),
    ("new_offer", {"sdp": "v=0\r\n"}, ev.NewOffer, {"sdp": "v=0\r\n"}),
    ("update_sdp", {"sdp": "v=0\r\n"}, ev.UpdateSdp, {"sdp": "v=0\r\n"}),
    (
        "new_candidate",
        {"candidate": "candidate:1 1 udp 1 127.0.0.1 5000 typ host", "mid": "0", "ufrag": "u"},
        ev.NewCandidate,
        {"mid": "0", "ufrag": "u"},
    ),
    (
        "splash_screen",
        {"screen_key": "direct_media_welcome", "display_duration": 5},
        ev.SplashScreen,
        {"screen_key": "direct_media_welcome", "display_duration": 5.0},
    ),
    (
        "breakout_begin",
        {"breakout_uuid": "b-1", "participant_uuid": "p-1"},
        ev.BreakoutBegin,
        {"breakout_uuid": "b-1", "participant_uuid": "p-1"},
    ),
    (
        "breakout_end",
        {"breakout_uuid": "b-1", "participant_uuid": "p-1"},
        ev.BreakoutEnd,
        {"breakout_uuid": "b-1", "participant_uuid": "p-1"},
    ),
    (
        "breakout_event",
        {"breakout_uuid": "b-1", "event": "participant_delete", "data": {"uuid": "p-9"}},
        ev.BreakoutEvent,
        {"breakout_uuid": "b-1", "event": "participant_delete"},
    ),
    (
        "breakout_refer",
        {"breakout_uuid": "b-1", "breakout_name": "Room 1", "requester_uuid": "p-1"},
        ev.BreakoutRefer,
        {"breakout_uuid": "b-1", "breakout_name": "Room 1", "requester_uuid": "p-1"},
    ),
]

# Every event named in the client-api-v2 facts note, section 4.
NOTE_EVENTS = {
    "participant_sync_begin", "participant_sync_end", "participant_create",
    "participant_update", "participant_delete", "conference_update", "message_received",
    "message", "stage", "layout", "presentation_start", "presentation_stop",
    "presentation_ended", "presentation_frame", "call_disconnected", "disconnect", "refer",
    "cancel_refer", "on_hold", "fecc", "refresh_token", "live_captions", "peer_disconnect",
    "new_offer", "update_sdp", "new_candidate", "splash_screen", "breakout_begin",
    "breakout_end", "breakout_event", "breakout_refer",
}  # fmt: skip


def test_every_documented_event_is_typed_and_tested() -> None:
    assert set(ev.EVENT_TYPES) == NOTE_EVENTS
    assert {name for name, *_ in CASES} == NOTE_EVENTS
    for name, cls in ev.EVENT_TYPES.items():
        assert cls.name == name


@pytest.mark.parametrize(("name", "payload", "cls", "attrs"), CASES, ids=[c[0] for c in CASES])
def test_typed_parsing(name: str, payload: Any, cls: type[Any], attrs: dict[str, Any]) -> None:
    event = ev.parse_event(SseMessage(name, json.dumps(payload)))
    assert type(event) is cls
    assert event.name == name
    for key, value in attrs.items():
        assert getattr(event, key) == value, key


@pytest.mark.parametrize("name", ["participant_create", "participant_update"])
def test_participant_events_carry_a_lenient_participant(name: str) -> None:
    event = ev.parse_event(SseMessage(name, json.dumps(PARTICIPANT)))
    assert isinstance(event, ev.ParticipantCreate | ev.ParticipantUpdate)
    assert event.participant == ParticipantInfo(
        uuid="p-1", display_name="Alice", role="chair", is_muted="YES"
    )
    assert event.participant.muted and event.participant.is_host


def test_message_is_the_old_name_of_message_received() -> None:
    payload = json.dumps({"origin": "A", "uuid": "u", "type": "text/plain", "payload": "x"})
    old = ev.parse_event(SseMessage("message", payload))
    new = ev.parse_event(SseMessage("message_received", payload))
    assert isinstance(old, ev.MessageReceived) and isinstance(new, ev.MessageReceived)
    assert old.model_dump() == new.model_dump()
    app = ev.parse_event(
        SseMessage("message_received", json.dumps({"type": "application/json", "payload": "[1]"}))
    )
    assert isinstance(app, ev.MessageReceived) and app.json_payload() == [1]


def test_presentation_frame_takes_the_sse_id() -> None:
    event = ev.parse_event(SseMessage("presentation_frame", "null", id="42"))
    assert event == ev.PresentationFrame(frame_id="42")


def test_presentation_start_with_empty_presenter_is_revoked() -> None:
    payload = {"presenter_name": "", "presenter_uri": "", "presenter_uuid": ""}
    event = ev.parse_event(SseMessage("presentation_start", json.dumps(payload)))
    assert isinstance(event, ev.PresentationStart) and event.revoked


def test_splash_screen_and_cancel_refer_accept_null() -> None:
    assert ev.parse_event(SseMessage("splash_screen", "null")) == ev.SplashScreen()
    assert ev.parse_event(SseMessage("cancel_refer", " null")) == ev.CancelRefer()
    assert ev.parse_event_data("splash_screen", None) == ev.SplashScreen()
    # Other object events do not.
    assert isinstance(ev.parse_event(SseMessage("disconnect", "null")), ev.MalformedEvent)


@pytest.mark.parametrize("data", ["null", "", "{}", "not json", '{"x": 1}'])
def test_events_without_payload_accept_any_data(data: str) -> None:
    assert type(ev.parse_event(SseMessage("participant_sync_begin", data))) is (
        ev.ParticipantSyncBegin
    )
    assert type(ev.parse_event(SseMessage("refresh_token", data))) is ev.RefreshToken


def test_breakout_event_inner_is_typed() -> None:
    payload = {"breakout_uuid": "b", "event": "participant_create", "data": participant("p-7")}
    event = ev.parse_event(SseMessage("breakout_event", json.dumps(payload)))
    assert isinstance(event, ev.BreakoutEvent)
    inner = event.inner
    assert isinstance(inner, ev.ParticipantCreate) and inner.participant.uuid == "p-7"
    odd = ev.BreakoutEvent(breakout_uuid="b", event="brand_new", data={"k": 1})
    assert odd.inner == ev.RawEvent(name="brand_new", data={"k": 1})
    bad = ev.BreakoutEvent(breakout_uuid="b", event="participant_delete", data={})
    assert isinstance(bad.inner, ev.MalformedEvent)


def test_unknown_event_is_kept_raw() -> None:
    assert ev.parse_event(SseMessage("future_event", '{"a": [1, 2]}')) == ev.RawEvent(
        name="future_event", data={"a": [1, 2]}
    )
    assert ev.parse_event(SseMessage("future_text", "plain words")) == ev.RawEvent(
        name="future_text", data="plain words"
    )


def test_raw_event_repr_hides_its_data() -> None:
    raw = ev.RawEvent(name="x", data={"token": "s3cret"})
    assert "s3cret" not in repr(raw)


def test_refer_token_is_not_in_repr() -> None:
    event = ev.parse_event(SseMessage("refer", json.dumps({"alias": "a", "token": "s3cret"})))
    assert isinstance(event, ev.Refer) and event.token == "s3cret"
    assert "s3cret" not in repr(event) and "s3cret" not in str(event)


@pytest.mark.parametrize(
    ("name", "data", "fragment"),
    [
        ("participant_update", '{"uuid": "p-1", ', "Invalid JSON"),
        ("participant_update", '{"display_name": "no uuid"}', "uuid"),
        ("participant_delete", "null", "should be an object"),
        ("stage", '{"not": "a list"}', "valid array"),
        ("refer", '{"alias": 5, "token": "s3cret"}', "alias"),
        ("refer", '{"alias": "a", "token": s3cret}', "Invalid JSON"),
        ("on_hold", '"perhaps"', "boolean"),
        ("fecc", '{"action": "spin"}', "action"),
    ],
)
def test_malformed_payload_is_reported_without_values(name: str, data: str, fragment: str) -> None:
    event = ev.parse_event(SseMessage(name, data))
    assert isinstance(event, ev.MalformedEvent)
    assert event.name == name
    assert fragment in event.error
    assert "s3cret" not in event.error and "no uuid" not in event.error


def test_payloads_tolerate_unknown_fields() -> None:
    data = json.dumps({"reason": "bye", "future": {"deep": [1]}})
    assert ev.parse_event(SseMessage("disconnect", data)) == ev.Disconnect(reason="bye")


def test_events_are_immutable() -> None:
    event = ev.Disconnect(reason="x")
    with pytest.raises(ValueError, match="frozen"):
        event.reason = "y"  # type: ignore[misc]


# --- the reconnecting stream --------------------------------------------------------------


def stream_for(
    transport: FakeTransport,
    token: TokenBox | None = None,
    sleeps: Sleeps | None = None,
    **kwargs: Any,
) -> EventStream:
    kwargs.setdefault("rng", random.Random(7))
    return EventStream(
        api_for(transport),
        ALIAS,
        token or TokenBox(),
        sleep=sleeps or Sleeps(),
        **kwargs,
    )


async def take(stream: EventStream, n: int) -> list[StreamItem]:
    return [await anext(stream) for _ in range(n)]


def kinds(items: list[StreamItem]) -> list[str]:
    return [type(i).__name__ for i in items]


async def test_typed_events_then_server_end_of_stream_reconnects_with_newest_token() -> None:
    transport = FakeTransport(
        [
            Conn(chunks=[sync(participant("a")), sse("stage", [])]),
            Conn(chunks=[sse("refresh_token")], then="hang"),
        ]
    )
    token = TokenBox("tok-1")

    def refreshed(_count: int) -> None:
        token.value = "tok-2"

    sleeps = Sleeps(refreshed)
    async with stream_for(transport, token, sleeps, jitter=0) as stream:
        items = await take(stream, 8)
    assert kinds(items) == [
        "StreamOpened",
        "ParticipantSyncBegin",
        "ParticipantCreate",
        "ParticipantSyncEnd",
        "Stage",
        "StreamInterrupted",
        "StreamOpened",
        "RefreshToken",
    ]
    assert items[0] == StreamOpened(attempt=1, connection=1)
    assert items[5] == StreamInterrupted(
        reason="server ended the event stream", failures=0, retry_in=0.1
    )
    assert items[6] == StreamOpened(attempt=1, connection=2)
    assert items[6].reconnected
    assert transport.tokens == ["tok-1", "tok-2"]
    assert sleeps.delays == [0.1]
    assert transport.requests[0].url.startswith(
        "https://node.example/api/client/v2/conferences/meet/events?token="
    )
    assert transport.open_streams == transport.closed_streams == 2


async def test_drop_mid_stream_reconnects() -> None:
    transport = FakeTransport(
        [
            Conn(chunks=[sse("stage", [])], then="drop"),
            Conn(chunks=[sse("refresh_token")], then="hang"),
        ]
    )
    sleeps = Sleeps()
    async with stream_for(transport, sleeps=sleeps) as stream:
        items = await take(stream, 5)
    assert kinds(items) == [
        "StreamOpened",
        "Stage",
        "StreamInterrupted",
        "StreamOpened",
        "RefreshToken",
    ]
    interrupted = items[2]
    assert isinstance(interrupted, StreamInterrupted)
    assert "broken" in interrupted.reason
    assert len(sleeps.delays) == 1 and 0.08 <= sleeps.delays[0] <= 0.12


async def test_forbidden_then_success_uses_the_refreshed_token() -> None:
    transport = FakeTransport([Conn.invalid_token(), Conn(chunks=[sse("stage", [])], then="hang")])
    token = TokenBox("expired-tok")

    def refreshed(_count: int) -> None:
        token.value = "fresh-tok"

    sleeps = Sleeps(refreshed)
    async with stream_for(transport, token, sleeps, jitter=0) as stream:
        items = await take(stream, 3)
    assert kinds(items) == ["StreamInterrupted", "StreamOpened", "Stage"]
    first = items[0]
    assert isinstance(first, StreamInterrupted)
    assert "Invalid token" in first.reason and "expired-tok" not in first.reason
    assert first.failures == 1
    assert items[1] == StreamOpened(attempt=2, connection=1)
    assert transport.tokens == ["expired-tok", "fresh-tok"]
    assert sleeps.delays == [0.1]


async def test_server_errors_count_as_failures() -> None:
    transport = FakeTransport(
        [
            Conn(status=503, body=b'{"status": "failed", "result": "Service Unavailable"}'),
            Conn.refused(),
            Conn(then="hang"),
        ]
    )
    sleeps = Sleeps()
    async with stream_for(transport, sleeps=sleeps, jitter=0) as stream:
        items = await take(stream, 3)
    assert kinds(items) == ["StreamInterrupted", "StreamInterrupted", "StreamOpened"]
    assert "503" in items[0].reason  # type: ignore[union-attr]
    assert "connect failed" in items[1].reason  # type: ignore[union-attr]
    assert items[2] == StreamOpened(attempt=3, connection=1)
    assert sleeps.delays == [0.1, 0.2]


async def test_gives_up_after_max_attempts_failed_opens() -> None:
    transport = FakeTransport([Conn.refused() for _ in range(8)])
    sleeps = Sleeps()
    stream = stream_for(transport, sleeps=sleeps)
    seen: list[StreamItem] = []
    with pytest.raises(EventStreamLost) as info:
        async for item in stream:
            seen.append(item)
    assert info.value.attempts == 8
    assert "connect failed" in info.value.reason
    assert len(transport.requests) == 8
    assert kinds(seen) == ["StreamInterrupted"] * 8
    assert seen[-1] == StreamInterrupted(reason=info.value.reason, failures=8, retry_in=None)
    nominal = [0.1 * 2**i for i in range(7)]
    assert len(sleeps.delays) == 7
    for got, want in zip(sleeps.delays, nominal, strict=True):
        assert want * 0.8 <= got <= want * 1.2
    assert sleeps.delays != nominal  # jitter applied
    # The iterator is finished.
    with pytest.raises(StopAsyncIteration):
        await anext(stream)


async def test_after_a_lost_open_stream_eight_reconnect_attempts_back_off_to_12_8_s() -> None:
    transport = FakeTransport([Conn(chunks=[sse("stage", [])]), *[Conn.refused()] * 8])
    sleeps = Sleeps()
    stream = stream_for(transport, sleeps=sleeps, jitter=0)
    with pytest.raises(EventStreamLost):
        async for _ in stream:
            pass
    assert sleeps.delays == pytest.approx([0.1 * 2**i for i in range(8)])
    assert sleeps.delays[-1] == pytest.approx(12.8)
    assert len(transport.requests) == 9


async def test_attempts_and_delay_reset_after_a_successful_open() -> None:
    transport = FakeTransport(
        [
            *[Conn.refused()] * 7,
            Conn(chunks=[sse("stage", [])]),  # opens after 7 failures, then ends
            *[Conn.refused()] * 7,
            Conn(then="hang"),
        ]
    )
    sleeps = Sleeps()
    stream = stream_for(transport, sleeps=sleeps, jitter=0)
    opened: list[StreamOpened] = []
    async for item in stream:
        if isinstance(item, StreamOpened):
            opened.append(item)
            if len(opened) == 2:
                break
    await stream.aclose()
    assert opened == [StreamOpened(attempt=8, connection=1), StreamOpened(attempt=8, connection=2)]
    first = [0.1 * 2**i for i in range(7)]
    second = [0.1 * 2**i for i in range(8)]  # the lost stream itself backs off 100 ms first
    assert sleeps.delays == pytest.approx(first + second)


async def test_unlimited_attempts_cap_the_delay() -> None:
    transport = FakeTransport([*[Conn.refused()] * 15, Conn(then="hang")])
    sleeps = Sleeps()
    stream = stream_for(transport, sleeps=sleeps, jitter=0, max_attempts=None)
    async for item in stream:
        if isinstance(item, StreamOpened):
            assert item.attempt == 16
            break
    await stream.aclose()
    assert max(sleeps.delays) == 30.0
    assert sleeps.delays[:9] == pytest.approx([0.1 * 2**i for i in range(9)])  # ... 25.6
    assert sleeps.delays[9:] == [30.0] * 6


def test_backoff_jitter_stays_within_bounds() -> None:
    rng = random.Random(1)
    for step in range(1, 20):
        nominal = min(30.0, 0.1 * 2 ** (step - 1))
        for _ in range(50):
            delay = backoff_delay(step, base_delay=0.1, max_delay=30.0, jitter=0.2, rng=rng)
            assert nominal * 0.8 <= delay <= nominal * 1.2


def test_invalid_arguments_are_rejected() -> None:
    transport = FakeTransport([])
    with pytest.raises(ValueError, match="max_attempts"):
        stream_for(transport, max_attempts=0)
    with pytest.raises(ValueError, match="jitter"):
        stream_for(transport, jitter=1.5)


async def test_malformed_json_is_logged_and_the_stream_continues(
    caplog: pytest.LogCaptureFixture,
) -> None:
    transport = FakeTransport(
        [
            Conn(
                chunks=[
                    sse("refer", '{"alias": "room", "token": "s3cret-once"'),
                    sse("refer", {"alias": 7, "token": "s3cret-twice"}),
                    sse("brand_new", {"x": 1}),
                    sse("participant_delete", {"uuid": "p-1"}),
                ],
                then="hang",
            )
        ]
    )
    with caplog.at_level(logging.DEBUG, logger="agent.infinity"):
        async with stream_for(transport) as stream:
            items = await take(stream, 5)
    assert kinds(items) == [
        "StreamOpened",
        "MalformedEvent",
        "MalformedEvent",
        "RawEvent",
        "ParticipantDelete",
    ]
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2
    assert all("refer" in r.getMessage() for r in warnings)
    assert "s3cret" not in caplog.text
    assert "tok-1" not in caplog.text


async def test_chunks_split_anywhere_give_the_same_events() -> None:
    body = sync(participant("a"), participant("é😀")) + sse("stage", [])
    whole = FakeTransport([Conn(chunks=[body], then="hang")])
    bytewise = FakeTransport([Conn(chunks=[body[i : i + 1] for i in range(len(body))])])
    async with stream_for(whole) as stream:
        expected = await take(stream, 6)
    async with stream_for(bytewise) as stream:
        got = await take(stream, 6)
    assert got == expected
    assert kinds(got)[-1] == "Stage"


async def test_aclose_closes_the_open_response_and_leaves_no_task() -> None:
    transport = FakeTransport([Conn(chunks=[sse("stage", []), sse("stage", [])], then="hang")])
    stream = stream_for(transport)
    items = await take(stream, 2)
    assert kinds(items) == ["StreamOpened", "Stage"]
    assert stream.connected
    assert transport.open_streams == 1 and transport.closed_streams == 0
    await stream.aclose()
    assert transport.closed_streams == 1
    assert not stream.connected  # and no task left: the leak guard of tests/conftest.py
    with pytest.raises(StopAsyncIteration):
        await anext(stream)


async def test_cancelling_the_consumer_closes_the_response() -> None:
    transport = FakeTransport([Conn(chunks=[sse("stage", [])], then="hang")])
    stream = stream_for(transport)
    seen: list[StreamItem] = []
    got_two = asyncio.Event()

    async def consume() -> None:
        async for item in stream:
            seen.append(item)
            if len(seen) == 2:
                got_two.set()

    task = asyncio.create_task(consume())
    await asyncio.wait_for(got_two.wait(), 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert transport.closed_streams == 1
    await stream.aclose()  # harmless afterwards
