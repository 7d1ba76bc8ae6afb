"""Reading and steering a local node through its test-only `/_node/` routes."""

from __future__ import annotations

from typing import Any

import aiohttp

from agent.node import LocalNode


async def node_state(node: LocalNode) -> dict[str, Any]:
    async with aiohttp.ClientSession() as http, http.get(f"{node.base_url}/_node/state") as r:
        data: dict[str, Any] = (await r.json())["result"]
        return data


async def names_in(node: LocalNode, alias: str) -> list[str]:
    conference = (await node_state(node)).get(alias, {})
    return [p["display_name"] for p in conference.get("participants", [])]


async def set_faults(node: LocalNode, **faults: Any) -> None:
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{node.base_url}/_node/faults", json=faults) as r,
    ):
        assert r.status == 200, await r.text()
