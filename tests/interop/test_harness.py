"""The interop harness itself, without a browser: the same-origin proxy passes statuses,
headers and bodies through, and streams the event stream without buffering."""

from __future__ import annotations

import asyncio
import json

import aiohttp
import pytest

from agent.node import LocalNode
from tests.support.inspect_node import control

from .harness import PageServer

pytestmark = pytest.mark.interop


async def test_proxy_passes_api_through_and_streams_events(
    node: LocalNode, http: aiohttp.ClientSession, page_server: PageServer
) -> None:
    api = f"{page_server.base_url}/api/client/v2/conferences/secure"
    async with http.post(f"{api}/request_token", json={"display_name": "a"}) as resp:
        assert resp.status == 403
        assert resp.headers["Content-Type"].startswith("application/json")
        assert (await resp.json())["result"]["pin"] == "required"
    async with http.post(
        f"{api}/request_token", json={"display_name": "a"}, headers={"pin": "1234"}
    ) as resp:
        assert resp.status == 200
        token = (await resp.json())["result"]["token"]

    async with http.get(f"{api}/events?token={token}") as stream:
        assert stream.status == 200
        assert stream.headers["Content-Type"].startswith("text/event-stream")
        seen = b""
        async with asyncio.timeout(5):
            while b"participant_sync_end" not in seen:
                seen += await stream.content.readany()
            # A live event sent now must come through the proxy at once, not when the
            # response ends.
            status, _ = await control(
                node,
                "POST",
                f"participants/{_uuid(seen)}/events",
                {"event": "refresh_token", "data": None},
            )
            assert status == 200
            while b"event: refresh_token" not in seen:
                seen += await stream.content.readany()

    async with http.get(f"{page_server.base_url}/page.html") as resp:
        assert resp.status == 200
        assert "createInfinityClient" in await resp.text()
    async with http.post(f"{page_server.base_url}/log", json={"event": "hello"}) as resp:
        assert resp.status == 204
    assert (await page_server.wait_for_log("hello", timeout=1))["event"] == "hello"
    assert [r.status for r in page_server.proxied("request_token")] == [403, 200]


def _uuid(sse: bytes) -> str:
    """The participant uuid of the only participant_create in a sync."""
    for block in sse.decode().split("\n\n"):
        if "event: participant_create" in block:
            data = block.split("data: ", 1)[1]
            return str(json.loads(data)["uuid"])
    raise AssertionError(sse)
