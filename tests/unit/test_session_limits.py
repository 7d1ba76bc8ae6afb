"""The token lifetime is validated and clamped, and node-requested refreshes are coalesced
(issue 12, points 4 and 5), in virtual time against a scripted node."""

from __future__ import annotations

import asyncio
import itertools
import logging
import random
from typing import Any

import pytest

from agent.infinity import ExpiresBounds
from agent.infinity.errors import ResponseValidationError
from agent.infinity.session import EXPIRED_REASON, InfinitySession, JoinOptions
from tests.support.fake_node import FakeNode, ok, token_result
from tests.support.virtual_clock import VirtualClock


def node_with(join_expires: str, refresh_expires: str | None = None) -> FakeNode:
    node = FakeNode()
    counter = itertools.count(2)
    answer = join_expires if refresh_expires is None else refresh_expires
    node.route("request_token", lambda r: ok(token_result("tok-1", expires=join_expires)))
    node.route("refresh_token", lambda r: ok({"token": f"tok-{next(counter)}", "expires": answer}))
    node.route("release_token", lambda r: ok(True))
    return node


def session_for(node: FakeNode, clock: VirtualClock, **kwargs: Any) -> InfinitySession:
    return InfinitySession.connect(
        "http://node.test",
        "meet",
        JoinOptions(display_name="Bot"),
        transport=node,
        clock=clock,
        rng=random.Random(5),
        **kwargs,
    )


def warnings_of(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]


async def test_a_tiny_lifetime_is_raised_to_the_floor_and_said_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    node = node_with("0.001")
    clock = VirtualClock()
    async with session_for(node, clock) as session:
        await clock.advance(30.0)
        # Every expires/3 = 1 s with the 3 s floor, not 370 times a second.
        assert 28 <= len(node.calls("refresh_token")) <= 31
        assert session.lost is None
    assert warnings_of(caplog) == [
        "request_token: the node's token lifetime expires='0.001' is out of bounds; "
        "using 3 s (bounds 3 s to 86400 s)"
    ]


async def test_a_huge_lifetime_is_lowered_to_the_ceiling() -> None:
    node = node_with("9" * 30)
    clock = VirtualClock()
    async with session_for(node, clock, expires_bounds=ExpiresBounds(floor=5, ceiling=600)):
        await clock.advance(199.0)
        assert node.calls("refresh_token") == []
        await clock.advance(2.0)  # 600 / 3
        assert len(node.calls("refresh_token")) == 1


@pytest.mark.parametrize(
    ("expires", "why"),
    [
        ("nan", "expires must be a finite number of seconds, got 'nan'"),
        ("inf", "expires must be a finite number of seconds, got 'inf'"),
        ("-inf", "expires must be a finite number of seconds, got '-inf'"),
        ("soon", "expires must be a number of seconds, got 'soon'"),
    ],
)
async def test_a_lifetime_that_is_not_a_number_is_refused_clearly(expires: str, why: str) -> None:
    node = node_with(expires)
    with pytest.raises(ResponseValidationError) as err:
        await session_for(node, VirtualClock()).open()
    assert (
        str(err.value) == f"request_token: invalid 200 response: result.expires: Value error, {why}"
    )


async def test_a_refresh_answering_zero_does_not_stop_the_keepalive(
    caplog: pytest.LogCaptureFixture,
) -> None:
    node = node_with("30", refresh_expires="0")
    clock = VirtualClock()
    async with session_for(node, clock) as session:
        await clock.advance(100.0)
        # Still every 10 s (the interval comes from request_token's expires, as in the SDK).
        assert len(node.calls("refresh_token")) == 10
        assert session.lost is None and session.refreshes == 10
        keepalive = session._keepalive
        assert keepalive is not None and not keepalive.done()
    assert len([w for w in warnings_of(caplog) if "out of bounds" in w]) == 1


async def test_a_refresh_answering_nan_ends_in_a_lost_token_not_a_dead_loop(
    caplog: pytest.LogCaptureFixture,
) -> None:
    node = node_with("30", refresh_expires="nan")
    clock = VirtualClock()
    async with session_for(node, clock) as session:
        await clock.advance(60.0)
        lost = await asyncio.wait_for(session.wait_lost(), 1)
    assert lost.reason == EXPIRED_REASON
    assert any("expires must be a finite number of seconds" in w for w in warnings_of(caplog))


async def test_a_flood_of_refresh_requests_is_coalesced() -> None:
    node = node_with("120")
    clock = VirtualClock()
    async with session_for(node, clock, event_refresh_interval=5.0) as session:
        for _ in range(200):  # 20 requests a second for 10 s (bogus refresh_token events)
            session.request_refresh()
            await clock.advance(0.05)
        await clock.advance(1.0)
        refreshes = len(node.calls("refresh_token"))
        assert 2 <= refreshes <= 3  # the first at once, then one per 5 s
        assert session.refresh_requests_coalesced >= 190
        assert session.lost is None


async def test_a_single_refresh_request_is_served_at_once() -> None:
    node = node_with("120")
    clock = VirtualClock()
    async with session_for(node, clock) as session:
        await clock.advance(1.0)
        session.request_refresh()
        await clock.settle()
        assert len(node.calls("refresh_token")) == 1
        await clock.advance(30.0)
        session.request_refresh()  # long after the last one: at once too
        await clock.settle()
        assert len(node.calls("refresh_token")) == 2


def test_bounds_must_make_sense() -> None:
    for floor, ceiling in ((0, 10), (10, 5), (1, float("inf"))):
        with pytest.raises(ValueError):
            ExpiresBounds(floor=floor, ceiling=ceiling)
