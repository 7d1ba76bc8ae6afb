"""Fixtures for the local-node e2e tests: a node on 127.0.0.1, a raw aiohttp client that
checks every response against the client API schema, and an SSE reader.

These tests deliberately do not use the project's client library: the node and the client
must not be able to hide each other's bugs.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import aiohttp
import jsonschema
import pytest

from agent.node import LocalNode, NodeConfig, default_config
from tests.support.inspect_node import CONTROL_TOKEN

# The contract, vendored in tests/spec/ so tests run on a clean clone.
SCHEMA_PATH = Path(__file__).resolve().parents[1] / "spec/infinity-client-api.schema.json"

# For statuses an endpoint's schema does not model (a guest refused on a conference-level
# function, malformed input): the envelope every error of a real node has.
ERROR_ENVELOPE = {
    "type": "object",
    "additionalProperties": False,
    "required": ["status", "result"],
    "properties": {"status": {"enum": ["success", "failed"]}, "result": {"type": "string"}},
}


@cache
def schema() -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(SCHEMA_PATH.read_text())
    return doc


@cache
def _validator(endpoint: str, status: str) -> Any:
    doc = schema()
    if status not in doc["definitions"][endpoint]["properties"]:
        return None
    # A root that only points into the whole document: every `$ref` resolves against it.
    root = {
        "$ref": f"#/definitions/{endpoint}/properties/{status}",
        "definitions": doc["definitions"],
    }
    return jsonschema.Draft6Validator(root)


@dataclass
class Seen:
    """Every (endpoint, status) a test run produced, for the conformance test."""

    pairs: set[tuple[str, int]] = field(default_factory=set)
    unmodelled: set[tuple[str, int]] = field(default_factory=set)


def validate(endpoint: str, status: int, body: Any, seen: Seen | None = None) -> None:
    validator = _validator(endpoint, str(status))
    if seen is not None:
        seen.pairs.add((endpoint, status))
    if validator is None:
        if seen is not None:
            seen.unmodelled.add((endpoint, status))
        jsonschema.Draft6Validator(ERROR_ENVELOPE).validate(body)
        return
    validator.validate(body)


@dataclass
class Reply:
    status: int
    body: Any
    content_type: str

    @property
    def result(self) -> Any:
        return self.body["result"]


class Api:
    """Raw HTTP against one conference alias; every reply is schema-checked."""

    def __init__(self, http: aiohttp.ClientSession, node: LocalNode, seen: Seen) -> None:
        self.http = http
        self.node = node
        self.seen = seen

    def url(self, alias: str, path: str) -> str:
        return f"{self.node.api_url(alias)}/{path}"

    async def call(
        self,
        endpoint: str,
        method: str,
        alias: str,
        path: str,
        *,
        token: str | None = None,
        json_body: Any = None,
        data: str | bytes | None = None,
        headers: dict[str, str] | None = None,
        check: bool = True,
    ) -> Reply:
        hdrs = dict(headers or {})
        if token is not None:
            hdrs["token"] = token
        async with self.http.request(
            method, self.url(alias, path), json=json_body, data=data, headers=hdrs
        ) as resp:
            text = await resp.text()
            ctype = resp.headers.get("Content-Type", "")
            status = resp.status
        # Statuses the schema models as a plain string are read raw, whatever the type.
        props = schema()["definitions"].get(endpoint, {}).get("properties", {})
        raw = props.get(str(status), {}).get("type") == "string"
        if raw or status == 204:
            body: Any = text
        else:
            assert ctype.startswith("application/json"), (status, ctype, text)
            body = json.loads(text)
        if check:
            validate(endpoint, status, body, self.seen)
        return Reply(status, body, ctype)

    async def join(
        self,
        alias: str = "meet",
        name: str = "bot",
        pin: str | None = None,
        **extra: Any,
    ) -> Reply:
        headers = {} if pin is None else {"pin": pin}
        return await self.call(
            "request_token",
            "POST",
            alias,
            "request_token",
            json_body={"display_name": name, **extra},
            headers=headers,
        )

    async def joined(
        self, alias: str = "meet", name: str = "bot", pin: str | None = None
    ) -> Member:
        reply = await self.join(alias, name, pin)
        assert reply.status == 200, reply.body
        return Member(self, alias, reply.result)


class Member:
    """A joined participant: its token and uuid plus shortcuts for its requests."""

    def __init__(self, api: Api, alias: str, result: dict[str, Any]) -> None:
        self.api = api
        self.alias = alias
        self.token: str = result["token"]
        self.uuid: str = result["participant_uuid"]
        self.role: str = result["role"]
        self.result = result

    async def conf(self, endpoint: str, path: str, body: Any = None, method: str = "POST") -> Reply:
        return await self.api.call(
            endpoint, method, self.alias, path, token=self.token, json_body=body
        )

    async def part(self, endpoint: str, target: str, path: str, body: Any = None) -> Reply:
        return await self.api.call(
            endpoint,
            "POST",
            self.alias,
            f"participants/{target}/{path}",
            token=self.token,
            json_body=body,
        )

    async def call_fn(self, endpoint: str, call_uuid: str, path: str, body: Any = None) -> Reply:
        return await self.part(endpoint, self.uuid, f"calls/{call_uuid}/{path}", body)

    async def events(self) -> EventStream:
        stream = EventStream(self.api.http, self.api.url(self.alias, f"events?token={self.token}"))
        await stream.open()
        return stream


class EventStream:
    """Reads a text/event-stream into (event, data) tuples."""

    def __init__(self, http: aiohttp.ClientSession, url: str) -> None:
        self.http = http
        self.url = url
        self.queue: asyncio.Queue[tuple[str, Any] | None] = asyncio.Queue()
        self.comments = 0
        self.status = 0
        self._task: asyncio.Task[None] | None = None
        self._opened = asyncio.Event()

    async def open(self) -> None:
        self._task = asyncio.create_task(self._run())
        await asyncio.wait_for(self._opened.wait(), 5)

    async def _run(self) -> None:
        try:
            async with self.http.get(self.url) as resp:
                self.status = resp.status
                self.content_type = resp.headers.get("Content-Type", "")
                self._opened.set()
                if resp.status != 200:
                    return
                name, data_lines = "message", list[str]()
                async for raw in resp.content:
                    line = raw.decode().rstrip("\r\n")
                    if not line:
                        if data_lines:
                            self.queue.put_nowait((name, json.loads("\n".join(data_lines))))
                        name, data_lines = "message", []
                    elif line.startswith(":"):
                        self.comments += 1
                    elif line.startswith("event:"):
                        name = line[6:].strip()
                    elif line.startswith("data:"):
                        data_lines.append(line[5:].strip())
        except aiohttp.ClientError:
            pass
        finally:
            self._opened.set()
            self.queue.put_nowait(None)

    async def next(self, timeout: float = 5.0) -> tuple[str, Any] | None:
        return await asyncio.wait_for(self.queue.get(), timeout)

    async def until(self, name: str, timeout: float = 5.0, **match: Any) -> Any:
        """Skip events until `name` arrives (with data fields equal to `match`)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            item = await self.next(max(deadline - loop.time(), 0.01))
            assert item is not None, f"stream ended before {name}"
            event, data = item
            if event == name and all(
                isinstance(data, dict) and data.get(k) == v for k, v in match.items()
            ):
                return data

    async def sync(self) -> list[dict[str, Any]]:
        """The participant list of the sync that starts every connection."""
        first = await self.next()
        assert first == ("participant_sync_begin", None), first
        creates: list[dict[str, Any]] = []
        while True:
            item = await self.next()
            assert item is not None
            if item[0] == "participant_sync_end":
                assert item[1] is None
                return creates
            assert item[0] == "participant_create", item
            creates.append(item[1])

    async def ended(self, timeout: float = 5.0) -> bool:
        """True once the server has closed the stream (remaining events are drained)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            item = await self.next(max(deadline - loop.time(), 0.01))
            if item is None:
                return True

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)


def fast_config(**overrides: Any) -> NodeConfig:
    """The default services with quick dial-out and keepalives and the control API on
    (token `CONTROL_TOKEN`), for tests."""
    base = default_config().model_dump()
    base["dial"]["delay"] = 0.2
    base["event_keepalive"] = 0.5
    base["control"] = {"enabled": True, "token": CONTROL_TOKEN}
    base.update(overrides)
    return NodeConfig.model_validate(base)


@pytest.fixture
def node_config() -> NodeConfig:
    return fast_config()


@pytest.fixture
async def node(node_config: NodeConfig) -> AsyncIterator[LocalNode]:
    async with LocalNode(node_config, host="127.0.0.1", port=0) as running:
        yield running


@pytest.fixture
def seen() -> Seen:
    return Seen()


@pytest.fixture
async def api(node: LocalNode, seen: Seen) -> AsyncIterator[Api]:
    async with aiohttp.ClientSession() as http:
        yield Api(http, node, seen)
