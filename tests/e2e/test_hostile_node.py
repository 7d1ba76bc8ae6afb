"""The client and the bot against a hostile node (issue 12): an endless event-stream line, huge
and oversized events, floods of malformed events and of `refresh_token` events, absurd
`expires` values and 503 storms. Memory stays bounded, the session survives what it can
survive, and fails with a clear one-line reason what it cannot."""

from __future__ import annotations

import asyncio
import logging
import tracemalloc
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest

from agent.infinity import (
    ApiClient,
    EventStream,
    EventStreamLost,
    InfinitySession,
    JoinOptions,
    ResponseValidationError,
    RetryPolicy,
    ServerError,
    StreamInterrupted,
    StreamItem,
)
from agent.infinity.models import events as ev
from agent.runtime.bot import Bot
from agent.runtime.states import BotState
from tests.support.bots import NO_MEDIA, local_config
from tests.support.hostile_node import Behaviour, HostileNode
from tests.support.pexbot_cmd import pexbot as run_pexbot

MiB = 1 << 20
T = TypeVar("T")


def session_on(node: HostileNode) -> InfinitySession:
    return InfinitySession.connect(node.url, "meet", JoinOptions(display_name="Victim"))


async def peak_memory(work: Callable[[], Awaitable[T]]) -> tuple[T, int]:
    """`work`'s result and the peak of Python memory allocated while it ran (in this
    process: the hostile server's share included)."""
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base, _ = tracemalloc.get_traced_memory()
        result = await work()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return result, peak - base


def fast_stream(session: InfinitySession, **kwargs: Any) -> EventStream:
    """The session's event stream with short reconnect delays (the test's clock is real)."""
    return EventStream(
        session.api,
        session.alias,
        session.token_provider(),
        base_delay=0.01,
        max_delay=0.05,
        **kwargs,
    )


@dataclass
class Tally:
    """What a stream yielded, without holding the events (a consumer that keeps them
    would measure its own memory, not the client's)."""

    kinds: Counter[str] = field(default_factory=Counter)
    interruptions: list[str] = field(default_factory=list)
    sizes: list[int] = field(default_factory=list)

    @property
    def opened(self) -> int:
        return self.kinds["StreamOpened"]


async def collect(stream: AsyncIterator[StreamItem], stop: Callable[[Tally], bool]) -> Tally:
    tally = Tally()
    async with asyncio.timeout(60):
        async for item in stream:
            tally.kinds[type(item).__name__] += 1
            if isinstance(item, StreamInterrupted):
                tally.interruptions.append(item.reason)
            elif isinstance(item, ev.MessageReceived):
                tally.sizes.append(len(item.payload))
            del item
            if stop(tally):
                break
    return tally


# --- the event stream ---------------------------------------------------------------------


async def test_an_endless_line_is_cut_with_bounded_memory_and_the_stream_reopens() -> None:
    async with HostileNode(Behaviour(events="endless_line")) as node, session_on(node) as s:
        stream = fast_stream(s, max_attempts=None)

        async def read() -> Tally:
            async with stream:
                return await collect(stream, lambda t: t.opened == 20)

        tally, peak = await peak_memory(read)
        assert stream.oversized == 19
        assert s.lost is None
    assert tally.interruptions == ["event stream line longer than 1048576 characters"] * 19
    # It read more than 19 MiB of one line without end, holding a small fraction of it.
    assert sum(node.sent) > 19 * MiB
    assert peak < 4 * MiB, f"peak {peak / MiB:.1f} MiB"


async def test_a_node_that_never_stops_the_line_loses_the_stream_with_a_clear_reason() -> None:
    async with HostileNode(Behaviour(events="endless_line")) as node, session_on(node) as s:
        with pytest.raises(EventStreamLost) as err:
            async with fast_stream(s, max_attempts=4) as stream:
                await collect(stream, lambda t: False)
    assert str(err.value) == (
        "event stream lost after 4 failed attempt(s): "
        "event stream line longer than 1048576 characters"
    )
    assert node.hits["events"] == 4


async def test_huge_events_within_the_caps_are_delivered_with_bounded_memory() -> None:
    async with HostileNode(Behaviour(events="huge_events")) as node, session_on(node) as s:

        async def read() -> Tally:
            async with fast_stream(s) as stream:
                return await collect(stream, lambda t: len(t.sizes) == 20)

        tally, peak = await peak_memory(read)
    assert tally.opened == 1  # no reconnect needed
    assert tally.sizes == [900_000] * 20
    assert sum(node.sent) > 17 * MiB
    assert peak < 12 * MiB, f"peak {peak / MiB:.1f} MiB"


async def test_an_event_past_the_cap_is_dropped_and_the_stream_reopens(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with HostileNode(Behaviour(events="oversized_event")) as node, session_on(node) as s:

        async def read() -> Tally:
            async with fast_stream(s) as stream:
                return await collect(stream, lambda t: t.opened == 3)

        tally, peak = await peak_memory(read)
    assert tally.interruptions == ["event stream event longer than 4194304 characters"] * 2
    assert tally.kinds["Stage"] == 0
    assert sum(node.sent) > 8 * MiB
    assert peak < 16 * MiB, f"peak {peak / MiB:.1f} MiB"
    dropped = [r.getMessage() for r in caplog.records if "dropped (" in r.getMessage()]
    assert [m.split(": ", 1)[1] for m in dropped] == [
        "dropped (1 so far); reopening the event stream",
        "dropped (2 so far); reopening the event stream",
    ]


async def test_a_flood_of_malformed_events_is_a_few_log_lines(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING)
    behaviour = Behaviour(events="malformed", flood=20_000)
    async with HostileNode(behaviour) as node, session_on(node) as s:
        stream = fast_stream(s)

        async def read() -> Tally:
            async with stream:
                return await collect(stream, lambda t: t.kinds["MalformedEvent"] == 20_000)

        tally, peak = await peak_memory(read)
        assert s.lost is None and stream.malformed == 20_000
    assert tally.opened == 1
    assert peak < 8 * MiB, f"peak {peak / MiB:.1f} MiB"
    lines = [r.getMessage() for r in caplog.records]
    assert (
        len([m for m in lines if m.startswith("event 'participant_delete' has a malformed")]) == 3
    )
    (summary,) = [m for m in lines if "more like this" in m]
    assert summary.startswith("19997 more like this in the last ")
    assert len(caplog.records) < 20
    assert peak < 48 * MiB, f"peak {peak / MiB:.1f} MiB"


async def test_a_flood_of_refresh_token_events_does_not_drive_refreshes() -> None:
    behaviour = Behaviour(events="refresh", flood=5_000)
    async with HostileNode(behaviour) as node, session_on(node) as s:
        refreshes = 0
        async with asyncio.timeout(30):
            async for item in s.events():
                if isinstance(item, ev.RefreshToken):
                    refreshes += 1
                    if refreshes == 5_000:
                        break
        await asyncio.sleep(1.0)
        # 5,000 asks in well under a second: one refresh at once, the rest coalesced.
        assert node.hits["refresh_token"] == 1
        assert s.refresh_requests_coalesced >= 4_990
        assert s.lost is None


# --- expires ------------------------------------------------------------------------------


async def test_expires_0_001_is_clamped_not_a_refresh_storm() -> None:
    async with HostileNode(Behaviour(expires="0.001")) as node, session_on(node) as s:
        await asyncio.sleep(2.5)
        assert s.lost is None
    # Every second (3 s floor / 3), not 16,794 times in 45 s.
    assert 1 <= node.hits["refresh_token"] <= 3


@pytest.mark.parametrize("expires", ["nan", "inf"])
async def test_expires_that_is_not_finite_is_refused_at_join(expires: str) -> None:
    async with HostileNode(Behaviour(expires=expires)) as node:
        with pytest.raises(ResponseValidationError) as err:
            await session_on(node).open()
    assert str(err.value) == (
        "request_token: invalid 200 response: result.expires: Value error, "
        f"expires must be a finite number of seconds, got '{expires}'"
    )


async def test_a_refresh_answering_0_keeps_the_keepalive_going() -> None:
    behaviour = Behaviour(expires="3", refresh_expires="0")
    async with HostileNode(behaviour) as node, session_on(node) as s:
        await asyncio.sleep(3.5)
        assert s.lost is None and s.refreshes >= 3
        assert node.hits["refresh_token"] == s.refreshes


# --- 503 storms ---------------------------------------------------------------------------


async def test_a_503_storm_on_request_token_and_events_is_ridden_out() -> None:
    behaviour = Behaviour(fail_first={"request_token": 3, "events": 3})
    async with HostileNode(behaviour) as node, session_on(node) as s:
        async with fast_stream(s) as stream:
            tally = await collect(stream, lambda t: t.opened == 1)
        assert s.api.retry_stats.retries["503"] == 3
    assert tally.kinds == {"StreamInterrupted": 3, "StreamOpened": 1}
    assert all("HTTP 503" in reason for reason in tally.interruptions)
    assert node.hits["request_token"] == 4


async def test_429_with_retry_after_is_honoured() -> None:
    behaviour = Behaviour(
        fail_first={"request_token": 1}, fail_status=429, fail_headers={"Retry-After": "1"}
    )
    async with HostileNode(behaviour) as node:
        started = asyncio.get_running_loop().time()
        async with session_on(node):
            waited = asyncio.get_running_loop().time() - started
    assert node.hits["request_token"] == 2
    assert waited >= 1.0


async def test_an_endless_503_storm_fails_the_join_with_the_nodes_reason() -> None:
    async with HostileNode(Behaviour(fail_first={"request_token": 10**6})) as node:
        api = ApiClient(node.url, retry=RetryPolicy(attempts=3, total=10))
        session = InfinitySession(api, "meet", JoinOptions(display_name="Victim"), owns_api=True)
        with pytest.raises(ServerError) as err:
            await session.open()
    assert str(err.value) == "request_token: HTTP 503: Service Unavailable"
    assert node.hits["request_token"] == 3


# --- the bot and the pexbot command ---------------------------------------------------------


def bot_on(node: HostileNode, **extra: Any) -> Bot:
    return Bot(local_config(node.url, "Victim", NO_MEDIA, **extra))


async def test_the_bot_stays_through_floods_and_a_storm() -> None:
    behaviour = Behaviour(fail_first={"request_token": 2}, events="malformed", flood=20_000)
    async with HostileNode(behaviour) as node:
        bot = bot_on(node)
        task = asyncio.create_task(bot.run())
        async with asyncio.timeout(30):
            while bot.events_seen < 20_000:
                assert not task.done(), bot.state.history
                await asyncio.sleep(0.05)
        assert bot.state.state == BotState.CONNECTED
        bot.request_leave()
        result = await asyncio.wait_for(task, 10)
    assert result.state == BotState.LEFT and result.exit_code == 0


async def pexbot(*args: str) -> tuple[int, str]:
    ran = await run_pexbot(*args)
    return ran.code, ran.err


SIGNALLING_ONLY = ["--audio", "none", "--video", "none", "--alias", "meet", "--name", "Bot"]


async def test_pexbot_on_an_endless_503_storm_exits_with_one_line() -> None:
    async with HostileNode(Behaviour(fail_first={"request_token": 10**6})) as node:
        code, err = await pexbot("run", "--node", node.url, *SIGNALLING_ONLY)
    assert code == 21
    assert err.strip().splitlines()[-1] == "pexbot: failed (node_error): Service Unavailable"
    assert "Traceback" not in err
    assert node.hits["request_token"] == 4  # the default budget: 4 tries


async def test_pexbot_on_expires_nan_exits_with_one_line() -> None:
    async with HostileNode(Behaviour(expires="nan")) as node:
        code, err = await pexbot("run", "--node", node.url, *SIGNALLING_ONLY)
    assert code == 21
    assert err.strip().splitlines()[-1] == (
        "pexbot: failed (node_error): request_token: invalid 200 response: result.expires: "
        "Value error, expires must be a finite number of seconds, got 'nan'"
    )
    assert "Traceback" not in err


async def test_pexbot_whose_rejoins_the_node_keeps_refusing_spends_the_budget_then_one_line(
    tmp_path: Path,
) -> None:
    # The token is refused at the first refresh; every request_token after the first answers
    # 503. Each rejoin is 2 tries of the client's; the budget allows 2 rejoins.
    behaviour = Behaviour(expires="3", refuse_refresh=True, fail_from={"request_token": 2})
    config = tmp_path / "bot.toml"
    async with HostileNode(behaviour) as node:
        config.write_text(
            f'node = "{node.url}"\nalias = "meet"\n'
            "[leave]\nmax_rejoins = 2\n[retry]\nattempts = 2\ntotal = 5\n"
            '[media]\naudio = "none"\nvideo = "none"\nreceive_audio = false\n'
            "receive_video = false\n"
        )
        code, err = await pexbot("run", str(config))
    assert code == 21
    assert err.strip().splitlines()[-1] == "pexbot: failed (node_error): Service Unavailable"
    assert "Traceback" not in err
    assert node.hits["request_token"] == 1 + 2 * 2  # the join, then 2 rejoins of 2 tries
    assert err.count("rejoin failed: Service Unavailable") >= 2


async def test_the_bots_event_stream_caps_come_from_its_config(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # 900 KB events are within the library's default caps; a bot configured with a 64 KiB
    # line cap drops them and reopens the stream, and stays in.
    async with HostileNode(Behaviour(events="huge_events")) as node:
        bot = bot_on(node, events={"max_line": 65536, "max_event": 65536})
        task = asyncio.create_task(bot.run())
        async with asyncio.timeout(30):
            while bot.stream_reconnects < 2:
                assert not task.done(), bot.state.history
                await asyncio.sleep(0.05)
        assert bot.state.state == BotState.CONNECTED
        bot.request_leave()
        result = await asyncio.wait_for(task, 10)
    assert result.state == BotState.LEFT
    assert "event stream line longer than 65536 characters" in caplog.text


async def test_pexbot_refuses_an_event_cap_too_small_with_one_line(tmp_path: Path) -> None:
    config = tmp_path / "bot.toml"
    config.write_text('node = "http://127.0.0.1:9"\nalias = "meet"\n[events]\nmax_line = 10\n')
    code, err = await pexbot("run", str(config))
    assert code == 2
    assert err.strip().splitlines() == [
        f"pexbot: invalid configuration: {config}: events.max_line: "
        "Input should be greater than or equal to 1024"
    ]


def test_the_configs_default_caps_are_the_librarys() -> None:
    from agent.config import EventsConfig
    from agent.infinity.events import MAX_EVENT, MAX_LINE

    assert (EventsConfig().max_line, EventsConfig().max_event) == (MAX_LINE, MAX_EVENT)
