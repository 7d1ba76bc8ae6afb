"""Error shapes the emulated server does not produce, the seed's own sample bodies, and the
alert webhook's retries: a scripted HTTP server on 127.0.0.1 answers what each test needs."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator

import pytest

from agent.admin.openvidu import (
    Alert,
    MediaNodeApiNotAvailableError,
    OpenViduClient,
    OpenViduConnectionError,
    OpenViduServerError,
    OpenViduUnauthorizedError,
    ResponseValidationError,
    UnexpectedStatusError,
    WebhookAlertSink,
)
from tests.support.openvidu_support import ScriptedServer

NODES = "/openvidu/api/media-nodes"
CONFIG = "/openvidu/api/config"
SECRET = "S3CRET-value"


@pytest.fixture
async def srv() -> AsyncIterator[ScriptedServer]:
    async with ScriptedServer() as server:
        yield server


def client(srv: ScriptedServer, **kw: object) -> OpenViduClient:
    return OpenViduClient(srv.url, SECRET, profile="openvidu-api", **kw)  # type: ignore[arg-type]


async def test_server_error_message_is_one_line_without_the_secret(srv: ScriptedServer) -> None:
    srv.add(
        "GET", NODES, 500, json_body={"message": f"boom\nwhile checking {SECRET}\n" + "x" * 500}
    )
    async with client(srv) as c:
        with pytest.raises(OpenViduServerError) as err:
            await c.list_media_nodes()
    text = str(err.value)
    assert "\n" not in text and SECRET not in text and "***" in text
    assert text.startswith("list media nodes: HTTP 500: server error (boom while checking ***")
    assert len(err.value.message) == 200


async def test_plain_text_and_empty_error_bodies(srv: ScriptedServer) -> None:
    srv.add("GET", CONFIG, 418, body="I'm a teapot")
    srv.add("GET", CONFIG, 503)
    async with client(srv) as c:
        with pytest.raises(UnexpectedStatusError, match=r"HTTP 418: .*\(I'm a teapot\)$"):
            await c.get_config()
        with pytest.raises(OpenViduServerError) as err:
            await c.get_config()
    assert str(err.value) == "get config: HTTP 503: server error"


async def test_401_names_the_secret_not_its_value(srv: ScriptedServer) -> None:
    srv.add("GET", NODES, 401)
    async with client(srv) as c:
        with pytest.raises(OpenViduUnauthorizedError) as err:
            await c.list_media_nodes()
    assert str(err.value) == "list media nodes: HTTP 401: unauthorized: check the OpenVidu secret"
    assert err.value.exit_code == 5


async def test_invalid_json_and_invalid_shapes_name_the_field(srv: ScriptedServer) -> None:
    bad_status = {"numberOfElements": 1, "content": [{"id": "a", "status": "sleeping"}]}
    srv.add("GET", NODES, 200, body="<html>proxy login</html>")
    srv.add("GET", NODES, 200, json_body=bad_status)
    srv.add("GET", NODES, 200, json_body={"content": []})
    async with client(srv) as c:
        with pytest.raises(ResponseValidationError) as not_json:
            await c.list_media_nodes()
        with pytest.raises(ResponseValidationError) as bad:
            await c.list_media_nodes()
        with pytest.raises(ResponseValidationError) as missing:
            await c.list_media_nodes()
    assert str(not_json.value) == "list media nodes: invalid HTTP 200 response: not JSON"
    assert "content.0.status" in str(bad.value)
    assert "numberOfElements: Field required" in str(missing.value)
    assert bad.value.exit_code == 8


async def test_list_404_after_detection_means_no_api(srv: ScriptedServer) -> None:
    srv.add("GET", NODES, 404)
    async with client(srv) as c:
        with pytest.raises(MediaNodeApiNotAvailableError, match=r"OpenVidu v3\?"):
            await c.list_media_nodes()


async def test_detection_does_not_mistake_a_failure_for_a_missing_api(
    srv: ScriptedServer,
) -> None:
    srv.add("GET", CONFIG, 502, body="bad gateway")
    async with OpenViduClient(srv.url, SECRET) as c:
        with pytest.raises(OpenViduServerError, match="detect API paths: HTTP 502"):
            await c.detect_profile()


async def test_connection_errors_and_timeouts(srv: ScriptedServer) -> None:
    srv.add("GET", NODES, 200, json_body={"numberOfElements": 0, "content": []}, delay=0.6)
    async with client(srv, timeout=0.2) as c:
        with pytest.raises(OpenViduConnectionError) as err:
            await c.list_media_nodes()
    assert str(err.value) == (
        f"list media nodes: no answer in 0.2 s: {srv.url}/openvidu/api/media-nodes"
    )
    assert err.value.exit_code == 4
    async with OpenViduClient("http://127.0.0.1:9", SECRET, profile="pro") as c:
        with pytest.raises(
            OpenViduConnectionError, match=r"connection refused: http://127\.0\.0\.1:9/"
        ):
            await c.get_media_node("a")


# The seed's sample bodies, verbatim (the PUT sample is not valid JSON).
SEED_GET = (
    '{"id": "kms_RicdrF9x", "environmentId": "5372e1c954fd54c13706f476236", "ip": '
    '"172.17.0.4", "uri": "ws://172.17.0.4:8888/kurento", "connected": true, '
    '"connectionTime": 1583753233620, "sessions": [], "load": 15.55, "status": "running"}'
)
SEED_LIST = (
    '{"numberOfElements": 1, "content": [ {"id": "KMS-XU5ZRM", "uri": '
    '"ws://localhost:8888/kurento", "ip": "localhost", "connected": true, '
    '"connectionTime": 1562744478463, "load": 15.55} ]}'
)
SEED_PATCH = (
    '{"id": "KMS-GVM2CW", "uri": "ws://localhost:8888/kurento", "ip": "localhost", '
    '"connected": true, "connectionTime": 1562746120857, "quarantined": false}'
)
SEED_PUT = (
    '{"numberOfElements": 1, "content": [ "id": "kms_LrMRlL42", "ip": "172.17.0.5", "uri": '
    '"ws://172.17.0.5:8888/kurento", "connected": true, "connectionTime": 1583769116854, '
    '"environmentId": "489ed9c4b4d761699dc93", "status": "running" ]}'
)


async def test_the_seed_samples_parse(srv: ScriptedServer) -> None:
    srv.add("GET", f"{NODES}/kms_RicdrF9x", body=SEED_GET)
    srv.add("GET", NODES, body=SEED_LIST)
    srv.add("PATCH", f"{NODES}/KMS-GVM2CW", body=SEED_PATCH)
    srv.add("PUT", NODES, body=SEED_PUT)
    async with client(srv, allow_admin_actions=True) as c:
        node = await c.get_media_node("kms_RicdrF9x")
        listing = await c.list_media_nodes()
        patched = await c.set_media_node_status("KMS-GVM2CW", "running")
        found = await c.autodiscover()
    assert (node.load, node.status, node.sessions) == (15.55, "running", [])
    assert listing.content[0].status is None and listing.content[0].load == 15.55
    assert patched is not None and patched.quarantined is False
    assert found.number_of_elements == 1
    assert (found.content[0].id, found.content[0].environment_id) == (
        "kms_LrMRlL42",
        "489ed9c4b4d761699dc93",
    )


async def test_requests_carry_basic_auth_and_documented_queries(srv: ScriptedServer) -> None:
    srv.add("GET", f"{NODES}/a%2Fb", body=SEED_GET)
    async with client(srv) as c:
        await c.get_media_node("a/b", sessions=True)
    method, path, _body = srv.requests[0]
    assert (method, path) == ("GET", f"{NODES}/a%2Fb?sessions=true&extra-info=false")
    token = base64.b64encode(f"OPENVIDUAPP:{SECRET}".encode()).decode()
    assert srv.authorizations == [f"Basic {token}"]


async def test_unknown_fields_are_kept(srv: ScriptedServer) -> None:
    srv.add("GET", f"{NODES}/kms_RicdrF9x", json_body=json.loads(SEED_GET) | {"newInV3": {"x": 1}})
    async with client(srv) as c:
        node = await c.get_media_node("kms_RicdrF9x")
    assert node.model_extra == {"newInV3": {"x": 1}}


async def test_bad_arguments_are_refused_before_sending(srv: ScriptedServer) -> None:
    async with client(srv, allow_admin_actions=True) as c:
        with pytest.raises(ValueError, match="status must be one of"):
            await c.set_media_node_status("a", "sleeping")  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="deletion strategy must be one of"):
            await c.remove_media_node("a", strategy="later")  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="OPENVIDU_CDRR: Extra inputs are not permitted"):
            await c.restart({"OPENVIDU_CDRR": True}, confirm_restart=True)
        with pytest.raises(ValueError, match="media node id must not be empty"):
            await c.get_media_node(" ")
    assert srv.requests == []
    with pytest.raises(ValueError, match="must start with http"):
        OpenViduClient("ov.example.com", SECRET)


async def test_alert_webhook_retries_then_delivers(srv: ScriptedServer) -> None:
    srv.add("POST", "/hook", 500)
    srv.add("POST", "/hook", 200, delay=0.6)  # longer than the timeout
    srv.add("POST", "/hook", 200)
    sink = WebhookAlertSink(f"{srv.url}/hook", attempts=3, backoff=0.01, timeout=0.3)
    await sink.send(Alert(kind="load_high", severity="warning", message="hot"))
    await sink.aclose()
    assert (sink.delivered, sink.failed, len(srv.requests)) == (1, 0, 3)
    assert json.loads(srv.requests[-1][2])["kind"] == "load_high"


async def test_alert_webhook_gives_up(
    srv: ScriptedServer, caplog: pytest.LogCaptureFixture
) -> None:
    srv.add("POST", "/hook", 503, repeat=True)
    sink = WebhookAlertSink(f"{srv.url}/hook", attempts=2, backoff=0.01)
    await sink.send(Alert(kind="node_failed", severity="critical", message="x"))
    await sink.aclose()
    assert (sink.delivered, sink.failed, len(srv.requests)) == (0, 1, 2)
    assert "alert webhook gave up after 2 attempts (HTTP 503)" in caplog.text
