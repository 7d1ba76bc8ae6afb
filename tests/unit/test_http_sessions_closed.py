"""No aiohttp session outlives the client that opened it.

Every HTTP client here opens its `aiohttp.ClientSession` lazily, on the first request.
Used after `aclose()`, each of them used to open a fresh session that nothing closed any
more: garbage collection then reported aiohttp's "Unclosed client session"
(a `ResourceWarning`), far from its cause. A closed client now refuses the request instead
(before any network I/O), and these tests fail if a session leaks again.
"""

from __future__ import annotations

import gc
import warnings
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager

import pytest

from agent.admin import ManagementClient
from agent.admin.openvidu import Alert, MediaNodeWatcher, OpenViduClient, WebhookAlertSink
from plugins.chat import ChatMessage, ResponderError
from plugins.chat.responders.http import HttpOptions, HttpResponder
from tests.support.openvidu_support import SECRET, running, two_nodes

#: Nothing listens there: a request that gets as far as the network fails at once.
NOBODY = "http://127.0.0.1:9"


@contextmanager
def no_unclosed_session() -> Iterator[None]:
    """Fails if an aiohttp session was left open by the time the block's garbage is
    collected."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        yield
        gc.collect()
    unclosed = [str(w.message) for w in caught if "Unclosed client session" in str(w.message)]
    assert not unclosed, unclosed


async def _settle(scenario: Callable[[], Awaitable[None]]) -> None:
    """Runs `scenario` in a frame of its own, so that what it made is garbage afterwards."""
    await scenario()


async def test_the_check_sees_a_leaked_session() -> None:
    """The check itself: a session nobody closed is reported."""
    import aiohttp

    with pytest.raises(AssertionError, match="Unclosed client session"), no_unclosed_session():

        async def leak() -> None:
            aiohttp.ClientSession()

        await _settle(leak)


async def test_a_closed_openvidu_client_refuses_requests_and_opens_no_session() -> None:
    async def scenario() -> None:
        async with running(two_nodes("openvidu-api")) as (server, _client, _t):
            client = OpenViduClient(server.base_url, SECRET, profile="openvidu-api")
            await client.list_media_nodes()  # the session is open now
            await client.aclose()
            closed = "list media nodes: the OpenVidu client is closed"
            with pytest.raises(RuntimeError, match=closed):
                await client.list_media_nodes()

    with no_unclosed_session():
        await _settle(scenario)


async def test_a_watcher_polling_a_server_that_went_away_leaks_nothing() -> None:
    """The scenario that leaked: polls after the server is gone, then the client closes."""

    async def scenario() -> None:
        async with running(two_nodes("openvidu-api")) as (server, _client, _t):
            client = OpenViduClient(server.base_url, SECRET, profile="openvidu-api")
            watcher = MediaNodeWatcher(client, sinks=[])
            await watcher.poll_once()
        async with client:
            for _ in range(2):
                await watcher.poll_once()
        assert watcher.poll_errors == 2 and watcher.api_down

    with no_unclosed_session():
        await _settle(scenario)


async def test_a_closed_management_client_refuses_requests_and_opens_no_session() -> None:
    async def scenario() -> None:
        client = ManagementClient(NOBODY, username="admin", password="pw")
        await client.aclose()
        with pytest.raises(RuntimeError, match="the management API transport is closed"):
            await client.get_json("status/v1/participant/")

    with no_unclosed_session():
        await _settle(scenario)


async def test_a_closed_alert_webhook_drops_the_alert_and_opens_no_session() -> None:
    async def scenario() -> None:
        sink = WebhookAlertSink(NOBODY + "/alerts", attempts=1)
        await sink.aclose()
        await sink.send(Alert(kind="api_unreachable", severity="critical", message="down"))
        assert (sink.delivered, sink.failed) == (0, 1)

    with no_unclosed_session():
        await _settle(scenario)


async def test_a_closed_http_responder_refuses_and_opens_no_session() -> None:
    async def scenario() -> None:
        responder = HttpResponder(HttpOptions(url=NOBODY + "/answer", retries=0))
        await responder.aclose()
        message = ChatMessage(
            text="hello",
            sender_uuid="u1",
            sender_name="Alice",
            sender_role="guest",
            direct=False,
            alias="meet",
        )
        with pytest.raises(ResponderError, match="the http responder is closed"):
            await responder(message)
        assert responder.attempts == 0

    with no_unclosed_session():
        await _settle(scenario)
