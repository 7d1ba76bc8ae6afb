"""The emulated OpenVidu Pro server on its own, over raw HTTP (not through the client):
the seed's quirks, its control API, webhook emission, auth, configuration, v3 mode."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from agent.config import ConfigError
from agent.openvidu_server import (
    NodeSpec,
    OpenViduServer,
    OpenViduServerConfig,
    WebhookSpec,
    load_config,
)
from tests.support.openvidu_support import ScriptedServer, eventually

FIXTURES = Path(__file__).parents[1] / "support" / "openvidu_fixtures"
AUTH = {"Authorization": "Basic " + base64.b64encode(b"OPENVIDUAPP:MY_SECRET").decode()}


class Raw:
    """aiohttp calls with OpenVidu's Basic auth, returning (status, parsed body)."""

    def __init__(self, base: str, session: aiohttp.ClientSession) -> None:
        self.base = base
        self.session = session

    async def __call__(
        self, method: str, path: str, *, auth: bool = True, **kw: Any
    ) -> tuple[int, Any]:
        headers = {**(AUTH if auth else {}), **kw.pop("headers", {})}
        async with self.session.request(method, self.base + path, headers=headers, **kw) as r:
            text = await r.text()
            try:
                return r.status, json.loads(text) if text else None
            except ValueError:
                return r.status, text


@pytest.fixture
async def raw() -> AsyncIterator[tuple[OpenViduServer, Raw]]:
    config = OpenViduServerConfig(
        profile="both",
        nodes=[NodeSpec(id="a", load=10), NodeSpec(id="b", sessions=["s1"])],
    )
    async with OpenViduServer(config) as server, aiohttp.ClientSession() as session:
        yield server, Raw(server.base_url, session)


async def test_auth_on_the_api_but_not_on_the_control_api(
    raw: tuple[OpenViduServer, Raw],
) -> None:
    _server, call = raw
    status, _ = await call("GET", "/openvidu/api/media-nodes", auth=False)
    assert status == 401
    wrong = {"Authorization": "Basic " + base64.b64encode(b"OPENVIDUAPP:nope").decode()}
    assert (await call("GET", "/pro/media-nodes", auth=False, headers=wrong))[0] == 401
    assert (await call("GET", "/_openvidu/state", auth=False))[0] == 200


async def test_seed_quirks_are_tolerated(raw: tuple[OpenViduServer, Raw]) -> None:
    server, call = raw
    # GETs and DELETEs sent with the seed's form Content-Type and no body.
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    status, listing = await call("GET", "/pro/media-nodes?sessions=false", headers=form)
    assert status == 200 and listing["numberOfElements"] == 2
    # The documented `wait` on DELETE, although the seed's table omits it.
    url = "/pro/media-nodes/a?wait=false&deletion-strategy=now"
    assert (await call("DELETE", url, headers=form))[0] == 204
    # The restart sample verbatim (shell-escaped quotes), at the seed's trailing-slash URL.
    sample = (FIXTURES / "seed_restart_body.txt").read_bytes()
    with pytest.raises(ValueError):
        json.loads(sample)
    status, _ = await call(
        "POST", "/pro/restart/", data=sample, headers={"Content-Type": "application/json"}
    )
    assert status == 200
    assert server.webhooks.headers == {"Authorization": "Basic T1BFTlZJRFVBUFA6TVlfU0VDUkVU"}
    assert server.webhooks.events == {"recordingStatusChanged"}
    _, config = await call("GET", "/openvidu/api/config/")
    assert config["OPENVIDU_RECORDING_AUTOSTOP_TIMEOUT"] == 120
    assert "OPENVIDU_SECRET" not in config and "OPENVIDU_WEBHOOK_HEADERS" not in config


async def test_bad_requests_name_the_problem(raw: tuple[OpenViduServer, Raw]) -> None:
    _server, call = raw
    cases: list[tuple[str, str, dict[str, Any], str]] = [
        ("GET", "/openvidu/api/media-nodes?sessions=maybe", {}, "query parameter sessions"),
        ("PATCH", "/openvidu/api/media-nodes/a", {"json": {}}, "a JSON object with a status"),
        ("PATCH", "/openvidu/api/media-nodes/a", {"json": {"status": "on"}}, "status must be"),
        ("POST", "/openvidu/api/media-nodes", {"data": b"{"}, "body is not valid JSON"),
        ("POST", "/openvidu/api/media-nodes", {"json": {"uri": 7}}, "uri must be a string"),
        ("DELETE", "/pro/media-nodes/a?deletion-strategy=later", {}, "deletion-strategy must"),
        ("POST", "/pro/restart", {"json": {"OPENVIDU_CDR": "yes"}}, "OPENVIDU_CDR must be boolean"),
        ("POST", "/pro/restart", {"json": {"KMS_URIS": []}}, "cannot be modified"),
        ("POST", "/pro/restart", {"json": [1]}, "body must be a JSON object"),
    ]
    for method, path, kw, expected in cases:
        status, body = await call(method, path, **kw)
        assert status == 400, (method, path)
        assert expected in body["message"], body
        assert body["error"] == "Bad Request" and body["status"] == 400
        assert body["path"] == path.split("?")[0]


async def test_control_api_scripts_the_cluster(raw: tuple[OpenViduServer, Raw]) -> None:
    server, call = raw
    assert (await call("POST", "/_openvidu/media-nodes/a/load", json={"load": 88.5}))[0] == 204
    assert (await call("POST", "/_openvidu/media-nodes/a/load", json={"load": 101}))[0] == 400
    assert (await call("POST", "/_openvidu/media-nodes/zz/crash"))[0] == 404
    status, body = await call("POST", "/_openvidu/media-nodes/a/sessions", json={"sessionId": "s2"})
    assert status == 201, body
    assert (await call("POST", "/_openvidu/media-nodes/a/sessions", json={"sessionId": "s2"}))[
        0
    ] == 409
    _, node = await call("GET", "/openvidu/api/media-nodes/a?sessions=true")
    assert node["load"] == 88.5 and [s["id"] for s in node["sessions"]] == ["s2"]
    # Quarantine, then the last session ends: the node terminates itself.
    assert (await call("DELETE", "/openvidu/api/media-nodes/a?deletion-strategy=when-no-sessions"))[
        0
    ] == 202
    assert (await call("POST", "/_openvidu/media-nodes/a/sessions", json={"sessionId": "s3"}))[
        0
    ] == 409
    assert (await call("DELETE", "/_openvidu/media-nodes/a/sessions/s2"))[0] == 204
    await eventually(lambda: "a" not in server.cluster.nodes)
    # Crash and recovery show in the node and as webhook events.
    assert (await call("POST", "/_openvidu/media-nodes/b/crash"))[0] == 204
    _, node = await call("GET", "/pro/media-nodes/b")
    assert node["connected"] is False and node["disconnectionTime"] > 0
    assert (await call("POST", "/_openvidu/media-nodes/b/recover"))[0] == 204
    _, events = await call("GET", "/_openvidu/events")
    names = [e["event"] for e in events]
    assert names[-2:] == ["nodeCrashed", "nodeRecovered"]
    assert events[-2]["sessionIds"] == ["s1"] and events[-2]["nodeRole"] == "medianode"
    faults = {"fail_next_launch": True, "unreachable_uris": ["ws://x:8888/kurento"]}
    assert (await call("POST", "/_openvidu/faults", json=faults))[0] == 204
    assert (await call("POST", "/_openvidu/faults", json={"explode": True}))[0] == 400
    _, state = await call("GET", "/_openvidu/state")
    assert state["faults"]["fail_next_launch"] is True
    assert (await call("POST", "/openvidu/api/media-nodes", json={"uri": "ws://x:8888/kurento"}))[
        0
    ] == 404


async def test_webhooks_reach_the_endpoint_in_order_with_headers() -> None:
    async with ScriptedServer() as hook:
        hook.add("POST", "/hook", 200, repeat=True)
        config = OpenViduServerConfig(
            nodes=[NodeSpec(id="a")],
            environment="aws",
            webhook=WebhookSpec(
                endpoint=f"{hook.url}/hook",
                headers=["Authorization: Basic abc"],
                events=["mediaNodeStatusChanged"],
            ),
        )
        async with OpenViduServer(config) as server, aiohttp.ClientSession() as session:
            call = Raw(server.base_url, session)
            status, node = await call("POST", "/openvidu/api/media-nodes?wait=true", json={})
            assert status == 200 and node["status"] == "running"
            await call("POST", f"/_openvidu/media-nodes/{node['id']}/crash")  # filtered out
            await eventually(lambda: server.webhooks.delivered == 2)
    sent = [json.loads(body) for _m, _p, body in hook.requests]
    assert hook.authorizations == ["Basic abc", "Basic abc"]
    first, second = sent
    assert (first["oldStatus"], first["newStatus"], second["newStatus"]) == (
        None,
        "launching",
        "running",
    )
    for event in sent:
        assert event["event"] == "mediaNodeStatusChanged"
        assert event["clusterId"] == "pexbot-emulated" and event["timestamp"] > 0
        assert set(event) >= {"id", "environmentId", "ip", "uri"}


async def test_v3_answers_config_but_no_media_nodes() -> None:
    async with (
        OpenViduServer(OpenViduServerConfig(profile="v3")) as server,
        aiohttp.ClientSession() as session,
    ):
        call = Raw(server.base_url, session)
        status, config = await call("GET", "/openvidu/api/config")
        assert status == 200 and config["VERSION"] == "3.0.0"
        assert (await call("GET", "/openvidu/api/media-nodes"))[0] == 404
        assert (await call("GET", "/pro/media-nodes"))[0] == 404
        assert (await call("GET", "/openvidu/api/health"))[1] == {"status": "UP"}


def test_config_file_errors_name_the_field(tmp_path: Path) -> None:
    bad = tmp_path / "ov.toml"
    bad.write_text('profile = "v4"\n[[nodes]]\nid = "a"\nload = 120\n')
    with pytest.raises(ConfigError) as err:
        load_config(bad)
    lines = str(err.value).splitlines()
    assert lines[0].startswith(f"{bad}: profile: Input should be 'openvidu-api'")
    assert lines[1].startswith(f"{bad}: nodes.0.load: Input should be less than or equal to 100")
    dup = tmp_path / "dup.toml"
    dup.write_text('[[nodes]]\nid = "a"\n[[nodes]]\nid = "a"\n')
    with pytest.raises(ConfigError, match="node ids must be unique"):
        load_config(dup)
    good = tmp_path / "good.toml"
    good.write_text(
        'profile = "pro"\nlaunch_delay = 1.5\n[[nodes]]\nid = "x"\nload_script = [5, 90]\n'
    )
    config = load_config(good)
    assert config.profile == "pro" and config.nodes[0].load_script == [5, 90]
    assert config.effective_version == "2.15.0"
