"""A bot rides out transient node failures (issue 12, point 1): 503s on `request_token` (the
first join and a rejoin) and on `calls` are retried, injected by the local node's fault
knobs; a definitive answer still fails at once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from prometheus_client import generate_latest

from agent.config import parse_config
from agent.node import LocalNode
from agent.runtime.bot import Bot
from agent.runtime.metrics import registry_for
from agent.runtime.states import BotState, FailureReason
from tests.support.inspect_node import set_faults, with_control

UNAVAILABLE = {"status": 503, "result": "Service Unavailable"}


@pytest.fixture
async def node() -> AsyncIterator[LocalNode]:
    async with LocalNode(with_control()) as n:
        yield n


def bot_for(node: LocalNode, *, media: bool = False, **leave: Any) -> Bot:
    media_cfg: dict[str, Any] = (
        {"audio": "silence", "video": "none", "ice_host_addresses": ["127.0.0.1"]}
        if media
        else {"audio": "none", "video": "none", "receive_audio": False, "receive_video": False}
    )
    return Bot(
        parse_config(
            {
                "node": node.base_url,
                "alias": "meet",
                "display_name": "Sturdy",
                "media": media_cfg,
                "leave": {"alone_seconds": None, **leave},
                # A budget the test can outlast: 8 tries, 0.5 s doubling up to 4 s.
                "retry": {"attempts": 8, "total": 30},
            }
        )
    )


async def until(task: asyncio.Task[Any], check: Callable[[], bool], timeout: float = 20) -> None:
    async with asyncio.timeout(timeout):
        while not check():
            assert not task.done(), "the bot ended"
            await asyncio.sleep(0.05)


async def test_503_on_the_first_request_token_is_retried(node: LocalNode) -> None:
    await set_faults(node, routes={"request_token": UNAVAILABLE})
    bot = bot_for(node)
    task = asyncio.create_task(bot.run())
    await until(task, lambda: bot.api.retry_stats.retries["503"] >= 2)
    assert bot.state.state == BotState.JOINING
    await set_faults(node, routes={"request_token": None})
    await until(task, lambda: bot.state.state == BotState.CONNECTED)
    bot.request_leave()
    result = await asyncio.wait_for(task, 10)
    assert result.state == BotState.LEFT and result.exit_code == 0
    assert bot.api.retry_stats.recovered >= 1
    # The runtime exposes the counters on /metrics.
    text = generate_latest(registry_for(lambda: [bot])).decode()
    retried = bot.api.retry_stats.retries["503"]
    assert f'pexbot_request_retries_total{{bot="Sturdy",cause="503"}} {retried:.1f}' in text
    assert 'pexbot_request_retries_exhausted_total{bot="Sturdy"} 0.0' in text


async def test_503_on_request_token_during_a_rejoin_is_retried(node: LocalNode) -> None:
    await set_faults(node, token_lifetime=3)  # refreshes every second
    bot = bot_for(node, max_rejoins=2)
    task = asyncio.create_task(bot.run())
    await until(task, lambda: bot.state.state == BotState.CONNECTED)
    # The token is refused at the next refresh; the rejoin then meets a node answering 503.
    await set_faults(node, refuse_refresh=True, routes={"request_token": UNAVAILABLE})
    await until(task, lambda: bot.rejoins == 1 and bot.api.retry_stats.retries["503"] >= 2)
    assert bot.state.state == BotState.JOINING
    await set_faults(node, refuse_refresh=False, routes={"request_token": None})
    await until(task, lambda: bot.state.state == BotState.CONNECTED and bot.session is not None)
    bot.request_leave()
    result = await asyncio.wait_for(task, 10)
    assert result.state == BotState.LEFT and result.rejoins == 1


async def test_503_on_calls_is_retried_and_the_call_comes_up(node: LocalNode) -> None:
    await set_faults(node, routes={"calls": UNAVAILABLE})
    bot = bot_for(node, media=True)
    task = asyncio.create_task(bot.run())
    await until(task, lambda: bot.api.retry_stats.retries["503"] >= 2)
    await set_faults(node, routes={"calls": None})
    await until(task, lambda: bot.state.state == BotState.IN_CALL)
    bot.request_leave()
    result = await asyncio.wait_for(task, 15)
    assert result.state == BotState.LEFT and result.recalls == 0


async def test_a_spent_budget_fails_with_the_nodes_reason(node: LocalNode) -> None:
    await set_faults(node, routes={"request_token": UNAVAILABLE})
    cfg = parse_config(
        {"node": node.base_url, "alias": "meet", "retry": {"attempts": 3, "total": 10}}
    )
    bot = Bot(cfg)
    result = await asyncio.wait_for(bot.run(), 20)
    assert result.state == BotState.FAILED and result.reason == FailureReason.NODE_ERROR
    assert result.detail == "Service Unavailable"
    assert bot.api.retry_stats.retries["503"] == 2 and bot.api.retry_stats.exhausted == 1


async def test_a_definitive_answer_is_not_retried(node: LocalNode) -> None:
    await set_faults(node, routes={"request_token": {"status": 404, "result": "Not here"}})
    bot = bot_for(node)
    result = await asyncio.wait_for(bot.run(), 10)
    assert result.reason == FailureReason.CONFERENCE_NOT_FOUND
    assert bot.api.retry_stats.total == 0


async def test_isolated_token_losses_each_get_a_fresh_rejoin_budget(node: LocalNode) -> None:
    # One rejoin allowed per incident; an incident ends after 1.5 s of health. Two short
    # refusals apart from each other: a lifetime budget of 1 would have ended the bot.
    await set_faults(node, token_lifetime=3)  # refreshes every second
    bot = bot_for(node, max_rejoins=1, rejoin_budget_reset=1.5)
    task = asyncio.create_task(bot.run())
    await until(task, lambda: bot.state.state == BotState.CONNECTED)
    for incident in (1, 2):
        await set_faults(node, refuse_refresh=True)
        await until(task, lambda n=incident: bot.rejoins == n)  # type: ignore[misc]
        await set_faults(node, refuse_refresh=False)
        await until(task, lambda: bot.state.state == BotState.CONNECTED)
        await asyncio.sleep(2.0)  # healthy for longer than rejoin_budget_reset
    bot.request_leave()
    result = await asyncio.wait_for(task, 10)
    assert result.state == BotState.LEFT and result.rejoins == 2


async def test_one_long_incident_still_spends_the_budget(node: LocalNode) -> None:
    await set_faults(node, token_lifetime=3)
    bot = bot_for(node, max_rejoins=1, rejoin_budget_reset=30)
    task = asyncio.create_task(bot.run())
    await until(task, lambda: bot.state.state == BotState.CONNECTED)
    await set_faults(node, refuse_refresh=True)
    result = await asyncio.wait_for(task, 20)
    assert result.state == BotState.FAILED and result.reason == FailureReason.TOKEN_LOST
    assert result.rejoins == 1


async def test_a_rejoin_refused_past_its_retries_is_one_more_try_of_the_rejoin_budget(
    node: LocalNode,
) -> None:
    # The client gives up on request_token after 2 tries: before, that ended the bot at once
    # (`failed (node_error)`); now the rejoin budget tries again, with its own backoff.
    await set_faults(node, token_lifetime=3)
    bot = Bot(
        parse_config(
            {
                "node": node.base_url,
                "alias": "meet",
                "display_name": "Sturdy",
                "media": {
                    "audio": "none",
                    "video": "none",
                    "receive_audio": False,
                    "receive_video": False,
                },
                "leave": {"max_rejoins": 5, "rejoin_budget_reset": 30},
                "retry": {"attempts": 2, "total": 2},
            }
        )
    )
    task = asyncio.create_task(bot.run())
    await until(task, lambda: bot.state.state == BotState.CONNECTED)
    await set_faults(node, refuse_refresh=True, routes={"request_token": UNAVAILABLE})
    await until(task, lambda: bot.rejoins == 2)  # the first rejoin was refused: a second try
    assert bot.api.retry_stats.exhausted >= 1
    assert [c.new for c in bot.state.history][-3:] == [
        BotState.RECONNECTING,
        BotState.JOINING,
        BotState.RECONNECTING,
    ]
    assert bot.state.history[-1].detail == "rejoin failed: Service Unavailable"
    await set_faults(node, refuse_refresh=False, routes={"request_token": None})
    await until(task, lambda: bot.state.state == BotState.CONNECTED and bot.session is not None)
    bot.request_leave()
    result = await asyncio.wait_for(task, 10)
    assert result.state == BotState.LEFT and result.rejoins >= 2
