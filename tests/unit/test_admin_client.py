"""The management API client's error shapes, retries, `Retry-After` and budgets, with
aioresponses standing in for a manager (the contract tests against the local node are in
tests/e2e/test_admin_client.py)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import pytest

from agent.admin import (
    CommandError,
    ManagementAuthError,
    ManagementBadRequestError,
    ManagementClient,
    ManagementNotFoundError,
    ManagementRateLimitedError,
    ManagementResponseError,
    ManagementServerError,
    ManagementTransportError,
    PageLimitError,
    ReadOnlyError,
    RetryPolicy,
    parse_retry_after,
)
from tests.support.mock_http import Responses

BASE = "https://manager.example.com"
PARTICIPANTS = re.compile(rf"^{re.escape(BASE)}/api/admin/status/v1/participant/.*$")


class Sleeps:
    """Records the waits instead of sleeping."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
async def client(sleeps: Sleeps) -> AsyncIterator[ManagementClient]:
    policy = RetryPolicy(max_attempts=4, base_delay=0.5, max_total_wait=10, jitter=0, sleep=sleeps)
    async with ManagementClient(BASE, username="admin", password="s3cret", retry=policy) as c:
        yield c


def page(objects: list[dict[str, object]], next_url: str | None = None) -> dict[str, object]:
    meta = {"limit": 20, "offset": 0, "total_count": len(objects), "next": next_url}
    return {"meta": {**meta, "previous": None}, "objects": objects}


async def test_429_with_retry_after_is_waited_out(client: ManagementClient, sleeps: Sleeps) -> None:
    with Responses() as mock:
        mock.get(PARTICIPANTS, status=429, headers={"Retry-After": "2"})
        mock.get(PARTICIPANTS, status=503)
        mock.get(PARTICIPANTS, payload=page([{"id": "a"}]))
        found = await client.status.participants().all()
    assert [p.id for p in found] == ["a"]
    assert sleeps.waits == [2.0, 1.0]  # Retry-After, then exponential (0.5 * 2)
    assert client.retries == 2


async def test_retry_after_beyond_the_budget_gives_up_at_once(
    client: ManagementClient, sleeps: Sleeps
) -> None:
    with Responses() as mock:
        mock.get(PARTICIPANTS, status=429, headers={"Retry-After": "120"}, body="slow down")
        with pytest.raises(ManagementRateLimitedError) as caught:
            await client.status.participants().all()
    assert sleeps.waits == []
    assert caught.value.status == 429 and caught.value.message == "slow down"


async def test_retries_are_bounded_by_attempts(client: ManagementClient, sleeps: Sleeps) -> None:
    with Responses() as mock:
        for _ in range(4):
            mock.get(PARTICIPANTS, status=502, body="<html>Bad Gateway</html>")
        with pytest.raises(ManagementServerError) as caught:
            await client.status.participants().all()
    assert caught.value.attempts == 4 and len(sleeps.waits) == 3
    assert str(caught.value) == (
        "/api/admin/status/v1/participant/: HTTP 502 after 4 attempts: <html>Bad Gateway</html>"
    )


async def test_total_wait_budget(sleeps: Sleeps) -> None:
    policy = RetryPolicy(max_attempts=10, max_total_wait=3, jitter=0, sleep=sleeps)
    async with ManagementClient(BASE, username="a", password="b", retry=policy) as client:
        with Responses() as mock:
            for _ in range(10):
                mock.get(PARTICIPANTS, status=503, headers={"Retry-After": "1.5"})
            with pytest.raises(ManagementServerError):
                await client.status.participants().all()
    assert sleeps.waits == [1.5, 1.5]


async def test_connection_errors_are_retried_then_typed(
    client: ManagementClient, sleeps: Sleeps
) -> None:
    with Responses() as mock:
        mock.get(PARTICIPANTS, exception=ConnectionResetError("reset"))
        mock.get(PARTICIPANTS, payload=page([]))
        assert await client.status.participants().all() == []
        for _ in range(4):
            mock.get(PARTICIPANTS, exception=ConnectionResetError("reset"))
        with pytest.raises(ManagementTransportError):
            await client.status.participants().all()


async def test_commands_retry_only_unserved_answers(
    client: ManagementClient, sleeps: Sleeps
) -> None:
    url = f"{BASE}/api/admin/command/v1/participant/dial/"
    with Responses() as mock:
        mock.post(url, status=503, headers={"Retry-After": "0"})
        mock.post(url, status=202, payload={"status": "success", "data": {"participant_id": "p"}})
        result = await client.command.dial("meet", "sip:x", node="10.0.0.1")
        assert result.participant_id == "p"
        mock.post(url, status=504)  # may have been carried out: not repeated
        with pytest.raises(ManagementServerError):
            await client.command.dial("meet", "sip:x", node="10.0.0.1")
    assert sleeps.waits == [0.0]


async def test_error_shapes(client: ManagementClient) -> None:
    with Responses() as mock:
        mock.get(PARTICIPANTS, status=401, headers={"WWW-Authenticate": "Basic"})
        mock.get(PARTICIPANTS, status=401, headers={"WWW-Authenticate": "Basic"})
        with pytest.raises(ManagementAuthError, match="authentication failed") as caught:
            await client.status.participants().all()
        assert "s3cret" not in str(caught.value) and "admin" not in repr(caught.value.body)
        mock.get(PARTICIPANTS, status=400, payload={"error": "Invalid limit 'x' provided."})
        with pytest.raises(ManagementBadRequestError, match=r"Invalid limit 'x' provided\."):
            await client.status.participants().all()
        mock.get(f"{BASE}/api/admin/status/v1/conference/nope/", status=404, body="")
        with pytest.raises(ManagementNotFoundError):
            await client.status.conference("nope")
        mock.get(PARTICIPANTS, body="<html>proxy login</html>", content_type="text/html")
        with pytest.raises(ManagementResponseError, match="not JSON"):
            await client.status.participants().all()
        mock.get(PARTICIPANTS, payload=page([{"display_name": "no id"}]))
        with pytest.raises(ManagementResponseError, match=r"objects\[0\]: id: Field required"):
            await client.status.participants().all()


async def test_ids_are_one_quoted_path_segment_under_the_group_prefix(
    client: ManagementClient,
) -> None:
    # A conference name may hold "/" or spaces: it must stay one segment of the path.
    status = f"{BASE}/api/admin/status/v1/"
    with Responses() as mock:
        mock.get(status + "conference/a%2Fb%20c/", payload={"id": "x", "name": "a/b c"})
        assert (await client.status.conference("a/b c")).name == "a/b c"
        mock.get(status + "participant/p%2F1/media_stream/?limit=5", payload=page([]))
        assert await client.status.media_streams("p/1", limit=5).all() == []
        mock.get(f"{BASE}/api/admin/history/v1/media_stream/", payload=page([]))
        assert await client.history.media_streams().all() == []
        mock.get(f"{BASE}/api/admin/configuration/v1/conference/7/", status=404, body="")
        with pytest.raises(ManagementNotFoundError):
            await client.configuration.conference(7)


async def test_command_errors(client: ManagementClient) -> None:
    base = f"{BASE}/api/admin/command/v1/"
    with Responses() as mock:
        mock.post(
            base + "participant/mute/",
            status=400,
            payload={"status": "error", "message": "Participant nope not found"},
        )
        with pytest.raises(CommandError, match="participant/mute: Participant nope not found"):
            await client.command.mute("nope")
        mock.post(base + "conference/lock/", status=200, payload={"status": "error"})
        with pytest.raises(CommandError, match="conference/lock: error"):
            await client.command.lock("c")
        mock.post(
            base + "platform/start_cloudnode/",
            status=400,
            payload={"start_cloudnode": {"instance_id": ["Failed to find the cloud node."]}},
        )
        with pytest.raises(CommandError) as caught:
            await client.command.start_cloudnode("i-1")
        assert caught.value.message == (
            "start_cloudnode.instance_id: Failed to find the cloud node."
        )
        mock.post(base + "conference/unlock/", status=202, payload={"status": "success"})
        await client.command.unlock("c")


async def test_paging_follows_next_and_stops_at_the_cap(sleeps: Sleeps) -> None:
    nxt = "/api/admin/status/v1/participant/?limit=1&offset={}"
    async with ManagementClient(BASE, username="a", password="b", max_pages=2) as client:
        with Responses() as mock:
            mock.get(PARTICIPANTS, payload=page([{"id": "1"}], nxt.format(1)))
            mock.get(PARTICIPANTS, payload=page([{"id": "2"}], nxt.format(2)))
            seen: list[str] = []
            with pytest.raises(PageLimitError, match="stopped after 2 pages"):
                async for p in client.status.participants():
                    seen.append(p.id)
            assert seen == ["1", "2"]
            mock.get(PARTICIPANTS, payload=page([{"id": "1"}], nxt.format(1)))
            mock.get(PARTICIPANTS, payload=page([{"id": "1"}], nxt.format(1)))
            with pytest.raises(ManagementResponseError, match=r"meta\.next repeats"):
                await client.status.participants(max_pages=5).all()


async def test_configuration_is_read_only(client: ManagementClient) -> None:
    with pytest.raises(ReadOnlyError, match="read-only"):
        await client.request("PATCH", "configuration/v1/conference/1/", json_body={"pin": "1"})
    with pytest.raises(ManagementResponseError, match="off the manager"):
        await client.get_json("https://elsewhere.example.com/api/admin/status/v1/alarm/")


def test_retry_after_forms() -> None:
    assert parse_retry_after("3") == 3.0 and parse_retry_after("0.5") == 0.5
    assert parse_retry_after(None) is None and parse_retry_after("soon") is None
    assert parse_retry_after("nan") is None and parse_retry_after("-4") == 0.0
    from datetime import UTC, datetime

    now = datetime(2024, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("Mon, 01 Jan 2024 12:00:30 GMT", now) == 30.0


def test_bad_base_url_and_hidden_secrets() -> None:
    with pytest.raises(ValueError, match="not a manager URL"):
        ManagementClient("manager.example.com")
    client = ManagementClient(BASE, username="admin", password="s3cret")
    assert "s3cret" not in repr(client) and "password=***" in repr(client)
