"""The node's control API (`/_node/...`): off unless enabled, then behind a bearer token
and JSON-only, so neither another local user nor a web page can drive it."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest
from multidict import CIMultiDictProxy

from agent.node import ControlConfig, LocalNode, NodeConfig, default_config
from tests.support.inspect_node import CONTROL_TOKEN, control, with_control

ROUTES = [
    ("GET", "state"),
    ("GET", "participants/x"),
    ("GET", "participants/x/dtmf"),
    ("POST", "participants/x/events"),
    ("POST", "participants/x/calls/y/renegotiate"),
    ("GET", "faults"),
    ("POST", "faults"),
]


async def _raw(
    node: LocalNode,
    method: str,
    path: str,
    *,
    headers: dict[str, str] | None = None,
    data: str | None = None,
    json: Any = None,
) -> tuple[int, Any, CIMultiDictProxy[str]]:
    async with (
        aiohttp.ClientSession() as http,
        http.request(
            method, f"{node.base_url}/_node/{path}", headers=headers, data=data, json=json
        ) as r,
    ):
        return r.status, await r.json(content_type=None), r.headers


async def test_off_by_default_every_route_is_absent() -> None:
    async with LocalNode(default_config()) as node:
        assert node.control_token is None
        for method, path in ROUTES:
            status, _, _ = await _raw(node, method, path, json={"refuse_refresh": True})
            assert status == 404, (method, path)
        assert node.ctx.faults.config.refuse_refresh is False


async def test_every_route_needs_the_token() -> None:
    async with LocalNode(with_control()) as node:
        for method, path in ROUTES:
            for headers in (
                None,
                {"Authorization": "Bearer wrong-token-0123456789"},
                {"Authorization": f"Basic {CONTROL_TOKEN}"},
                {"token": CONTROL_TOKEN},
            ):
                status, body, sent = await _raw(node, method, path, headers=headers, json={})
                assert status == 401, (method, path, headers)
                assert body == {
                    "status": "failed",
                    "result": "Control API token required: Authorization: Bearer <token>",
                }
                assert sent["WWW-Authenticate"].startswith("Bearer")
        status, body = await control(node, "GET", "state")
        assert status == 200 and "meet" in body["result"]


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data"]
)
async def test_posts_must_be_json(content_type: str) -> None:
    """What a web page can POST cross-origin without a preflight is refused, token or not."""
    async with LocalNode(with_control()) as node:
        auth = {"Authorization": f"Bearer {CONTROL_TOKEN}"}
        body = '{"refuse_refresh": true}'
        for headers in ({"Content-Type": content_type}, {**auth, "Content-Type": content_type}):
            status, _, _ = await _raw(node, "POST", "faults", headers=headers, data=body)
            assert status in (401, 415)
        status, reply, _ = await _raw(
            node, "POST", "faults", headers={**auth, "Content-Type": content_type}, data=body
        )
        assert (status, reply["result"]) == (415, "Control API requests must be application/json")
        status, reply, _ = await _raw(node, "POST", "faults", headers=auth)  # no type at all
        assert status == 415
        assert node.ctx.faults.config.refuse_refresh is False
        assert (await control(node, "POST", "faults", {"refuse_refresh": True}))[0] == 200
        assert node.ctx.faults.config.refuse_refresh is True


async def test_a_token_is_made_when_none_is_configured() -> None:
    config = default_config().model_copy(update={"control": ControlConfig(enabled=True)})
    async with LocalNode(config) as a, LocalNode(config) as b:
        assert a.control_token is not None and b.control_token is not None
        assert len(a.control_token) >= 24 and a.control_token != b.control_token
        assert (await control(a, "GET", "faults"))[0] == 200
        headers = {"Authorization": f"Bearer {b.control_token}"}
        assert (await _raw(a, "GET", "faults", headers=headers))[0] == 401


def test_a_short_configured_token_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 16 characters"):
        NodeConfig.model_validate({"control": {"enabled": True, "token": "short"}})


async def test_health_answers_without_the_control_api_and_tells_nothing() -> None:
    # Container health checks use /health: it must not need (or be) the control API.
    async with LocalNode(default_config()) as node, aiohttp.ClientSession() as http:
        async with http.get(f"{node.base_url}/health") as r:
            assert r.status == 200
            assert await r.json() == {"status": "ok"}
        async with http.get(f"{node.base_url}/_node/state") as r:
            assert r.status == 404
