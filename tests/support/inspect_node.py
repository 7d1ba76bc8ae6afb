"""Reading and steering a local node through its control API (`/_node/...`).

The control API is off unless enabled; `with_control` turns it on for a test node with a
fixed token, and every request here carries that token.
"""

from __future__ import annotations

from typing import Any

import aiohttp

from agent.node import ControlConfig, LocalNode, NodeConfig, default_config

CONTROL_TOKEN = "test-control-token-0123456789"


def with_control(config: NodeConfig | None = None) -> NodeConfig:
    """`config` (default: the built-in services) with the control API on."""
    base = config if config is not None else default_config()
    return base.model_copy(update={"control": ControlConfig(enabled=True, token=CONTROL_TOKEN)})


def control_headers(node: LocalNode) -> dict[str, str]:
    assert node.control_token is not None, "the node's control API is off (use with_control)"
    return {"Authorization": f"Bearer {node.control_token}"}


async def control(
    node: LocalNode, method: str, path: str, body: dict[str, Any] | None = None
) -> tuple[int, Any]:
    """One control request (`path` after `/_node/`): (status, parsed JSON body)."""
    async with (
        aiohttp.ClientSession() as http,
        http.request(
            method,
            f"{node.base_url}/_node/{path}",
            headers=control_headers(node),
            json={} if body is None and method == "POST" else body,
        ) as r,
    ):
        return r.status, await r.json()


async def node_state(node: LocalNode) -> dict[str, Any]:
    status, body = await control(node, "GET", "state")
    assert status == 200, body
    data: dict[str, Any] = body["result"]
    return data


async def names_in(node: LocalNode, alias: str) -> list[str]:
    conference = (await node_state(node)).get(alias, {})
    return [p["display_name"] for p in conference.get("participants", [])]


async def set_faults(node: LocalNode, **faults: Any) -> None:
    status, body = await control(node, "POST", "faults", faults)
    assert status == 200, body
