"""The media-node watcher against the emulated server: load alerts (once per crossing),
crash webhooks, merging with polls, Prometheus output, failure alerts, its webhook
receiver."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp

from agent.admin.openvidu import (
    Alert,
    MediaNodeList,
    MediaNodeWatcher,
    NodeCrashed,
    OpenViduClient,
    WatchConfig,
    WatchServer,
    WebhookAlertSink,
)
from agent.openvidu_server import NodeSpec
from tests.support.openvidu_support import ScriptedServer, eventually, running, two_nodes


class Collect:
    """An alert sink that keeps what it gets."""

    def __init__(self) -> None:
        self.got: list[Alert] = []

    async def send(self, alert: Alert) -> None:
        self.got.append(alert)

    async def aclose(self) -> None:
        return None


def kinds(watcher: MediaNodeWatcher) -> list[str]:
    return [a.kind for a in watcher.alerts]


def one_node(load: float = 10.0, **kw: Any) -> Any:
    return two_nodes("openvidu-api", nodes=[NodeSpec(id="n1", load=load, **kw)])


async def test_crossing_70_raises_one_alert_until_back_in_the_band() -> None:
    async with running(one_node()) as (server, client, _t):
        watcher = MediaNodeWatcher(client, sinks=[])
        await watcher.poll_once()
        assert kinds(watcher) == [] and watcher.average_load() == 10.0
        for load in (85, 90, 71, 99):  # four polls above 70
            server.cluster.set_load("n1", load)
            await watcher.poll_once()
        assert kinds(watcher) == ["load_high"]
        assert watcher.alerts[0].average_load == 85.0
        server.cluster.set_load("n1", 67)  # below 70 but inside the 5-point hysteresis
        await watcher.poll_once()
        assert kinds(watcher) == ["load_high"]
        server.cluster.set_load("n1", 50)
        await watcher.poll_once()
        server.cluster.set_load("n1", 80)
        await watcher.poll_once()
        assert kinds(watcher) == ["load_high", "load_normal", "load_high"]


async def test_scripted_load_raises_one_alert_while_polling() -> None:
    config = one_node(load_script=[10, 30, 75, 80, 95, 90, 85, 88])
    config = config.model_copy(update={"load_interval": 0.1})
    async with running(config) as (_server, client, _t):
        sink = Collect()
        async with MediaNodeWatcher(client, WatchConfig(interval=0.02), sinks=[sink]) as w:
            await eventually(lambda: w.nodes.get("n1") is not None and w.nodes["n1"].load == 88)
            polls = w.polls
    assert polls >= 8  # several polls above 70, one alert
    assert kinds(w) == ["load_high"]
    assert [a.kind for a in sink.got] == ["load_high"]  # delivered by the dispatcher


async def test_low_load_alert_needs_more_than_min_nodes() -> None:
    async with running(one_node(load=5)) as (_server, client, _t):
        watcher = MediaNodeWatcher(client, sinks=[])
        await watcher.poll_once()
        assert kinds(watcher) == []  # one node is the autoscaling minimum: nothing to shed
    nodes = [NodeSpec(id="a", load=5), NodeSpec(id="b", load=9)]
    async with running(two_nodes("pro", nodes=nodes)) as (_server, client, _t):
        watcher = MediaNodeWatcher(client, sinks=[])
        await watcher.poll_once()
        await watcher.poll_once()
        assert kinds(watcher) == ["load_low"]
        assert "average media-node load 7.0 is below 20" in watcher.alerts[0].message


async def test_crash_webhook_marks_the_node_failed_within_a_second() -> None:
    async with running(two_nodes("openvidu-api")) as (server, client, _t):
        watcher = MediaNodeWatcher(client, WatchConfig(interval=600), sinks=[])
        http = WatchServer(watcher, authorization="Bearer hook-token")
        async with http, watcher, aiohttp.ClientSession() as session:
            # Point OpenVidu's webhook at the watcher, as an operator would.
            await client.restart(
                {
                    "OPENVIDU_WEBHOOK": True,
                    "OPENVIDU_WEBHOOK_ENDPOINT": http.webhook_url,
                    "OPENVIDU_WEBHOOK_HEADERS": ["Authorization: Bearer hook-token"],
                },
                confirm_restart=True,
            )
            await eventually(lambda: watcher.polls == 1)
            assert watcher.nodes["idle"].effective_status == "running"
            crash = f"{server.base_url}/_openvidu/media-nodes/idle/crash"
            async with session.post(crash) as resp:
                assert resp.status == 204
            took = await eventually(lambda: watcher.nodes["idle"].effective_status == "failed")
            assert took < 1.0
            async with session.get(http.metrics_url) as resp:
                metrics = await resp.text()
            assert 'openvidu_media_node_status{node="idle",status="failed"} 1.0' in metrics
            assert 'openvidu_media_node_connected{node="idle"} 0.0' in metrics
            async with session.post(f"{server.base_url}/_openvidu/media-nodes/idle/recover"):
                pass
            await eventually(lambda: watcher.nodes["idle"].effective_status == "running")
        assert kinds(watcher) == ["node_crashed", "node_recovered"]
        assert watcher.webhook_events["nodeCrashed"] == 1
        assert server.webhooks.failed == 0


async def test_a_poll_in_flight_does_not_undo_a_newer_crash() -> None:
    async with running(two_nodes("openvidu-api")) as (_server, client, _t):
        watcher = MediaNodeWatcher(client, sinks=[])

        class CrashDuringPoll:
            """The real client; the crash webhook lands while the list is on its way."""

            url = client.url

            async def list_media_nodes(self) -> MediaNodeList:
                listing = await client.list_media_nodes()
                await asyncio.sleep(0.01)
                watcher.handle_event(NodeCrashed(event="nodeCrashed", id="idle"))
                return listing

        watcher.client = CrashDuringPoll()  # type: ignore[assignment]
        await watcher.poll_once()
        assert watcher.nodes["idle"].effective_status == "failed"  # the poll was older
        watcher.client = client
        assert watcher.nodes["idle"].crashed
        await watcher.poll_once()  # newer than the webhook, and it says connected
        assert not watcher.nodes["idle"].crashed
        assert kinds(watcher) == ["node_crashed", "node_recovered"]


async def test_prometheus_lists_every_node() -> None:
    nodes = [NodeSpec(id=f"kms_{i}", load=10.0 * i) for i in range(1, 5)]
    async with running(two_nodes("pro", nodes=nodes)) as (_server, client, _t):
        watcher = MediaNodeWatcher(client, sinks=[])
        await watcher.poll_once()
        async with (
            WatchServer(watcher) as http,
            aiohttp.ClientSession() as session,
            session.get(http.metrics_url) as resp,
        ):
            assert resp.status == 200
            text = await resp.text()
    for i in range(1, 5):
        assert f'openvidu_media_node_load{{node="kms_{i}"}} {10.0 * i}' in text
        assert f'openvidu_media_node_status{{node="kms_{i}",status="running"}} 1.0' in text
        assert f'openvidu_media_node_connected{{node="kms_{i}"}} 1.0' in text
    assert "openvidu_cluster_average_load 25.0" in text
    assert "openvidu_cluster_running_nodes 4.0" in text
    assert "openvidu_watch_polls_total 1.0" in text


async def test_failed_and_terminated_nodes_alert_once() -> None:
    config = two_nodes("openvidu-api", environment="aws")
    async with running(config) as (server, client, _t):
        watcher = MediaNodeWatcher(client, sinks=[])
        await watcher.poll_once()
        server.cluster.faults.fail_next_launch = True
        await watcher.poll_once()
        node = await client.add_media_node()
        await eventually(lambda: server.cluster.nodes[node.id].status == "failed")
        await watcher.poll_once()
        await watcher.poll_once()
        assert kinds(watcher) == ["node_failed"]
        # Terminated while nobody sends webhooks: found by the next poll.
        await client.remove_media_node("idle", wait=True)
        await watcher.poll_once()
        await watcher.poll_once()
        assert kinds(watcher) == ["node_failed", "node_terminated"]
        assert "idle" not in watcher.nodes
        assert "no longer listed (last status running)" in watcher.alerts[-1].message


async def test_terminated_webhook_then_poll_alerts_once() -> None:
    async with running(two_nodes("openvidu-api")) as (server, client, _t):
        watcher = MediaNodeWatcher(client, sinks=[])
        await watcher.poll_once()
        await client.remove_media_node("idle", wait=True)
        for event in server.webhooks.emitted:  # as OpenVidu would have POSTed them
            watcher.handle_event(_parse(event))
        assert watcher.nodes["idle"].status == "terminated"
        await watcher.poll_once()
    assert kinds(watcher) == ["node_terminated"]


def _parse(event: dict[str, Any]) -> Any:
    from agent.admin.openvidu import parse_webhook_event

    return parse_webhook_event(event)


async def test_unreachable_api_alerts_once_and_recovery_too() -> None:
    async with running(two_nodes("openvidu-api")) as (server, _client, _t):
        client = OpenViduClient(server.base_url, "MY_SECRET", profile="openvidu-api")
        watcher = MediaNodeWatcher(client, sinks=[])
        await watcher.poll_once()
    # The server is gone now; the client is still open (a closed one refuses to send).
    async with client:
        for _ in range(3):
            await watcher.poll_once()
    assert watcher.poll_errors == 3 and watcher.api_down
    assert kinds(watcher) == ["api_unreachable"]


async def test_webhook_receiver_refuses_bad_events() -> None:
    async with running(two_nodes("openvidu-api")) as (_server, client, _t):
        watcher = MediaNodeWatcher(client, sinks=[])
        async with WatchServer(watcher, authorization="Basic abc") as http:
            auth = {"Authorization": "Basic abc"}
            async with aiohttp.ClientSession() as session:

                async def post(body: Any, headers: dict[str, str] = auth) -> tuple[int, str]:
                    data = body if isinstance(body, bytes) else None
                    json_body = None if isinstance(body, bytes) else body
                    async with session.post(
                        http.webhook_url, data=data, json=json_body, headers=headers
                    ) as r:
                        return r.status, await r.text()

                assert await post({"event": "nodeCrashed", "id": "x"}, {}) == (401, "unauthorized")
                assert await post(b"{not json") == (
                    400,
                    "invalid webhook event: Expecting property name enclosed in double quotes: "
                    "line 1 column 2 (char 1)",
                )
                assert await post({"event": "nodeCrashed"}) == (
                    400,
                    "invalid webhook event: id: Field required",
                )
                assert await post([1]) == (
                    400,
                    "invalid webhook event: expected a JSON object, got list",
                )
                status_changed = {
                    "event": "mediaNodeStatusChanged",
                    "id": "x",
                    "newStatus": "exploded",
                }
                status, text = await post(status_changed)
                assert status == 400 and text.startswith("invalid webhook event: newStatus:")
                assert await post({"event": "sessionCreated", "sessionId": "s"}) == (200, "")
                master = {"event": "nodeCrashed", "id": "master", "nodeRole": "masternode"}
                assert await post(master) == (200, "")
    assert watcher.nodes == {} and kinds(watcher) == []
    assert dict(watcher.webhook_events) == {"sessionCreated": 1, "nodeCrashed": 1}


async def test_alerts_reach_a_webhook_and_stop_flushes_them() -> None:
    async with ScriptedServer() as hooks, running(one_node(load=95)) as (_s, client, _t):
        hooks.add("POST", "/alerts", 200, repeat=True)
        sink = WebhookAlertSink(f"{hooks.url}/alerts")
        start = time.monotonic()
        async with MediaNodeWatcher(client, WatchConfig(interval=600), sinks=[sink]) as w:
            await eventually(lambda: w.polls == 1)
        assert time.monotonic() - start < 5
        assert sink.delivered == 1
        assert b'"kind":"load_high"' in hooks.requests[0][2]
