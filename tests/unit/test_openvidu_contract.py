"""Contract of the OpenVidu client against the emulated OpenVidu Pro server, in both path
profiles: every operation, every documented status, every legal and illegal transition.

Real HTTP on 127.0.0.1; the server shares no code with the client.
"""

from __future__ import annotations

import itertools
from typing import Literal

import pytest
from aiohttp import web

from agent._http_server import AppServer
from agent.admin.openvidu import (
    MEDIA_NODE_STATUSES,
    OPENVIDU_API,
    PATCH_TRANSITIONS,
    PRO,
    AutodiscoveryNotPossibleError,
    BadRequestError,
    DuplicateMediaNodeError,
    IllegalTransitionError,
    LaunchFailedError,
    MediaNodeApiNotAvailableError,
    MediaNodeBusyError,
    MediaNodeNotFoundError,
    MediaNodeUnreachableError,
    OpenViduClient,
    OpenViduUnauthorizedError,
    TerminationFailedError,
    UriRequiredError,
)
from agent.openvidu_server import NodeSpec, OpenViduServer, OpenViduServerConfig
from tests.support.openvidu_support import SECRET, eventually, running, two_nodes

PROFILES = ["openvidu-api", "pro"]


@pytest.fixture(params=PROFILES)
def profile(request: pytest.FixtureRequest) -> str:
    return str(request.param)


# -- path profiles ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("server_profile", "expected"),
    [("openvidu-api", OPENVIDU_API), ("pro", PRO), ("both", OPENVIDU_API)],
)
async def test_profile_is_detected_once(server_profile: str, expected: object) -> None:
    async with running(two_nodes(server_profile)) as (_server, client, transport):
        assert await client.detect_profile() == expected
        await client.list_media_nodes()
        await client.get_media_node("idle")
        await client.get_config()
        paths = [path for _m, path, _q in transport.sent]
    probes = [p for p in paths if p.endswith("/config")]
    # One detection probe (or two on 2.13-2.15), then get_config itself.
    assert len(probes) == (3 if expected is PRO else 2)
    prefix = "/openvidu/api/" if expected is OPENVIDU_API else "/pro/"
    assert all(p.startswith(prefix) for p in paths if "media-nodes" in p)


async def test_config_at_ce_path_with_nodes_under_pro() -> None:
    """A server that answers config only at CE's /config still has /pro/media-nodes."""

    async def config(request: web.Request) -> web.Response:
        return web.json_response({"VERSION": "2.13.0"})

    async def nodes(request: web.Request) -> web.Response:
        return web.json_response({"numberOfElements": 0, "content": []})

    app = web.Application()
    app.router.add_get("/config", config)
    app.router.add_get("/pro/media-nodes", nodes)
    async with AppServer(app) as server, OpenViduClient(server.base_url, SECRET) as client:
        profile = await client.detect_profile()
        assert (profile.config, profile.media_nodes) == ("/config", "/pro/media-nodes")
        assert (await client.get_config()).version == "2.13.0"
        assert (await client.list_media_nodes()).number_of_elements == 0


async def test_v3_has_no_media_node_api() -> None:
    async with running(two_nodes("v3")) as (_server, client, _t):
        with pytest.raises(MediaNodeApiNotAvailableError) as err:
            await client.list_media_nodes()
    assert "media-node API not available (OpenVidu v3?)" in str(err.value)
    assert "VERSION 3.0.0" in str(err.value)


async def test_server_with_neither_path() -> None:
    async with (
        AppServer(web.Application()) as server,
        OpenViduClient(server.base_url, SECRET) as client,
    ):
        with pytest.raises(MediaNodeApiNotAvailableError) as err:
            await client.get_media_node("x")
    assert str(err.value).startswith("media-node API not available (OpenVidu v3?)")
    assert err.value.exit_code == 6


async def test_forced_profile_skips_detection(profile: str) -> None:
    async with OpenViduServer(two_nodes(profile)) as server:
        forced: Literal["openvidu-api", "pro"] = (
            "openvidu-api" if profile == "openvidu-api" else "pro"
        )
        async with OpenViduClient(server.base_url, SECRET, profile=forced) as client:
            assert client.profile is not None
            assert [n.id for n in (await client.list_media_nodes()).content] == ["idle", "busy"]


async def test_wrong_secret_is_401(profile: str) -> None:
    async with running(two_nodes(profile), secret="not-it") as (_s, client, _t):
        with pytest.raises(OpenViduUnauthorizedError) as err:
            await client.list_media_nodes()
    assert err.value.status == 401
    assert "not-it" not in str(err.value)


# -- reads --------------------------------------------------------------------------------


async def test_list_and_get(profile: str) -> None:
    async with running(two_nodes(profile)) as (_server, client, _t):
        listing = await client.list_media_nodes()
        assert listing.number_of_elements == 2
        idle, busy = listing.content
        assert (idle.id, idle.status, idle.load, idle.connected) == ("idle", "running", 10.0, True)
        assert idle.sessions is None and idle.kurento_info is None
        with_sessions = await client.get_media_node("busy", sessions=True, extra_info=True)
        assert with_sessions.sessions is not None
        assert [s.session_id for s in with_sessions.sessions] == ["ses_1"]
        assert with_sessions.kurento_info is not None
        assert busy.uri == with_sessions.uri and busy.ip == "10.0.0.2"
        modern = await client.get_media_node("idle", recordings=True)
    if profile == "openvidu-api":  # the 2.16+ additions
        assert modern.object_type == "mediaNode" and modern.launching_time is not None
        assert modern.recording_ids == [] and modern.broadcasts == []
    else:
        assert modern.object_type is None and modern.recording_ids is None


async def test_get_unknown_node_is_404(profile: str) -> None:
    async with running(two_nodes(profile)) as (_server, client, _t):
        with pytest.raises(MediaNodeNotFoundError) as err:
            await client.get_media_node("nope")
    assert err.value.status == 404
    assert "Media Node nope does not exist" in str(err.value)


async def test_config(profile: str) -> None:
    async with running(two_nodes(profile)) as (_server, client, _t):
        config = await client.get_config()
    assert config.version == ("2.30.0" if profile == "openvidu-api" else "2.15.0")
    assert config.cluster_id == "pexbot-emulated"
    assert config.autoscaling_max_load == 70 and config.autoscaling_min_load == 20
    assert config.model_extra is not None and "OPENVIDU_PUBLICURL" in config.model_extra


# -- POST (add) ---------------------------------------------------------------------------

NEW_URI = "ws://10.9.9.9:8888/kurento"


async def test_add_on_premises(profile: str) -> None:
    config = two_nodes(profile, launch_delay=0.5)
    async with running(config) as (server, client, _t):
        launching = await client.add_media_node(NEW_URI)  # 200 at once, still launching
        assert launching.status == "launching" and launching.uri == NEW_URI
        await eventually(lambda: server.cluster.nodes[launching.id].status == "running")
        waited = await client.add_media_node("ws://10.9.9.8:8888/kurento", wait=True)
        assert waited.status == "running" and waited.connected is True
        assert waited.connection_time is not None


async def test_add_errors_on_premises(profile: str) -> None:
    config = two_nodes(profile, reachable_uris=[NEW_URI, "ws://10.0.0.1:8888/kurento"])
    async with running(config) as (_server, client, _t):
        with pytest.raises(UriRequiredError) as e501:
            await client.add_media_node()
        with pytest.raises(BadRequestError) as e400:
            await client.add_media_node("http://10.9.9.9/")
        with pytest.raises(MediaNodeUnreachableError) as e404:
            await client.add_media_node("ws://10.6.6.6:8888/kurento")
        with pytest.raises(DuplicateMediaNodeError) as e409:
            await client.add_media_node("ws://10.0.0.1:8888/kurento")
    assert [e.value.status for e in (e400, e404, e409, e501)] == [400, 404, 409, 501]


async def test_add_in_the_cloud_launches_and_can_fail(profile: str) -> None:
    config = two_nodes(profile, environment="aws", launch_delay=0.05)
    async with running(config) as (server, client, _t):
        node = await client.add_media_node("ws://ignored:8888/kurento", wait=True)
        assert node.status == "running" and node.uri != "ws://ignored:8888/kurento"
        server.cluster.faults.fail_next_launch = True
        with pytest.raises(LaunchFailedError) as err:
            await client.add_media_node(wait=True)
        assert err.value.status == 502
        failed = [n for n in (await client.list_media_nodes()).content if n.status == "failed"]
        assert len(failed) == 1


# -- DELETE (remove) ----------------------------------------------------------------------


async def test_remove_strategies(profile: str) -> None:
    async with running(two_nodes(profile)) as (server, client, _t):
        with pytest.raises(MediaNodeBusyError) as busy:
            await client.remove_media_node("busy")  # if-no-sessions is the default
        assert busy.value.status == 409
        assert server.cluster.nodes["busy"].status == "running"

        assert await client.remove_media_node("busy", strategy="when-no-sessions") == "quarantined"
        assert (await client.get_media_node("busy")).status == "waiting-idle-to-terminate"
        server.cluster.close_session("busy", "ses_1", "lastParticipantLeft")
        await eventually(lambda: "busy" not in server.cluster.nodes)

        assert await client.remove_media_node("idle", strategy="when-no-sessions") == "removed"
        with pytest.raises(MediaNodeNotFoundError) as gone:
            await client.remove_media_node("idle", wait=True)
        assert gone.value.status == 404


async def test_remove_now_closes_sessions(profile: str) -> None:
    async with running(two_nodes(profile)) as (server, client, _t):
        outcome = await client.remove_media_node(
            "busy", strategy="now", wait=True, confirm_now=True
        )
        assert outcome == "removed"
        with pytest.raises(MediaNodeNotFoundError):
            await client.get_media_node("busy")  # wait=true: gone when answered
        destroyed = [e for e in server.webhooks.emitted if e["event"] == "sessionDestroyed"]
        assert [(e["sessionId"], e["reason"]) for e in destroyed] == [
            ("ses_1", "mediaServerDisconnect")
        ]


async def test_remove_if_no_sessions_on_idle_node(profile: str) -> None:
    async with running(two_nodes(profile, termination_delay=0.2)) as (server, client, _t):
        assert await client.remove_media_node("idle") == "removed"
        assert server.cluster.nodes["idle"].status == "terminating"
        await eventually(lambda: "idle" not in server.cluster.nodes)


async def test_remove_termination_failure_in_the_cloud(profile: str) -> None:
    async with running(two_nodes(profile, environment="aws")) as (server, client, _t):
        server.cluster.faults.fail_next_termination = True
        with pytest.raises(TerminationFailedError) as err:
            await client.remove_media_node("idle")
    assert err.value.status == 502


# -- PATCH (status) -----------------------------------------------------------------------


def _transition_nodes() -> list[NodeSpec]:
    """One node in each status a PATCH can start from (sessions keep quarantine open)."""
    return [
        NodeSpec(id="launching", status="launching"),
        NodeSpec(id="canceled", status="canceled"),
        NodeSpec(id="running", sessions=["s_r"]),
        NodeSpec(
            id="waiting-idle-to-terminate", status="waiting-idle-to-terminate", sessions=["s_w"]
        ),
        NodeSpec(id="failed", status="failed"),
        NodeSpec(id="doomed"),
    ]


def _config(profile: str) -> OpenViduServerConfig:
    # Launches and terminations that do not finish during the test.
    return OpenViduServerConfig(
        profile=profile,
        launch_delay=60,
        termination_delay=60,
        nodes=_transition_nodes(),
    )


async def test_every_illegal_transition_is_400(profile: str) -> None:
    async with running(_config(profile)) as (server, client, _t):
        await client.remove_media_node("doomed", strategy="now", confirm_now=True)
        node_in = {s: s for s in ("launching", "canceled", "running", "failed")}
        node_in["waiting-idle-to-terminate"] = "waiting-idle-to-terminate"
        node_in["terminating"] = "doomed"  # stays terminating for the test's length
        refused = 0
        for start, target in itertools.product(node_in, MEDIA_NODE_STATUSES):
            if start == target or (start, target) in PATCH_TRANSITIONS:
                continue
            with pytest.raises(IllegalTransitionError) as err:
                await client.set_media_node_status(node_in[start], target)
            assert err.value.status == 400
            assert f"cannot go from {start} to {target}" in str(err.value)
            assert server.cluster.nodes[node_in[start]].status == start
            refused += 1
    assert refused == 6 * 6 - len(PATCH_TRANSITIONS)


@pytest.mark.parametrize(("start", "target"), sorted(PATCH_TRANSITIONS))
async def test_every_legal_transition_is_200(profile: str, start: str, target: str) -> None:
    async with running(_config(profile)) as (server, client, _t):
        node = await client.set_media_node_status(start, target)  # type: ignore[arg-type]
        assert node is not None and node.status == target
        assert server.cluster.nodes[start].status == target
        changes = [e for e in server.webhooks.emitted if e["event"] == "mediaNodeStatusChanged"]
        assert (changes[-1]["oldStatus"], changes[-1]["newStatus"]) == (start, target)


async def test_same_status_is_204_and_unknown_node_404(profile: str) -> None:
    async with running(_config(profile)) as (server, client, _t):
        for status in ("launching", "canceled", "running", "failed"):
            assert await client.set_media_node_status(status, status) is None
        assert not server.webhooks.emitted
        with pytest.raises(MediaNodeNotFoundError) as err:
            await client.set_media_node_status("nope", "running")
    assert err.value.status == 404


async def test_quarantine_without_sessions_terminates(profile: str) -> None:
    async with running(two_nodes(profile)) as (server, client, _t):
        node = await client.set_media_node_status("idle", "waiting-idle-to-terminate")
        assert node is not None
        await eventually(lambda: "idle" not in server.cluster.nodes)
        emitted = server.webhooks.emitted
        statuses = [e["newStatus"] for e in emitted if e["event"] == "mediaNodeStatusChanged"]
        assert statuses == ["waiting-idle-to-terminate", "terminating", "terminated"]


async def test_canceled_launch_is_terminated_when_it_completes(profile: str) -> None:
    async with running(two_nodes(profile, launch_delay=1.0)) as (server, client, _t):
        node = await client.add_media_node(NEW_URI)
        await client.set_media_node_status(node.id, "canceled")
        await eventually(lambda: node.id not in server.cluster.nodes, timeout=5)


# -- PUT (autodiscover) -------------------------------------------------------------------


async def test_autodiscover(profile: str) -> None:
    found_uri = "ws://10.0.5.5:8888/kurento"
    config = two_nodes(profile, discoverable=[NodeSpec(id="found", uri=found_uri)])
    async with running(config) as (_server, client, _t):
        first = await client.autodiscover()
        assert first.number_of_elements == 1
        assert (first.content[0].id, first.content[0].status) == ("found", "running")
        again = await client.autodiscover()
        assert again.number_of_elements == 0 and again.content == []
        assert len((await client.list_media_nodes()).content) == 3


async def test_autodiscover_without_script_on_premises_is_405(profile: str) -> None:
    async with running(two_nodes(profile)) as (_server, client, _t):
        with pytest.raises(AutodiscoveryNotPossibleError) as err:
            await client.autodiscover()
    assert err.value.status == 405


# -- restart ------------------------------------------------------------------------------


async def test_restart_applies_properties_and_secret(profile: str) -> None:
    async with running(two_nodes(profile)) as (server, client, _t):
        await client.restart(
            {"OPENVIDU_CDR": True, "OPENVIDU_PRO_CLUSTER_AUTOSCALING_MAX_LOAD": 80},
            confirm_restart=True,
        )
        config = await client.get_config()
        assert config.autoscaling_max_load == 80
        assert config.model_extra is not None and config.model_extra["OPENVIDU_CDR"] is True
        assert server.cluster.nodes["busy"].sessions == {}  # a restart ends every session
        await client.restart({"OPENVIDU_SECRET": "NEW_SECRET"}, confirm_restart=True)
        with pytest.raises(OpenViduUnauthorizedError):
            await client.get_config()
        assert server.state.restarts[-1] == {"OPENVIDU_SECRET": "***"}


async def test_restart_refused_by_the_server_is_400(profile: str) -> None:
    async with running(two_nodes(profile)) as (_server, client, _t):
        with pytest.raises(BadRequestError) as bad:
            await client.restart(
                {"OPENVIDU_RECORDING_NOTIFICATION": "everyone"}, confirm_restart=True
            )
        assert bad.value.status == 400
        assert "OPENVIDU_RECORDING_NOTIFICATION must be one of" in str(bad.value)
        with pytest.raises(BadRequestError, match="OPENVIDU_WEBHOOK_ENDPOINT is mandatory"):
            await client.restart({"OPENVIDU_WEBHOOK": True}, confirm_restart=True)
