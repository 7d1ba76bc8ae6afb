"""Join flows and the token refresh loop, against a scripted node in virtual time."""

from __future__ import annotations

import asyncio
import itertools
import logging
import random
from collections.abc import Mapping

import pytest

from agent.infinity._http import ApiClient
from agent.infinity._transport import HttpRequest, TransportError
from agent.infinity.errors import (
    ExtensionNotFoundError,
    ExtensionRequiredError,
    InvalidPinError,
    NotFoundError,
    PinRequiredError,
    PinRetriesExceededError,
)
from agent.infinity.reasons import ReasonCode
from agent.infinity.session import EXPIRED_REASON, InfinitySession, JoinOptions, join_token
from tests.support.fake_node import FakeNode, body_of, ok, token_result
from tests.support.virtual_clock import VirtualClock

PIN_403 = {"pin": "required", "guest_pin": "required", "version": {"version_id": "36"}}
HOST_ONLY_403 = {"pin": "required", "guest_pin": "none", "version": {}}
VR_403 = {"conference_extension": "required", "conference_extension_type": "standard"}


def pin_node(host_pin: str, guest_pin: str | None, shape: Mapping[str, object]) -> FakeNode:
    node = FakeNode()

    def request_token(req: HttpRequest) -> tuple[int, object]:
        pin = req.headers.get("pin")
        if pin is None:
            return 403, shape
        if pin == host_pin:
            return ok(token_result(role="HOST"))
        if pin == guest_pin or (guest_pin is None and pin == "none"):
            return ok(token_result(role="GUEST"))
        return 403, "Invalid PIN"

    node.route("request_token", request_token)
    return node


async def join(node: FakeNode, options: JoinOptions, alias: str = "secure"):
    async with ApiClient("http://node.test", transport=node) as api:
        return await join_token(api, alias, options)


async def test_open_conference_joins_with_one_request_without_pin() -> None:
    node = FakeNode()
    node.route("request_token", lambda r: ok(token_result()))
    result = await join(node, JoinOptions(display_name="Recorder", call_tag="rec-1"))
    assert result.participant_uuid == "me-uuid"
    (req,) = node.requests
    assert "pin" not in req.headers
    assert body_of(req) == {"display_name": "Recorder", "call_tag": "rec-1"}


async def test_host_pin_is_sent_after_the_pin_challenge() -> None:
    node = pin_node("1234", "5678", PIN_403)
    result = await join(node, JoinOptions(display_name="Bot", pin="1234"))
    assert result.role == "HOST"
    assert [r.headers.get("pin") for r in node.requests] == [None, "1234"]


async def test_guest_pin_gives_guest_role() -> None:
    node = pin_node("1234", "5678", PIN_403)
    result = await join(node, JoinOptions(display_name="Bot", pin="5678"))
    assert result.role == "GUEST"


async def test_guest_without_pin_sends_literal_none_when_guests_need_no_pin() -> None:
    node = pin_node("1234", None, HOST_ONLY_403)
    result = await join(node, JoinOptions(display_name="Bot"))
    assert result.role == "GUEST"
    assert [r.headers.get("pin") for r in node.requests] == [None, "none"]


async def test_missing_pin_is_a_typed_failure_after_one_request() -> None:
    node = pin_node("1234", "5678", PIN_403)
    with pytest.raises(PinRequiredError) as info:
        await join(node, JoinOptions(display_name="Bot"))
    assert (info.value.host_pin, info.value.guest_pin) == (True, True)
    assert len(node.requests) == 1


async def test_wrong_pin_fails_without_retry_storm() -> None:
    node = pin_node("1234", "5678", PIN_403)
    with pytest.raises(InvalidPinError) as info:
        await join(node, JoinOptions(display_name="Bot", pin="0000"))
    assert info.value.code is ReasonCode.INVALID_PIN
    assert len(node.requests) == 2


async def test_pin_retries_exceeded_is_typed() -> None:
    node = FakeNode()
    node.route(
        "request_token",
        lambda r: (
            403,
            PIN_403 if "pin" not in r.headers else "Participant exceeded PIN entry retries",
        ),
    )
    with pytest.raises(PinRetriesExceededError) as info:
        await join(node, JoinOptions(display_name="Bot", pin="1"))
    assert info.value.code is ReasonCode.PIN_RETRIES_EXCEEDED


async def test_pin_asked_again_after_sending_one_stops() -> None:
    node = FakeNode()
    node.route("request_token", lambda r: (403, PIN_403))
    with pytest.raises(PinRequiredError):
        await join(node, JoinOptions(display_name="Bot", pin="1234"))
    assert len(node.requests) == 2


async def test_virtual_reception_forwards_by_extension_then_pin() -> None:
    node = FakeNode()

    def request_token(req: HttpRequest) -> tuple[int, object]:
        ext = body_of(req).get("conference_extension")
        if ext is None:
            return 403, VR_403
        if ext != "secure":
            return 403, "Conference extension not found"
        if req.headers.get("pin") != "1234":
            return 403, PIN_403
        return ok(token_result(role="HOST"))

    node.route("request_token", request_token)
    result = await join(
        node, JoinOptions(display_name="Bot", pin="1234", extension="secure"), "lobby"
    )
    assert result.role == "HOST"
    assert [body_of(r).get("conference_extension") for r in node.requests] == [
        None,
        "secure",
        "secure",
    ]
    assert [r.headers.get("pin") for r in node.requests] == [None, None, "1234"]

    with pytest.raises(ExtensionNotFoundError):
        await join(node, JoinOptions(display_name="Bot", extension="nowhere"), "lobby")


@pytest.mark.parametrize(
    "shape",
    [VR_403, {"conference_extension": "standard"}],
    ids=["current", "v10"],
)
async def test_virtual_reception_without_extension_is_typed(shape: dict[str, str]) -> None:
    node = FakeNode()
    node.route("request_token", lambda r: (403, shape))
    with pytest.raises(ExtensionRequiredError) as info:
        await join(node, JoinOptions(display_name="Bot"), "lobby")
    assert info.value.extension_type == "standard"
    assert len(node.requests) == 1


async def test_unknown_alias_is_not_found() -> None:
    node = FakeNode()  # no handler: 404
    with pytest.raises(NotFoundError):
        await join(node, JoinOptions(display_name="Bot"), "nope")


# -- the session: waiting room, refresh loop, release ---------------------------------------


def session_node(expires: str = "30") -> FakeNode:
    node = FakeNode()
    counter = iter(range(2, 10_000))
    node.route("request_token", lambda r: ok(token_result("tok-1", expires=expires)))
    node.route("refresh_token", lambda r: ok({"token": f"tok-{next(counter)}", "expires": expires}))
    node.route("release_token", lambda r: ok(True))
    return node


def make_session(node: FakeNode, clock: VirtualClock, **opts: object) -> InfinitySession:
    options = JoinOptions(display_name="Bot", **opts)  # type: ignore[arg-type]
    return InfinitySession.connect(
        "http://node.test", "meet", options, transport=node, clock=clock, rng=random.Random(7)
    )


async def test_waiting_room_is_reported_and_left_on_admission() -> None:
    node = session_node()
    node.route("request_token", lambda r: ok(token_result(current_service_type="waiting_room")))
    async with make_session(node, VirtualClock()) as session:
        assert session.in_waiting_room
        session.set_service_type("conference")
        assert not session.in_waiting_room


async def test_refresh_every_third_of_expires_with_newest_token() -> None:
    node = session_node(expires="30")
    clock = VirtualClock()
    async with make_session(node, clock) as session:
        await clock.advance(9.9)
        assert node.calls("refresh_token") == []
        await clock.advance(0.2)
        assert len(node.calls("refresh_token")) == 1
        await clock.advance(10.0 * 5)
        refreshes = node.calls("refresh_token")
        assert len(refreshes) == 6
        # Each refresh carries the token the previous one returned.
        assert [r.headers["token"] for r in refreshes] == [f"tok-{i}" for i in range(1, 7)]
        assert session.token == "tok-7"
        assert session.lost is None
    assert clock.sleeps[:7] == [10.0] * 7


async def test_network_errors_are_retried_with_growing_jittered_backoff() -> None:
    node = session_node(expires="60")
    failures = 3
    real = node.handlers["refresh_token"]

    def flaky(req: HttpRequest) -> tuple[int, object]:
        nonlocal failures
        if failures:
            failures -= 1
            raise TransportError("POST failed: ClientConnectorError")
        return real(req)

    node.route("refresh_token", flaky)
    clock = VirtualClock()
    async with make_session(node, clock) as session:
        await clock.advance(20.0)  # first refresh fails
        await clock.advance(10.0)  # backoffs elapse
        assert len(node.calls("refresh_token")) == 4
        assert session.token == "tok-2"
        assert session.lost is None
    backoffs = clock.sleeps[1:4]
    assert all(a < b for a, b in itertools.pairwise(backoffs))
    assert 0.4 <= backoffs[0] <= 0.6  # 0.5 s base, +-20%


async def test_network_errors_until_expiry_lose_the_token() -> None:
    node = session_node(expires="30")

    def down(req: HttpRequest) -> tuple[int, object]:
        raise TransportError("POST timed out after 10 s")

    node.route("refresh_token", down)
    clock = VirtualClock()
    async with make_session(node, clock) as session:
        await clock.advance(60.0)
        lost = await asyncio.wait_for(session.wait_lost(), 1)
        assert lost.reason == EXPIRED_REASON
        assert lost.code is ReasonCode.INVALID_TOKEN
        # Never retried past the token's validity (30 s after the join).
        assert clock.now >= 30 and len(node.calls("refresh_token")) < 20


async def test_403_on_refresh_loses_the_token_without_a_hot_loop() -> None:
    node = session_node(expires="30")
    node.route("refresh_token", lambda r: (403, "Invalid token"))
    clock = VirtualClock()
    async with make_session(node, clock) as session:
        await clock.advance(10.0)
        lost = await asyncio.wait_for(session.wait_lost(), 1)
        assert lost.code is ReasonCode.INVALID_TOKEN
        await clock.advance(100.0)
        assert len(node.calls("refresh_token")) == 1


async def test_refresh_token_event_refreshes_at_once() -> None:
    node = session_node(expires="120")
    clock = VirtualClock()
    async with make_session(node, clock) as session:
        await clock.advance(1.0)
        session.request_refresh()
        await clock.settle()
        assert len(node.calls("refresh_token")) == 1
        assert session.token == "tok-2"
        # The periodic schedule goes on from there.
        await clock.advance(40.0)
        assert len(node.calls("refresh_token")) == 2


async def test_close_releases_the_token_and_stops_every_task() -> None:
    node = session_node()
    clock = VirtualClock()
    session = make_session(node, clock)
    async with session:
        await clock.advance(10.5)
        keepalive = session._keepalive
    assert keepalive is not None and keepalive.done()
    (release,) = node.calls("release_token")
    assert release.headers["token"] == "tok-2"
    assert body_of(release) == {"reason": "User initiated disconnect"}
    await session.close()  # idempotent
    assert len(node.calls("release_token")) == 1


async def test_release_after_server_disconnect_carries_its_reason() -> None:
    node = session_node()
    clock = VirtualClock()
    async with make_session(node, clock) as session:
        session.server_disconnected("Disconnected by an administrator")
        await clock.advance(100.0)
        assert node.calls("refresh_token") == []
    (release,) = node.calls("release_token")
    assert body_of(release) == {"reason": "Disconnected by an administrator"}


async def test_release_failure_does_not_raise() -> None:
    node = session_node()

    def broken(req: HttpRequest) -> tuple[int, object]:
        raise TransportError("POST failed: ServerDisconnectedError")

    node.route("release_token", broken)
    clock = VirtualClock()
    session = make_session(node, clock)
    await session.open()
    closing = asyncio.create_task(session.close())
    await clock.advance(5.0)
    await closing  # did not raise
    # One quick retry, then the bot moves on: the token expires by itself.
    assert len(node.calls("release_token")) == 2


async def test_no_secret_in_logs_exceptions_or_reprs(caplog: pytest.LogCaptureFixture) -> None:
    secret_token = "SECRET-TOKEN-b7f1"
    secret_pin = "918273"
    node = FakeNode()

    def request_token(req: HttpRequest) -> tuple[int, object]:
        if req.headers.get("pin") != secret_pin:
            return 403, PIN_403
        return ok(token_result(secret_token, expires="30"))

    node.route("request_token", request_token)
    node.route("refresh_token", lambda r: (403, "Invalid token"))
    node.route("release_token", lambda r: (403, "Invalid token"))
    clock = VirtualClock()
    caplog.set_level(logging.DEBUG)
    errors: list[BaseException] = []
    session = make_session(node, clock, pin=secret_pin)
    async with session:
        await clock.advance(10.0)
        lost = await session.wait_lost()
        reprs = [repr(session.options), repr(session.joined), repr(lost)]
    for bad_pin in ("0000", None):
        try:
            await join(node, JoinOptions(display_name="Bot", pin=bad_pin))
        except Exception as exc:
            errors.append(exc)
    assert errors
    texts = [caplog.text, *reprs, *(str(e) for e in errors), *(repr(e) for e in errors)]
    for text in texts:
        assert secret_token not in text
        assert secret_pin not in text
