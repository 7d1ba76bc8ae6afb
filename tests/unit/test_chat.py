"""The chat plugin's parts: splitting replies, names, rate limits, the loop guard, its
config's errors, and the responders (`faq`; `http` against a real server on 127.0.0.1)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
from aiohttp import web
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from agent import ParticipantInfo
from agent._http_server import AppServer
from plugins.chat import ChatConfig, ChatMessage, ResponderError, ResponderTimeout
from plugins.chat.guard import LoopGuard, RateLimiter
from plugins.chat.names import find_participant
from plugins.chat.responders import ResponderLoadError, load_responder
from plugins.chat.responders.http import HttpOptions, HttpResponder
from plugins.chat.text import TRUNCATED, defuse, split_message

# -- replies ---------------------------------------------------------------------------


@given(
    text=st.text(alphabet=st.sampled_from("ab \n"), max_size=400),
    limit=st.integers(min_value=10, max_value=60),
    max_parts=st.integers(min_value=1, max_value=8),
)
def test_split_message_keeps_every_part_under_the_limit(text: str, limit: int, max_parts: int):
    parts = split_message(text, limit, max_parts)
    assert all(0 < len(p) <= limit for p in parts)
    assert len(parts) <= max_parts
    # Nothing reordered or invented: the parts' characters (whitespace aside; a word longer
    # than the limit is cut anywhere) are the text's, all of them or a prefix when truncated.
    letters = "".join(text.split())
    if parts and parts[-1].endswith(TRUNCATED):
        kept = "".join(" ".join(parts)[: -len(TRUNCATED)].split())
        assert letters.startswith(kept) and len(kept) < len(letters)
    else:
        assert "".join(" ".join(parts).split()) == letters


def test_split_message_cuts_at_lines_then_spaces() -> None:
    assert split_message("one two three\nfour five", 14, 5) == ["one two three", "four five"]
    assert split_message("aaaa bbbb cccc", 9, 5) == ["aaaa bbbb", "cccc"]
    assert split_message("x" * 25, 10, 5) == ["x" * 10, "x" * 10, "x" * 5]
    assert split_message("x" * 25, 10, 2) == ["x" * 10, "x" * 4 + TRUNCATED]
    assert split_message("   ", 10, 2) == []
    with pytest.raises(ValueError, match="too small"):
        split_message("x", 3, 1)


def test_a_reply_never_starts_with_the_prefix() -> None:
    assert defuse("!help lists them", "!") == "» !help lists them"
    assert defuse("  !x", "!") == "» !x"
    assert defuse("use !help", "!") == "use !help"


# -- names -----------------------------------------------------------------------------


def _people(*names: str) -> list[ParticipantInfo]:
    return [
        ParticipantInfo(uuid=f"{i:08x}-0000-4000-8000-000000000000", display_name=n)
        for i, n in enumerate(names, start=0xA0)
    ]


def test_names_exact_then_word_start_then_substring_then_uuid() -> None:
    people = _people("Alice Smith", "Alan Smithee", "Bob", "Al")
    assert find_participant(people, "alice smith").found == people[0]
    assert find_participant(people, "  ALICE   SMITH ").found == people[0]
    assert find_participant(people, "al").found == people[3]  # exact beats prefixes
    assert find_participant(people, "@bob").found == people[2]
    assert find_participant(people, "smithee").found == people[1]
    match = find_participant(people, "smith")
    assert match.ambiguous and [p.display_name for p in match.candidates] == [
        "Alice Smith",
        "Alan Smithee",
    ]
    assert find_participant(people, "lice").found == people[0]  # inside a name
    assert find_participant(people, "zed").found is None
    assert not find_participant(people, "zed").ambiguous
    assert find_participant(people, "").found is None
    twins = _people("Alice", "Alice")
    assert find_participant(twins, "alice").ambiguous
    assert find_participant(twins, twins[1].uuid[:8]).found == twins[1]


# -- limits ----------------------------------------------------------------------------


def test_rate_limiter_per_sender_and_global() -> None:
    limiter = RateLimiter(sender_rate=1, sender_burst=3, rate=2, burst=4)
    now = 0.0
    flood = []
    for _ in range(100):  # one sender, 50 messages a second for 2 s
        flood.append(limiter.allow("flooder", now))
        now += 0.02
    assert sum(flood) == 3 + 1  # the burst, then 1/s (one more token by t = 1 s)
    # The flooder spent its own bucket, not the global one: others get its whole burst.
    others = [limiter.allow(f"person {i}", now) for i in range(10)]
    assert others == [True] * 4 + [False] * 6
    assert limiter.allow("person 9", now + 0.5)  # 2/s globally


def test_loop_guard_streaks_cooldown_and_echoes() -> None:
    guard = LoopGuard(window=1.0, exchanges=3, cooldown=10.0)
    now = 0.0
    verdicts = []
    for _ in range(6):
        verdicts.append(guard.check("bot", "something", now))
        guard.replied("bot", ["an answer"], now + 0.1)
        now += 0.2
    assert verdicts == ["ok", "ok", "ok", "loop", "loop", "loop"]
    assert guard.check("bot", "something", now + 10.0) == "ok"  # after the cooldown
    # Slow exchanges (a person) never trip it.
    for i in range(10):
        assert guard.check("person", f"question {i}", 100.0 + 5 * i) == "ok"
        guard.replied("person", ["an answer"], 100.0 + 5 * i + 0.1)
    # The bot's own recent reply coming back is an echo, whoever sends it.
    assert guard.check("someone", "  AN   answer ", 200.0) == "echo"
    assert guard.check("someone", "an answer", 200.0 + 120) == "ok"  # long forgotten


# -- config ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"permissions": {"mutee": "anyone"}}, "unknown command 'mutee'; did you mean 'mute'?"),
        ({"permissions": {"mute": "everyone"}}, "Input should be 'anyone', 'host' or 'nobody'"),
        ({"prefix": "! "}, "the prefix cannot contain spaces"),
        ({"prefix": ""}, "at least 1 character"),
        (
            {"sender_rate": {"per_second": 10, "burst": 5}},
            "sender_rate.per_second cannot be above global_rate.per_second",
        ),
        ({"reply": "loud"}, "Input should be 'private' or 'room'"),
        ({"respond": "all"}, "Extra inputs are not permitted"),
    ],
)
def test_config_errors_say_what_is_wrong(config: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message.replace("(", r"\(").replace("?", r"\?")):
        ChatConfig.model_validate(config)


# -- loading responders ------------------------------------------------------------------


async def plain(message: ChatMessage) -> str | None:
    return "plain"


def not_async(message: ChatMessage) -> str:
    return "no"


class Sync:
    def __call__(self, message: ChatMessage) -> str:
        return "no"


@pytest.mark.parametrize(
    ("use", "options", "message"),
    [
        ("fqa", {}, "'fqa' is not in entry-point group 'pexbot.responders' (known: faq, http"),
        ("tests.unit.test_chat:nothing", {}, "cannot load 'tests.unit.test_chat:nothing'"),
        ("no_such_module:fn", {}, "cannot load 'no_such_module:fn': No module named"),
        ("tests.unit.test_chat:plain", {"x": 1}, "is a function and takes no options"),
        ("tests.unit.test_chat:not_async", {}, "a responder is an async function, or a factory"),
        (
            "tests.unit.test_chat:Sync",
            {},
            "'tests.unit.test_chat:Sync' did not give an async callable",
        ),
        ("faq", {}, "'faq': options.entries: Field required"),
        (
            "faq",
            {"entries": [{"regex": "(", "answer": "a"}]},
            "options.entries.0: Value error, regex '(' is invalid: missing ), unterminated",
        ),
        (
            "faq",
            {"entries": [{"answer": "a"}]},
            "options.entries.0: Value error, give either keywords or regex",
        ),
        ("http", {"url": "ftp://x"}, "options.url: String should match pattern"),
        ("http", {"url": "http://x", "timeout": 0}, "options.timeout: Input should be greater"),
    ],
)
def test_responder_load_errors_are_one_line(use: str, options: dict[str, Any], message: str):
    with pytest.raises(ResponderLoadError) as caught:
        load_responder(use, options)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


async def test_faq_keywords_are_whole_words_and_regex_searches() -> None:
    faq = load_responder(
        "faq",
        {
            "entries": [
                {"keywords": ["wifi", "guest network"], "answer": "W"},
                {"regex": r"^when\b", "answer": "T"},
            ]
        },
    ).respond
    assert await faq(_message("What is the WiFi?")) == "W"
    assert await faq(_message("the guest   network")) is None  # a phrase is matched as typed
    assert await faq(_message("the guest network please")) == "W"
    assert await faq(_message("wifis")) is None
    assert await faq(_message("When do we start")) == "T"
    assert await faq(_message("so when")) is None
    assert await load_responder("tests.unit.test_chat:plain", {}).respond(_message("x")) == "plain"


def _message(text: str) -> ChatMessage:
    return ChatMessage(
        text=text,
        sender_uuid="u",
        sender_name="Alice",
        sender_role="guest",
        direct=False,
        alias="meet",
    )


# -- the http responder against a real server ------------------------------------------------

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@asynccontextmanager
async def serve(handler: Handler) -> AsyncIterator[str]:
    app = web.Application()
    app.router.add_post("/", handler)
    async with AppServer(app) as server:
        yield f"{server.base_url}/"


def _http(url: str, **options: Any) -> HttpResponder:
    return HttpResponder(HttpOptions(url=url, backoff=0.01, **options))


async def test_http_answers_json_text_and_nothing() -> None:
    answers: list[web.Response] = [
        web.json_response({"reply": " hi "}),
        web.Response(text="plain answer\n"),
        web.Response(status=204),
        web.json_response({"reply": None}),
        web.Response(text="   "),
    ]
    got: list[Any] = []

    async def handler(request: web.Request) -> web.Response:
        got.append((await request.json(), request.headers.get("Authorization")))
        return answers.pop(0)

    async with serve(handler) as url:
        http = _http(url)
        try:
            assert [await http(_message("q")) for _ in range(5)] == [
                "hi",
                "plain answer",
                None,
                None,
                None,
            ]
        finally:
            await http.aclose()
    assert got[0] == (json.loads(_message("q").model_dump_json()), None)


async def test_http_retries_server_errors_and_timeouts_not_client_errors() -> None:
    statuses = [503, 429, 200]
    calls = 0

    async def flaky(request: web.Request) -> web.Response:
        nonlocal calls
        calls += 1
        status = statuses.pop(0)
        return web.json_response({"reply": "finally"} if status == 200 else {}, status=status)

    async with serve(flaky) as url:
        http = _http(url, retries=2)
        try:
            assert await http(_message("q")) == "finally"
            assert calls == 3
            statuses[:] = [503, 503, 503]
            with pytest.raises(ResponderError, match=r"^the answer service failed \(HTTP 503\)$"):
                await http(_message("q"))
            statuses[:] = [400]
            calls = 0
            with pytest.raises(ResponderError, match=r"refused \(HTTP 400\)$"):
                await http(_message("q"))
            assert calls == 1
        finally:
            await http.aclose()


async def test_http_refuses_big_or_malformed_answers() -> None:
    bodies = [
        web.Response(text="x" * 100),
        web.Response(body=b'{"reply": 3}', content_type="application/json"),
        web.Response(body=b"{not json", content_type="application/json"),
        web.Response(body=b"\xff\xfe", content_type="text/plain"),
    ]

    async def handler(request: web.Request) -> web.Response:
        return bodies.pop(0)

    async with serve(handler) as url:
        http = _http(url, max_bytes=64)
        try:
            for why in (
                "the answer is over 64 bytes",
                'the answer is not {"reply": "..."}',
                "the answer is not valid JSON",
                "the answer is not UTF-8 text",
            ):
                with pytest.raises(ResponderError) as caught:
                    await http(_message("q"))
                assert str(caught.value) == why
        finally:
            await http.aclose()


async def test_http_bearer_token_from_the_environment_never_shown(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: list[str | None] = []

    async def handler(request: web.Request) -> web.Response:
        seen.append(request.headers.get("Authorization"))
        return web.json_response({"reply": "ok"})

    async with serve(handler) as url:
        http = _http(url, token_env="PEXBOT_TEST_ANSWER_TOKEN")
        try:
            monkeypatch.delenv("PEXBOT_TEST_ANSWER_TOKEN", raising=False)
            with pytest.raises(ResponderError, match=r"PEXBOT_TEST_ANSWER_TOKEN\) is not set"):
                await http(_message("q"))
            monkeypatch.setenv("PEXBOT_TEST_ANSWER_TOKEN", "s3cret-token")
            assert await http(_message("q")) == "ok"
        finally:
            await http.aclose()
    assert seen == ["Bearer s3cret-token"]


async def test_http_unreachable_and_slow_services() -> None:
    release = asyncio.Event()

    async def slow(request: web.Request) -> web.Response:
        await release.wait()
        return web.json_response({"reply": "late"})

    async with serve(slow) as url:
        http = _http(url, timeout=0.2, retries=1)
        try:
            with pytest.raises(ResponderTimeout) as caught:
                await http(_message("q"))
            assert str(caught.value) == "the answer service did not answer within 0.2 s"
            assert http.attempts == 2
        finally:
            release.set()
            await http.aclose()
    # The server is gone now: nothing listens on its port.
    http = _http(url, retries=0)
    try:
        with pytest.raises(ResponderError) as caught2:
            await http(_message("q"))
        assert str(caught2.value).startswith("the answer service cannot be reached (")
        assert "127.0.0.1" not in str(caught2.value)
    finally:
        await http.aclose()
