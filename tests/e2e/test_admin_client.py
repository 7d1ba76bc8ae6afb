"""Contract tests of `agent.admin.ManagementClient` against the local node: every resource
the client reads, paging over several pages, each filter operator, ordering, commands,
401, 429 with Retry-After, and OAuth2 bearer tokens."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from agent.admin import (
    CommandError,
    ManagementAuthError,
    ManagementBadRequestError,
    ManagementClient,
    ManagementNotFoundError,
    ManagementRateLimitedError,
    OAuth2ClientCredentials,
    PageLimitError,
    ReadOnlyError,
    RetryPolicy,
)
from agent.node import LocalNode, NodeConfig
from agent.node.admin.admin_state import ADMIN

from .conftest import Api, fast_config


class Sleeps:
    def __init__(self) -> None:
        self.waits: list[float] = []
        self.on_sleep: Any = None

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        if self.on_sleep is not None:
            self.on_sleep()


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
async def client(node: LocalNode, sleeps: Sleeps) -> AsyncIterator[ManagementClient]:
    retry = RetryPolicy(sleep=sleeps, jitter=0)
    async with ManagementClient(
        node.base_url, username="admin", password="admin", retry=retry
    ) as c:
        yield c


async def _join(api: Api, names: list[str], alias: str = "meet") -> list[str]:
    return [(await api.joined(alias, name)).uuid for name in names]


async def test_paging_through_more_than_one_page(api: Api, client: ManagementClient) -> None:
    names = [f"bot{i:02}" for i in range(45)]
    await _join(api, names)
    pager = client.status.participants(order_by="display_name", limit=20)
    pages = [page async for page in pager.pages()]
    assert [len(p.objects) for p in pages] == [20, 20, 5]
    assert pages[0].meta.total_count == 45 and pages[-1].meta.next is None
    assert [p.display_name for page in pages for p in page.objects] == names
    assert len(await client.status.participants().all()) == 45  # default page size 20
    with pytest.raises(PageLimitError, match="stopped after 2 pages"):
        await client.status.participants(limit=10, max_pages=2).all()


async def test_each_filter_operator(api: Api, client: ManagementClient) -> None:
    await _join(api, ["Alice", "alice2", "Bob", "Carol"])
    await api.joined("secure", "Erin", pin="5678")

    async def names(**filters: Any) -> set[str]:
        return {p.display_name async for p in client.status.participants(**filters)}

    everyone = {"Alice", "alice2", "Bob", "Carol", "Erin"}
    assert await names(display_name="Bob") == {"Bob"}
    assert await names(display_name__exact="Bob") == {"Bob"}
    assert await names(display_name__iexact="bob") == {"Bob"}
    assert await names(display_name__contains="lic") == {"Alice", "alice2"}
    assert await names(display_name__icontains="ALI") == {"Alice", "alice2"}
    assert await names(display_name__startswith="A") == {"Alice"}
    assert await names(display_name__istartswith="a") == {"Alice", "alice2"}
    assert await names(display_name__endswith="ol") == {"Carol"}
    assert await names(display_name__iendswith="OL") == {"Carol"}
    assert await names(display_name__regex="^[AB]") == {"Alice", "Bob"}
    assert await names(display_name__iregex=r"^a.*\d$") == {"alice2"}
    assert await names(display_name__in=["Alice", "Bob", "nobody"]) == {"Alice", "Bob"}
    assert await names(role="guest") == {"Erin"}
    assert await names(is_muted=False) == everyone
    assert await names(call_tag__isnull=False) == everyone
    joined = await client.status.participants(order_by="connect_time").all()
    times = [p.connect_time for p in joined]
    order = [p.display_name for p in joined]
    assert all(t is not None for t in times)
    t2 = times[2]
    assert t2 is not None
    assert await names(connect_time__gt=t2) == set(order[3:])
    assert await names(connect_time__gte=t2) == set(order[2:])
    assert await names(connect_time__lt=t2) == set(order[:2])
    assert await names(connect_time__lte=t2) == set(order[:3])
    assert await names(connect_time__range=(times[1], times[3])) == set(order[1:4])
    with pytest.raises(ManagementBadRequestError, match="does not allow filtering"):
        await names(vendor="x")


async def test_ordering(api: Api, client: ManagementClient) -> None:
    names = ["mike", "alpha", "zulu", "kilo"]
    await _join(api, names)
    ordered = await client.status.participants(order_by="display_name").all()
    assert [p.display_name for p in ordered] == sorted(names)
    reverse = await client.status.participants(order_by="-display_name").all()
    assert [p.display_name for p in reverse] == sorted(names, reverse=True)
    with pytest.raises(ManagementBadRequestError, match="No matching 'vendor' field"):
        await client.status.participants(order_by="vendor").all()


async def test_status_resources(api: Api, client: ManagementClient) -> None:
    (uuid,) = await _join(api, ["Solo"])
    (conference,) = await client.status.conferences(name="meet").all()
    assert conference.is_started and conference.start_time is not None
    assert (await client.status.conference(conference.id)).name == "meet"
    single = await client.status.participant(uuid)
    assert single.display_name == "Solo" and single.bucketed_call_quality == [0, 0, 0, 0, 0]
    assert single.quality == 0
    assert await client.status.media_streams(uuid).all() == []
    (worker,) = await client.status.worker_vms().all()
    assert worker.address == "127.0.0.1" and worker.max_hd_calls == 20
    assert (await client.status.worker_vm(worker.id)).name == worker.name
    stats = await client.status.worker_vm_statistics(worker.id)
    assert stats.participant_count == 1 and stats.conference_count == 1
    assert stats.media_load == 0.0  # no media call yet
    (location,) = await client.status.system_locations().all()
    assert (await client.status.system_location(location.id)).name == "Local"
    loc_stats = await client.status.system_location_statistics(location.id)
    assert loc_stats.max_media_tokens == stats.max_media_tokens
    assert await client.status.alarms().all() == []
    with pytest.raises(ManagementNotFoundError):
        await client.status.participant("nope")
    with pytest.raises(ManagementNotFoundError):
        await client.status.worker_vm_statistics(99)


async def test_history_resources(api: Api, client: ManagementClient) -> None:
    first, second = await _join(api, ["first", "second"])
    (conference,) = await client.status.conferences(name="meet").all()
    await client.command.disconnect_participant(first)
    await client.command.disconnect_participant(second)
    (ended,) = await client.history.conferences().all()
    assert ended.id == conference.id and ended.participant_count == 2
    assert ended.end_time is not None and ended.start_time is not None
    assert (await client.history.conference(ended.id)).name == "meet"
    hour_ago = datetime.now(UTC) - timedelta(hours=1)
    people = await client.history.participants(
        conference=ended.id, end_time__gte=hour_ago, order_by="-end_time"
    ).all()
    assert [p.display_name for p in people] == ["second", "first"]
    assert people[0].disconnect_reason == "API initiated participant disconnect"
    assert people[0].conference_id == ended.id and people[0].media_streams == []
    assert (await client.history.participant(first)).display_name == "first"
    assert await client.history.participant_media_streams(first).all() == []
    assert await client.history.media_streams().all() == []


async def test_configuration_read_only(client: ManagementClient) -> None:
    services = await client.configuration.conferences(order_by="id").all()
    assert [s.name for s in services][:2] == ["meet", "secure"]
    secure = await client.configuration.find_conference("SECURE")
    assert secure is not None and secure.pin == "1234" and "1234" not in repr(secure)
    assert [a.alias for a in secure.aliases] == ["secure"]
    lobby = (await client.configuration.conferences(service_type="two_stage_dialing").all())[0]
    assert lobby.name == "lobby"
    aliases = await client.configuration.conference_aliases(alias__startswith="lo").all()
    assert {a.alias for a in aliases} == {"locked", "lecture", "lobby"} - {"lecture"}
    assert (await client.configuration.conference_alias(aliases[0].id)).alias == aliases[0].alias
    (location,) = await client.configuration.system_locations().all()
    assert (await client.configuration.system_location(location.id)).name == "Local"
    assert await client.configuration.find_conference("nowhere") is None
    with pytest.raises(ReadOnlyError):
        await client.request("DELETE", "configuration/v1/conference/1/")


async def test_commands(api: Api, client: ManagementClient) -> None:
    host = await api.joined("secure", "host", pin="1234")
    guest = await api.joined("secure", "guest", pin="5678")
    (conference,) = await client.status.conferences(name="secure").all()
    await client.command.mute(guest.uuid)
    assert (await client.status.participant(guest.uuid)).is_muted
    await client.command.unmute(guest.uuid)
    await client.command.set_role(guest.uuid, "chair")
    assert (await client.status.participant(guest.uuid)).role == "chair"
    await client.command.lock(conference.id)
    assert (await client.status.conference(conference.id)).is_locked
    await client.command.unlock(conference.id)
    await client.command.mute_guests(conference.id)
    assert (await client.status.conference(conference.id)).guests_muted
    await client.command.unmute_guests(conference.id)
    await client.command.transform_layout(conference.id, layout="1:7")
    dialled = await client.command.dial("meet", "sip:alice@example.com", system_location="Local")
    assert (await client.status.participant(dialled.participant_id)).call_direction == "out"
    waiting = await api.joined("locked", "waiter", pin="none")
    await client.command.admit(waiting.uuid)
    assert (await client.status.participant(waiting.uuid)).service_type == "conference"
    await client.command.transfer(host.uuid, "meet", role="chair")
    with pytest.raises(CommandError, match="Participant nope not found") as caught:
        await client.command.mute("nope")
    assert caught.value.status == 400
    with pytest.raises(CommandError, match="Failed to find the cloud node"):
        await client.command.start_cloudnode("i-123")
    with pytest.raises(ValueError, match="node or system_location"):
        await client.command.dial("meet", "x")
    await client.command.disconnect_conference(conference.id)
    assert await client.status.conferences(name="secure").all() == []


async def test_wrong_credentials_are_401(node: LocalNode) -> None:
    async with ManagementClient(node.base_url, username="admin", password="nope") as bad:
        with pytest.raises(ManagementAuthError) as caught:
            await bad.status.conferences().all()
    assert caught.value.status == 401 and "nope" not in str(caught.value)
    async with ManagementClient(node.base_url) as anonymous:
        with pytest.raises(ManagementAuthError):
            await anonymous.command.lock("x")


async def test_429_with_retry_after_is_honoured(
    node: LocalNode, client: ManagementClient, sleeps: Sleeps
) -> None:
    route = "admin_status_conference"
    node.ctx.faults.update({"routes": {route: {"status": 429, "retry_after": 1.5}}})
    sleeps.on_sleep = lambda: node.ctx.faults.update({"routes": {route: None}})
    assert await client.status.conferences().all() == []
    assert sleeps.waits == [1.5]
    # A Retry-After longer than the client's budget is not waited for.
    node.ctx.faults.update({"routes": {route: {"status": 429, "retry_after": 600}}})
    sleeps.on_sleep = None
    with pytest.raises(ManagementRateLimitedError):
        await client.status.conferences().all()
    assert sleeps.waits == [1.5]


# -- OAuth2 ----------------------------------------------------------------------------------


def _keypair() -> tuple[str, str]:
    key = ec.generate_private_key(ec.SECP256R1())
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private, public


KEYS = _keypair()


@pytest.fixture
def node_config() -> NodeConfig:
    data = fast_config().model_dump()
    data["management"]["oauth2_clients"] = [{"client_id": "probe", "public_key": KEYS[1]}]
    return NodeConfig.model_validate(data)


async def test_oauth2_bearer_tokens(node: LocalNode) -> None:
    auth = OAuth2ClientCredentials("probe", KEYS[0])
    async with ManagementClient(node.base_url, auth=auth) as client:
        assert await client.status.conferences().all() == []
        await client.status.alarms().all()
        assert auth.tokens_fetched == 1  # reused while valid
        # The node forgets its tokens (revoked): the client gets a fresh one, once.
        assert node._runner is not None
        node._runner.app[ADMIN].oauth.tokens.clear()
        assert await client.status.conferences().all() == []
        assert auth.tokens_fetched == 2
    other, _ = _keypair()
    intruder = OAuth2ClientCredentials("probe", other)
    async with ManagementClient(node.base_url, auth=intruder) as client:
        with pytest.raises(ManagementAuthError, match="bad assertion signature"):
            await client.status.conferences().all()
    stranger = OAuth2ClientCredentials("nobody", KEYS[0])
    async with ManagementClient(node.base_url, auth=stranger) as client:
        with pytest.raises(ManagementAuthError, match="unknown client"):
            await client.status.conferences().all()
