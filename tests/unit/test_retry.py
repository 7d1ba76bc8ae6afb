"""The retry policy of the client: which failures are retried, within what budget, and what
the caller gets when it is spent. A scripted transport answers (the transport's own
classification of failures is tested on real sockets in test_http11.py; refused connections
here go through the real one) and a clock records sleeps instead of sleeping."""

from __future__ import annotations

import asyncio
import json
import random
import socket
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import pytest

from agent.infinity import endpoints as ep
from agent.infinity._http import ApiClient
from agent.infinity._retry import RetryPolicy, is_transient_status, retry_after
from agent.infinity._transport import HttpResponse, TransportError
from agent.infinity.client import ConferenceClient
from agent.infinity.errors import (
    ForbiddenError,
    InvalidPinError,
    NotFoundError,
    NotPexipError,
    ServerError,
    UnexpectedStatusError,
)
from agent.infinity.models import RequestTokenBody
from agent.infinity.session import JoinOptions, join_token
from tests.support.scripted_http import (
    ScriptedTransport,
    bad_certificate,
    refused,
    reset,
    timed_out,
)

NODE = "http://node.test"
BASE = f"{NODE}/api/client/v2/conferences/meet/"
CALLS = BASE + "participants/p1/calls"


class InstantClock:
    """Sleeps return at once; time moves by the slept amount."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)


@pytest.fixture
def mock() -> ScriptedTransport:
    return ScriptedTransport()


def api(clock: InstantClock, transport: ScriptedTransport, **policy: Any) -> ApiClient:
    return ApiClient(
        NODE, transport=transport, retry=RetryPolicy(**policy), clock=clock, rng=random.Random(3)
    )


def conf(client: ApiClient) -> ConferenceClient:
    return ConferenceClient(client, "meet", lambda: "tok")


def failed(result: str) -> dict[str, str]:
    return {"status": "failed", "result": result}


def sent(mock: ScriptedTransport, method: str, url: str) -> int:
    return mock.sent(method, url)


def answer_sdp() -> dict[str, Any]:
    return {"status": "success", "result": {"call_uuid": "c1", "sdp": "v=0"}}


# --- transient answers are retried, definitive ones are not --------------------------------


async def test_503s_then_success_recovers_and_counts(mock: ScriptedTransport) -> None:
    clock = InstantClock()
    mock.post(CALLS, status=503, payload=failed("Service Unavailable"))
    mock.post(CALLS, status=503, payload=failed("Service Unavailable"))
    mock.post(CALLS, payload=answer_sdp())
    async with api(clock, mock) as client:
        result = await conf(client).participant("p1").calls_webrtc("v=0 offer")
        assert result.call_uuid == "c1"
        assert client.retry_stats.retries == {"503": 2}
        assert client.retry_stats.recovered == 1 and client.retry_stats.exhausted == 0
    assert sent(mock, "POST", CALLS) == 3
    # Jittered exponential backoff: 0.5 s then 1 s, +-20 %.
    assert len(clock.sleeps) == 2
    assert 0.4 <= clock.sleeps[0] <= 0.6 and 0.8 <= clock.sleeps[1] <= 1.2


async def test_budget_of_attempts_ends_with_the_typed_error_of_the_last_answer(
    mock: ScriptedTransport,
) -> None:
    clock = InstantClock()
    mock.post(BASE + "lock", status=502, payload=failed("Bad Gateway"), repeat=True)
    async with api(clock, mock, attempts=3, total=60) as client:
        with pytest.raises(ServerError) as err:
            await conf(client).lock()
        assert client.retry_stats.exhausted == 1
    assert sent(mock, "POST", BASE + "lock") == 3
    assert (err.value.status, err.value.reason, str(err.value)) == (
        502,
        "Bad Gateway",
        "lock: HTTP 502: Bad Gateway",
    )


async def test_budget_of_total_time_bounds_the_retries(mock: ScriptedTransport) -> None:
    clock = InstantClock()
    mock.get(BASE + "conference_status", status=503, payload=failed("busy"), repeat=True)
    async with api(clock, mock, attempts=None, total=10.0, max_delay=4.0) as client:
        with pytest.raises(ServerError):
            await conf(client).conference_status()
    # No retry starts 10 s or more after the first try.
    assert sum(clock.sleeps) < 10.0
    assert sent(mock, "GET", BASE + "conference_status") == len(clock.sleeps) + 1 >= 4


@pytest.mark.parametrize(
    ("status", "body", "error"),
    [
        (403, failed("Invalid PIN"), InvalidPinError),
        (403, failed("Conference locked by host"), ForbiddenError),
        (404, failed("Neither conference nor gateway found"), NotFoundError),
        (400, "Could not parse SDP", Exception),
    ],
)
async def test_definitive_answers_fail_at_once(
    mock: ScriptedTransport, status: int, body: Any, error: type[Exception]
) -> None:
    clock = InstantClock()
    if isinstance(body, str):
        mock.post(CALLS, status=status, body=body, content_type="text/plain")
    else:
        mock.post(CALLS, status=status, payload=body)
    async with api(clock, mock) as client:
        with pytest.raises(error):
            await conf(client).participant("p1").calls_webrtc("v=0")
        assert client.retry_stats.total == 0
    assert sent(mock, "POST", CALLS) == 1 and clock.sleeps == []


async def test_request_token_503_is_retried_through_the_join(mock: ScriptedTransport) -> None:
    clock = InstantClock()
    url = BASE + "request_token"
    mock.post(url, status=503, payload=failed("Service Unavailable"))
    mock.post(url, status=529, payload=failed("Out of resource"))
    token = {
        "token": "t",
        "expires": "120",
        "participant_uuid": "me",
        "version": {},
        "role": "GUEST",
        "display_name": "Bot",
        "current_service_type": "conference",
    }
    mock.post(url, payload={"status": "success", "result": token})
    async with api(clock, mock) as client:
        result = await join_token(client, "meet", JoinOptions(display_name="Bot"))
    assert result.participant_uuid == "me"
    assert sent(mock, "POST", url) == 3


async def test_non_json_5xx_page_from_a_proxy_is_transient_too(mock: ScriptedTransport) -> None:
    clock = InstantClock()
    page = "<html>Gateway Timeout</html>"
    mock.post(BASE + "lock", status=504, body=page, content_type="text/html", repeat=True)
    async with api(clock, mock, attempts=2) as client:
        with pytest.raises(NotPexipError) as err:
            await conf(client).lock()
    assert err.value.status == 504
    assert sent(mock, "POST", BASE + "lock") == 2


# --- 429 and Retry-After ---------------------------------------------------------------


async def test_429_waits_as_long_as_retry_after_says(mock: ScriptedTransport) -> None:
    clock = InstantClock()
    mock.post(BASE + "lock", status=429, payload=failed("slow down"), headers={"Retry-After": "3"})
    mock.post(BASE + "lock", payload={"status": "success", "result": True})
    async with api(clock, mock) as client:
        assert await conf(client).lock() is True
        assert client.retry_stats.retries == {"429": 1}
    assert clock.sleeps == [3.0]


async def test_retry_after_beyond_the_budget_gives_up_at_once(mock: ScriptedTransport) -> None:
    clock = InstantClock()
    mock.post(BASE + "lock", status=429, payload=failed("later"), headers={"Retry-After": "3600"})
    async with api(clock, mock, total=15.0) as client:
        with pytest.raises(UnexpectedStatusError) as err:
            await conf(client).lock()
    assert err.value.status == 429
    assert clock.sleeps == [] and sent(mock, "POST", BASE + "lock") == 1


def test_retry_after_forms() -> None:
    def with_header(value: str) -> HttpResponse:
        return HttpResponse(503, "text/plain", b"", {"retry-after": value})

    assert retry_after(with_header("7")) == 7.0
    assert retry_after(with_header(" 0.5 ")) == 0.5
    assert retry_after(with_header("-3")) == 0.0
    assert retry_after(with_header("nan")) is None
    assert retry_after(with_header("soon")) is None
    now = datetime(2030, 1, 1, tzinfo=UTC)
    date = format_datetime(now + timedelta(seconds=20), usegmt=True)
    assert retry_after(with_header(date), now=now.timestamp()) == 20.0
    assert retry_after(HttpResponse(503, "", b"")) is None


def test_which_statuses_are_transient() -> None:
    assert all(is_transient_status(s) for s in (429, 500, 502, 503, 504, 520, 529))
    assert not any(is_transient_status(s) for s in (200, 400, 401, 403, 404, 409, 501, 505))


# --- network failures: safe to repeat or not -------------------------------------------


async def test_refused_connection_is_retried_even_for_a_non_idempotent_post(
    mock: ScriptedTransport,
) -> None:
    clock = InstantClock()
    mock.post(CALLS, exception=refused(CALLS))
    mock.post(CALLS, payload=answer_sdp())
    async with api(clock, mock) as client:
        result = await conf(client).participant("p1").calls_webrtc("v=0")
        assert result.call_uuid == "c1"
        assert client.retry_stats.retries == {"connect": 1}


@pytest.mark.parametrize("exc", [timed_out("url"), reset("url")], ids=["timeout", "reset"])
async def test_a_maybe_processed_non_idempotent_post_is_not_repeated(
    mock: ScriptedTransport, exc: TransportError
) -> None:
    clock = InstantClock()
    mock.post(BASE + "message", exception=exc)
    mock.post(BASE + "message", payload={"status": "success", "result": True})
    async with api(clock, mock) as client:
        with pytest.raises(TransportError) as err:
            await conf(client).send_message("hello")
    # The node may have posted the chat line: a second one would be a duplicate.
    assert sent(mock, "POST", BASE + "message") == 1
    assert err.value.sent and err.value.cause in {"timeout", "reset"}


@pytest.mark.parametrize("exc", [timed_out("url"), reset("url")], ids=["timeout", "reset"])
async def test_a_maybe_processed_idempotent_request_is_repeated(
    mock: ScriptedTransport, exc: TransportError
) -> None:
    clock = InstantClock()
    mock.post(BASE + "lock", exception=exc)
    mock.post(BASE + "lock", payload={"status": "success", "result": True})
    async with api(clock, mock) as client:
        assert await conf(client).lock() is True
    assert sent(mock, "POST", BASE + "lock") == 2


async def test_retry_unsafe_repeats_timeouts_of_any_request(mock: ScriptedTransport) -> None:
    clock = InstantClock()
    url = BASE + "refresh_token"
    mock.post(url, exception=timed_out(url))
    mock.post(url, payload={"status": "success", "result": {"token": "t2", "expires": "120"}})
    async with api(clock, mock) as client:
        policy = RetryPolicy(attempts=None, total=30.0, retry_unsafe=True)
        result = await client.call(ep.REFRESH_TOKEN, "meet", token="t1", retry=policy)
    assert result.token == "t2" and sent(mock, "POST", url) == 2


async def test_connection_refused_until_the_budget_is_spent() -> None:
    """Through the real transport: nothing listens on the port."""
    clock = InstantClock()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    node = f"http://127.0.0.1:{port}"
    policy = RetryPolicy(attempts=4)
    async with ApiClient(node, retry=policy, clock=clock, rng=random.Random(3)) as client:
        with pytest.raises(TransportError) as err:
            await client.call(ep.REQUEST_TOKEN, "meet", body=RequestTokenBody(display_name="B"))
        assert client.retry_stats.exhausted == 1
        assert client.retry_stats.retries == {"connect": 3} and len(clock.sleeps) == 3
    assert err.value.cause == "connect" and not err.value.sent
    assert (
        str(err.value) == f"connection refused: {node}/api/client/v2/conferences/meet/request_token"
    )


async def test_a_bad_certificate_is_not_retried(mock: ScriptedTransport) -> None:
    clock = InstantClock()
    mock.get(BASE + "conference_status", exception=bad_certificate(BASE + "conference_status"))
    async with api(clock, mock) as client:
        with pytest.raises(TransportError) as err:
            await conf(client).conference_status()
    assert err.value.cause == "tls" and not err.value.transient
    assert clock.sleeps == []


async def test_off_never_retries(mock: ScriptedTransport) -> None:
    clock = InstantClock()
    mock.post(BASE + "lock", status=503, payload=failed("x"), repeat=True)
    async with api(clock, mock, attempts=1) as client:
        with pytest.raises(ServerError):
            await conf(client).lock()
        assert client.retry_stats.exhausted == 0
    assert sent(mock, "POST", BASE + "lock") == 1


async def test_retry_lines_in_the_log_are_rate_limited(
    mock: ScriptedTransport, caplog: pytest.LogCaptureFixture
) -> None:
    clock = InstantClock()
    mock.get(BASE + "participants", status=503, payload=failed("x"), repeat=True)
    async with api(clock, mock, attempts=3, total=60) as client:
        for _ in range(20):
            with pytest.raises(ServerError):
                await conf(client).participants()
        assert client.retry_stats.retries == {"503": 40}
    retry_lines = [r for r in caplog.records if "retry" in r.getMessage()]
    assert len(retry_lines) == 3  # the rest are counted for the summary
    assert "tok" not in caplog.text


def test_policy_rejects_nonsense() -> None:
    for bad in (
        {"attempts": 0},
        {"total": -1.0},
        {"total": float("inf")},
        {"base_delay": 0.0},
        {"base_delay": 5.0, "max_delay": 1.0},
        {"jitter": 1.0},
    ):
        with pytest.raises(ValueError):
            RetryPolicy(**bad)


async def test_every_try_sends_the_same_body_and_headers(mock: ScriptedTransport) -> None:
    clock = InstantClock()
    mock.post(CALLS, status=503, payload=failed("x"))
    mock.post(CALLS, payload=answer_sdp())
    async with api(clock, mock) as client:
        await conf(client).participant("p1").calls_webrtc("v=0 offer")
    first, second = mock.requests[("POST", CALLS)]
    assert first.body == second.body and first.body is not None
    assert json.loads(first.body) == {"call_type": "WEBRTC", "sdp": "v=0 offer"}
    assert first.headers == second.headers
