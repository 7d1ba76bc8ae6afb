"""The control API's impairment routes: read, change, reset, per participant; bad values
get a 400 naming the field; no token, no access."""

from __future__ import annotations

import aiohttp

from agent.node import LocalNode
from tests.e2e.conftest import Api
from tests.support.inspect_node import control


async def test_impairment_can_be_read_changed_and_reset(node: LocalNode) -> None:
    status, body = await control(node, "GET", "impairment")
    assert status == 200
    assert body["result"]["all"]["tx"]["loss"] == 0 and body["result"]["counters"] == {}

    status, body = await control(
        node, "POST", "impairment", {"participants": {"Probe": {"tx": {"loss": 2, "jitter": 60}}}}
    )
    assert status == 200
    assert body["result"]["participants"]["Probe"]["tx"]["jitter"] == 60
    assert body["result"]["participants"]["Probe"]["rx"]["loss"] == 0

    status, body = await control(node, "POST", "impairment", {"all": {"rx": {"loss": 101}}})
    assert status == 400
    assert body["result"] == "all.rx.loss: Input should be less than or equal to 100"
    status, body = await control(node, "POST", "impairment", {"everyone": {}})
    assert (status, body["result"]) == (400, "everyone: Extra inputs are not permitted")

    status, body = await control(node, "POST", "impairment", {"reset": True})
    assert status == 200 and body["result"]["participants"] == {}


async def test_one_participant_gets_its_own_impairment(node: LocalNode, api: Api) -> None:
    member = await api.joined("meet", "Probe")
    path = f"participants/{member.uuid}/impairment"
    status, body = await control(node, "POST", path, {"rx": {"delay": 150}})
    assert status == 200 and body["result"]["rx"]["delay"] == 150
    status, body = await control(node, "GET", "impairment")
    assert body["result"]["overrides"][member.uuid]["rx"]["delay"] == 150
    status, body = await control(node, "POST", path, {"rx": {"loss_model": "often"}})
    assert status == 400 and body["result"].startswith("rx.loss_model: Input should be")
    status, body = await control(node, "POST", path, {"reset": True})
    assert status == 200 and body["result"] is None
    status, body = await control(node, "POST", "participants/nobody/impairment", {})
    assert status == 404


async def test_no_token_no_impairment(node: LocalNode) -> None:
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{node.base_url}/_node/impairment", json={"all": {}}) as resp,
    ):
        assert resp.status == 401
