"""Responders on the local node: `faq` answers from its table, `http` relays what a local
aiohttp server answers, a hanging server yields a timeout reply (and the plugin keeps
answering others meanwhile), and `module:function` loads a plain async function."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from aiohttp import web

from agent._http_server import AppServer
from agent.node import LocalNode
from plugins.chat import ChatConfig, ChatMessage, ChatPlugin

from .chat_support import GUEST_PIN, Person, running, until
from .conftest import Api
from .test_chat_commands import Events

pytestmark = pytest.mark.e2e

FAQ = {
    "use": "faq",
    "options": {
        "entries": [
            {"keywords": ["wifi", "wi-fi"], "answer": "The wifi password is on the whiteboard"},
            {"regex": r"\bagenda\b.*\?", "answer": "Agenda: demo, then questions"},
        ]
    },
}


async def essay(message: ChatMessage) -> str | None:
    """A long answer: 40 000 characters in lines of 100."""
    return (
        "\n".join(f"{i:05d} " + "x" * 94 for i in range(400)) if "essay" in message.text else None
    )


async def shout(message: ChatMessage) -> str | None:
    """A responder as a plain async function (`module:function`)."""
    return message.text.upper() if message.text.endswith("!") else None


@asynccontextmanager
async def answer_service() -> AsyncIterator[tuple[str, list[dict[str, Any]], asyncio.Event]]:
    """An answer service on 127.0.0.1: `/answer` answers JSON, `/hang` never answers (until
    the test ends). Yields its URL, the requests it got and the hang's release."""
    seen: list[dict[str, Any]] = []
    release = asyncio.Event()

    async def answer(request: web.Request) -> web.Response:
        body = await request.json()
        seen.append(body)
        return web.json_response({"reply": f"{body['sender_name']} asked: {body['text']}"})

    async def hang(request: web.Request) -> web.Response:
        seen.append(await request.json())
        await release.wait()
        return web.json_response({"reply": "too late"})

    app = web.Application()
    app.router.add_post("/answer", answer)
    app.router.add_post("/hang", hang)
    async with AppServer(app) as server:
        try:
            yield server.base_url, seen, release
        finally:
            release.set()


async def test_faq_http_and_function_responders(node: LocalNode, api: Api) -> None:
    async with answer_service() as (url, seen, _):
        config = ChatConfig.model_validate(
            {
                "responders": [
                    FAQ,
                    {"use": "tests.e2e.test_chat_responders:shout"},
                    {"use": "http", "options": {"url": f"{url}/answer", "timeout": 5}},
                ]
            }
        )
        chat, events = ChatPlugin(config=config), Events()
        async with running(node, [chat, events]) as bot:
            assert bot.session is not None
            me = bot.session.participant_uuid
            guest = await Person.join(api, "Gus Guest", GUEST_PIN)
            try:
                reply = await guest.ask(me, "what's the WIFI password")
                assert reply["payload"] == "The wifi password is on the whiteboard"
                assert reply["direct"] is True
                reply = await guest.ask(me, "where is the agenda for today?")
                assert reply["payload"] == "Agenda: demo, then questions"
                assert seen == []  # the table answered: the service was not asked
                reply = await guest.ask(me, "hello there!")
                assert reply["payload"] == "HELLO THERE!"
                reply = await guest.ask(me, "when do we start")
                assert reply["payload"] == "Gus Guest asked: when do we start"
                assert seen == [
                    {
                        "text": "when do we start",
                        "sender_uuid": guest.uuid,
                        "sender_name": "Gus Guest",
                        "sender_role": "guest",
                        "direct": False,
                        "alias": "secure",
                        "conference": "secure",
                    }
                ]
            finally:
                await guest.close()
    responses = [e.data for e in events.seen if e.kind == "response"]
    assert [(r["responder"], r["outcome"]) for r in responses] == [
        ("faq", "answered"),
        ("faq", "answered"),
        ("tests.e2e.test_chat_responders:shout", "answered"),
        ("http", "answered"),
    ]


async def test_a_hanging_service_gives_a_timeout_reply_not_a_stuck_plugin(
    node: LocalNode, api: Api
) -> None:
    async with answer_service() as (url, seen, _):
        http = {"url": f"{url}/hang", "timeout": 0.5, "retries": 1, "backoff": 0.1}
        config = ChatConfig.model_validate({"responders": [{"use": "http", "options": http}]})
        chat, events = ChatPlugin(config=config), Events()
        async with running(node, [chat, events]) as bot:
            assert bot.session is not None
            me = bot.session.participant_uuid
            guest = await Person.join(api, "Gus Guest", GUEST_PIN)
            host = await Person.join(api, "Hana Host")
            try:
                asked = time.monotonic()
                await guest.say("is anybody there")
                # Meanwhile, the plugin answers others at once.
                await asyncio.sleep(0.2)
                status = await host.ask(me, "!status", timeout=0.5)
                assert status["payload"].startswith("Chatbot (host) in secure")
                reply = await guest.reply_from(me, timeout=5)
                took = time.monotonic() - asked
                assert reply["payload"] == (
                    "sorry, no answer: the answer service did not answer within 0.5 s"
                )
                assert 1.0 <= took < 3.0  # two attempts of 0.5 s and a short backoff
                assert len(seen) == 2
                # ... and keeps answering the same sender too.
                assert (await guest.ask(me, "!help"))["payload"].startswith("Commands:")
            finally:
                await guest.close()
                await host.close()
    (response,) = [e.data for e in events.seen if e.kind == "response"]
    assert (response["responder"], response["outcome"]) == ("http", "timeout")
    assert chat.context.counters.get("chat_responses", responder="http", outcome="timeout") == 1


async def test_long_answers_are_split_to_what_the_api_takes(node: LocalNode, api: Api) -> None:
    config = ChatConfig.model_validate(
        {"responders": [{"use": "tests.e2e.test_chat_responders:essay"}], "max_parts": 5}
    )
    chat = ChatPlugin(config=config)
    async with running(node, [chat]) as bot:
        assert bot.session is not None
        me = bot.session.participant_uuid
        guest = await Person.join(api, "Gus Guest", GUEST_PIN)
        try:
            await guest.say("an essay please")
            await until(lambda: len(guest.from_(me)) >= 3)
            await asyncio.sleep(0.3)
            parts = [m["payload"] for m in guest.from_(me)]
        finally:
            await guest.close()
    # 40 000 characters in three messages the node took (it refuses more than its limit),
    # cut between lines, nothing lost.
    assert len(parts) == 3
    assert all(len(p) <= chat.context.max_message_chars for p in parts)
    lines = "\n".join(parts).splitlines()
    assert lines == [f"{i:05d} " + "x" * 94 for i in range(400)]
