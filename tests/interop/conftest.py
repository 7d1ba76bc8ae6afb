"""Fixtures for the browser interop test: the local node, the same-origin page server, a
headless Chromium launcher, and an observer participant with its own event stream.

Like tests/e2e, nothing here uses the project's client library: the observer speaks raw
HTTP with aiohttp, so the node and the library cannot hide each other's bugs.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

import aiohttp
import pytest

from agent.node import LocalNode, NodeConfig
from tests.support.inspect_node import with_control

from .harness import INSTALL_HINT, Chromium, PageServer, missing_prerequisites


def require_prerequisites() -> None:
    """Chromium and the SDK bundle must be there: the test fails (never skips) without."""
    missing = missing_prerequisites()
    if missing:
        pytest.fail(
            "browser interop test cannot run: "
            + "; ".join(missing)
            + ". To install: "
            + INSTALL_HINT,
            pytrace=False,
        )


@pytest.fixture
def node_config() -> NodeConfig:
    return with_control()  # the tests read the node's state through its control API


@pytest.fixture
async def node(node_config: NodeConfig) -> AsyncIterator[LocalNode]:
    async with LocalNode(node_config, host="127.0.0.1", port=0) as running:
        yield running


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15)) as session:
        yield session


@pytest.fixture
async def page_server(node: LocalNode) -> AsyncIterator[PageServer]:
    async with PageServer(node.base_url) as server:
        yield server


class LaunchChromium(Protocol):
    """The `chromium` fixture: start Chromium on a URL (with extra command-line flags)."""

    def __call__(self, url: str, *, extra_flags: Sequence[str] = ()) -> Awaitable[Chromium]: ...


@pytest.fixture
async def chromium(tmp_path: Path) -> AsyncIterator[LaunchChromium]:
    """Start Chromium on a URL; every browser started is killed and reaped at teardown."""
    started: list[Chromium] = []

    async def launch(url: str, *, extra_flags: Sequence[str] = ()) -> Chromium:
        browser = Chromium(
            url, log_path=tmp_path / f"chromium-{len(started)}.log", extra_flags=extra_flags
        )
        started.append(browser)
        await browser.start()
        return browser

    try:
        yield launch
    finally:
        for browser in started:
            await browser.stop()


class Observer:
    """A second participant joined with raw HTTP; records its event stream."""

    def __init__(self, http: aiohttp.ClientSession, api_url: str, result: dict[str, Any]):
        self.http = http
        self.api_url = api_url
        self.token: str = result["token"]
        self.uuid: str = result["participant_uuid"]
        self.events: list[tuple[str, Any]] = []
        self._changed = asyncio.Condition()
        self._task: asyncio.Task[None] | None = None
        self._opened = asyncio.Event()

    @classmethod
    async def join(cls, http: aiohttp.ClientSession, api_url: str, name: str, pin: str) -> Observer:
        async with http.post(
            f"{api_url}/request_token", json={"display_name": name}, headers={"pin": pin}
        ) as resp:
            body = await resp.json()
            assert resp.status == 200, (resp.status, body)
        observer = cls(http, api_url, body["result"])
        observer._task = asyncio.create_task(observer._read())
        await asyncio.wait_for(observer._opened.wait(), 5)
        return observer

    async def _read(self) -> None:
        url = f"{self.api_url}/events?token={self.token}"
        try:
            async with self.http.get(url, timeout=aiohttp.ClientTimeout(total=None)) as resp:
                assert resp.status == 200, resp.status
                self._opened.set()
                name, data = "message", list[str]()
                async for raw in resp.content:
                    line = raw.decode().rstrip("\r\n")
                    if line.startswith("event:"):
                        name = line[6:].strip()
                    elif line.startswith("data:"):
                        data.append(line[5:].strip())
                    elif not line:
                        if data:
                            self.events.append((name, json.loads("\n".join(data))))
                            async with self._changed:
                                self._changed.notify_all()
                        name, data = "message", []
        except aiohttp.ClientError:
            pass
        finally:
            self._opened.set()

    def find(self, name: str, **match: Any) -> Any:
        for event, data in self.events:
            if event == name and all(
                isinstance(data, dict) and data.get(k) == v for k, v in match.items()
            ):
                return data
        return None

    async def wait_for(self, name: str, timeout: float, **match: Any) -> Any:
        async with asyncio.timeout(timeout), self._changed:
            await self._changed.wait_for(lambda: self.find(name, **match) is not None)
        return self.find(name, **match)

    async def leave(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        async with self.http.post(
            f"{self.api_url}/release_token", headers={"token": self.token}
        ) as resp:
            await resp.read()


@pytest.fixture
async def observer_factory(
    http: aiohttp.ClientSession, node: LocalNode
) -> AsyncIterator[Callable[[str, str, str], Awaitable[Observer]]]:
    observers: list[Observer] = []

    async def make(alias: str, name: str, pin: str) -> Observer:
        observer = await Observer.join(http, node.api_url(alias), name, pin)
        observers.append(observer)
        return observer

    try:
        yield make
    finally:
        for observer in observers:
            await observer.leave()
