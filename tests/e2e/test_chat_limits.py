"""The chat plugin under pressure on the local node: a flood from one sender is answered at
the configured rate while others still get answers at once; two answering bots do not
loop (the loop guard stops them, an `ignore` list silences them); the bot never answers
itself."""

from __future__ import annotations

import asyncio
import time

import pytest

from agent import MessageReceived
from agent.node import LocalNode
from plugins.chat import ChatConfig, ChatPlugin

from .chat_support import GUEST_PIN, Person, running, until
from .conftest import Api
from .test_chat_commands import Events

pytestmark = pytest.mark.e2e

FLOOD = 200
FLOOD_SECONDS = 2.0


async def test_a_flood_is_answered_at_the_rate_and_others_still_get_answers(
    node: LocalNode, api: Api
) -> None:
    config = ChatConfig.model_validate(
        {
            "sender_rate": {"per_second": 1, "burst": 5},
            "global_rate": {"per_second": 5, "burst": 20},
        }
    )
    chat, events = ChatPlugin(config=config), Events()
    async with running(node, [chat, events]) as bot:
        assert bot.session is not None
        me = bot.session.participant_uuid
        flooder = await Person.join(api, "Flo Flood", GUEST_PIN)
        host = await Person.join(api, "Hana Host")
        try:
            start = time.monotonic()
            sent: list[asyncio.Task[None]] = []
            answered_during: list[float] = []
            for i in range(FLOOD):
                sent.append(asyncio.create_task(flooder.say(f"!help {i % 3}")))
                if i == FLOOD // 2:
                    # Halfway through the flood, someone else asks: answered at once.
                    asked = time.monotonic()
                    reply = await host.ask(me, "!status", timeout=1.0)
                    answered_during.append(time.monotonic() - asked)
                    assert reply["payload"].startswith("Chatbot (host) in secure")
                await asyncio.sleep(
                    max(start + (i + 1) * FLOOD_SECONDS / FLOOD - time.monotonic(), 0)
                )
            await asyncio.gather(*sent)
            flood_took = time.monotonic() - start
            await asyncio.sleep(1.5)  # late answers, if any, would arrive by now
            answers = len(flooder.from_(me))
        finally:
            await flooder.close()
            await host.close()
    assert flood_took < FLOOD_SECONDS + 1.0
    # At most the bucket (5) plus 1/s while the flood lasted.
    assert 5 <= answers <= 5 + int(flood_took) + 1, (answers, flood_took)
    assert answered_during[0] < 1.0
    counters = chat.context.counters
    assert counters.get("chat_ignored", reason="rate_limited") == FLOOD - answers
    # The timeline gets one line per streak of dropped messages, not 195.
    ignored = [e.data for e in events.seen if e.kind == "ignored"]
    assert 1 <= len(ignored) <= answers
    assert {e["reason"] for e in ignored} == {"rate_limited"}


def catch_all(answer: str, **extra: object) -> ChatConfig:
    return ChatConfig.model_validate(
        {
            "reply": "room",
            # High rates: only the loop guard may stop the two bots.
            "sender_rate": {"per_second": 50, "burst": 100},
            "global_rate": {"per_second": 50, "burst": 100},
            "loop_guard": {"window": 1.0, "exchanges": 5, "cooldown": 60},
            "responders": [
                {"use": "faq", "options": {"entries": [{"regex": ".", "answer": answer}]}}
            ],
            **extra,
        }
    )


async def _conversation(node: LocalNode, api: Api, a: ChatConfig, b: ChatConfig) -> list[str]:
    """Two answering bots in a room; a person says hello; what the person saw them say."""
    events = Events()
    async with (
        running(node, [ChatPlugin(config=a), events], name="Ann Bot"),
        running(node, [ChatPlugin(config=b)], name="Ben Bot"),
    ):
        person = await Person.join(api, "Pat Person")
        try:
            await person.say("hello bots")
            await asyncio.sleep(3.0)
            said = [m["payload"] for m in person.received]
            await asyncio.sleep(1.0)
            assert [m["payload"] for m in person.received] == said, "still talking"
        finally:
            await person.close()
    loops = [e.data for e in events.seen if e.kind == "ignored"]
    return said + [f"ignored:{e['reason']}" for e in loops]


async def test_two_answering_bots_stop_and_ignored_bots_are_not_answered(
    node: LocalNode, api: Api
) -> None:
    said = await _conversation(node, api, catch_all("Ann heard you"), catch_all("Ben heard you"))
    talk = [s for s in said if not s.startswith("ignored:")]
    # The hello is answered by each; then they answer each other until the guard stops it.
    assert 2 < len(talk) <= 2 + 2 * 6, said
    assert "ignored:loop" in said
    # Told to ignore each other, each answers the person once and that is all.
    said = await _conversation(
        node,
        api,
        catch_all("Ann heard you", ignore=["ben *"]),
        catch_all("Ben heard you", ignore=["ANN*"]),
    )
    assert sorted(said) == ["Ann heard you", "Ben heard you"]


async def test_the_bot_never_answers_itself(node: LocalNode, api: Api) -> None:
    config = catch_all("heard you")
    chat, events = ChatPlugin(config=config), Events()
    async with running(node, [chat, events]) as bot:
        assert bot.session is not None
        me = bot.session.participant_uuid
        for text in ("!help", "hello"):
            await chat.handle(MessageReceived(origin="Chatbot", uuid=me, payload=text))
        await asyncio.sleep(0.5)
        assert chat.busy_senders == 0
    assert events.seen == []
    # ... while the same from someone else is answered.
    chat, events = ChatPlugin(config=config), Events()
    async with running(node, [chat, events]) as bot:
        person = await Person.join(api, "Pat Person")
        try:
            await until(lambda: person.uuid in chat.context.roster)
            await chat.handle(MessageReceived(origin="Pat", uuid=person.uuid, payload="hello"))
            await until(lambda: len(events.seen) == 1)
        finally:
            await person.close()
