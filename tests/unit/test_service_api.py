"""The HTTP API over a real aiohttp server on 127.0.0.1 (in-process store, no worker):
auth, every error shape, idempotent create, paging, leave, and the OpenAPI document
matching what the API really returns."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import jsonschema
import pytest

from agent.service import (
    ApiKeys,
    ApiServer,
    Listen,
    MemoryJobStore,
    SecretPolicy,
    ServiceApi,
    openapi_document,
)

WRITE = "write-key-0123456789"
READ = "read-key-0123456789ab"
OTHER = "other-key-0123456789"
BODY: dict[str, Any] = {
    "meeting": {"node": "http://127.0.0.1:1", "alias": "meet", "pin": "env:PEXBOT_SECRET_PIN"},
    "plugins": [{"name": "recorder", "config": {"audio_only": True}}],
    "leave": {"duration": 60},
    "metadata": {"team": "sales"},
}


S3 = {"kind": "s3", "bucket": "recordings", "endpoint_url": "https://s3.example.com"}


class Client:
    def __init__(self, http: aiohttp.ClientSession, url: str) -> None:
        self.http = http
        self.url = url

    async def call(
        self,
        method: str,
        path: str,
        key: str | None = WRITE,
        body: Any = None,
        headers: dict[str, str] | None = None,
        raw: str | None = None,
    ) -> tuple[int, Any, dict[str, str]]:
        hdrs = dict(headers or {})
        if key is not None:
            hdrs["Authorization"] = f"Bearer {key}"
        kwargs: dict[str, Any] = {"headers": hdrs}
        if raw is not None:
            kwargs["data"] = raw
        elif body is not None:
            kwargs["json"] = body
        async with self.http.request(method, self.url + path, **kwargs) as r:
            assert r.content_type == "application/json"
            return r.status, await r.json(), dict(r.headers)


@pytest.fixture
async def api() -> AsyncIterator[Client]:
    keys = ApiKeys.parse(f"{WRITE},{READ}:read,{OTHER}", None)
    store = MemoryJobStore()
    service = ServiceApi(store, keys, SecretPolicy(secrets_dir=None))
    async with (
        ApiServer(service, Listen("127.0.0.1", 0)) as server,
        aiohttp.ClientSession() as http,
    ):
        yield Client(http, server.url)


def _schema(name: str) -> dict[str, Any]:
    doc = openapi_document()
    return {"$ref": f"#/components/schemas/{name}", "components": doc["components"]}


def _check(name: str, body: Any) -> None:
    jsonschema.Draft202012Validator(_schema(name)).validate(body)


def _error(status: int, body: Any, code: str) -> list[dict[str, str]]:
    _check("ErrorBody", body)
    assert body["error"]["code"] == code, body
    details: list[dict[str, str]] = body["error"]["details"]
    return details


async def test_missing_or_unknown_keys_get_401(api: Client) -> None:
    for key, headers in [
        (None, {}),
        (None, {"Authorization": f"Basic {WRITE}"}),
        ("not-a-key-at-all-0000", {}),
        (WRITE[:-1], {}),
    ]:
        status, body, hdrs = await api.call("GET", "/v1/bots", key=key, headers=headers)
        assert status == 401
        _error(status, body, "unauthorized")
        assert hdrs["WWW-Authenticate"] == "Bearer"
    status, body, _ = await api.call("POST", "/v1/bots", key=None, body=BODY)
    assert status == 401


async def test_a_read_key_reads_but_may_not_write(api: Client) -> None:
    status, created, _ = await api.call("POST", "/v1/bots", body=BODY)
    assert status == 201
    status, body, _ = await api.call("GET", f"/v1/bots/{created['id']}", key=READ)
    assert status == 200 and body["id"] == created["id"]
    status, body, _ = await api.call("POST", "/v1/bots", key=READ, body=BODY)
    assert status == 403
    _error(status, body, "forbidden")
    status, body, _ = await api.call("POST", f"/v1/bots/{created['id']}/leave", key=READ)
    assert status == 403


async def test_unknown_bots_and_routes_get_404_and_wrong_methods_405(api: Client) -> None:
    status, body, _ = await api.call("GET", "/v1/bots/bot_0000000000000000")
    assert status == 404
    _error(status, body, "not_found")
    status, body, _ = await api.call("POST", "/v1/bots/bot_0000000000000000/leave")
    assert status == 404
    status, body, _ = await api.call("GET", "/v1/nothing-here")
    assert status == 404
    _error(status, body, "not_found")
    status, body, _ = await api.call("DELETE", "/v1/bots")
    assert status == 405
    _error(status, body, "method_not_allowed")


async def test_create_get_and_the_view_matches_the_openapi_document(api: Client) -> None:
    status, body, headers = await api.call("POST", "/v1/bots", body=BODY)
    assert status == 201
    _check("BotView", body)
    assert headers["Location"] == f"/v1/bots/{body['id']}"
    assert body["state"] == "queued" and body["metadata"] == {"team": "sales"}
    assert body["request"]["meeting"]["pin"] == "env:PEXBOT_SECRET_PIN"
    status, again, _ = await api.call("GET", f"/v1/bots/{body['id']}")
    assert status == 200 and again == body


async def test_same_idempotency_key_same_bot_different_body_409(api: Client) -> None:
    key = {"Idempotency-Key": "meeting-42"}
    status, first, _ = await api.call("POST", "/v1/bots", body=BODY, headers=key)
    assert status == 201
    status, again, headers = await api.call("POST", "/v1/bots", body=BODY, headers=key)
    assert status == 200 and again["id"] == first["id"]
    assert headers["Idempotent-Replayed"] == "true"
    changed = copy.deepcopy(BODY)
    changed["meeting"]["alias"] = "other"
    status, body, _ = await api.call("POST", "/v1/bots", body=changed, headers=key)
    assert status == 409
    _error(status, body, "idempotency_conflict")
    # Keys are per API key: another client's "meeting-42" is its own.
    status, theirs, _ = await api.call("POST", "/v1/bots", key=OTHER, body=BODY, headers=key)
    assert status == 201 and theirs["id"] != first["id"]
    status, page, _ = await api.call("GET", "/v1/bots?limit=200")
    assert len(page["items"]) == 2


@pytest.mark.parametrize(
    ("change", "loc"),
    [
        ({"meeting": None}, "meeting"),
        ({"meeting": {"node": "ftp://x", "alias": "meet"}}, "meeting.node"),
        ({"meeting": {"node": "http://x", "alias": "m", "pin": "1234"}}, "meeting.pin"),
        ({"meeting": {"node": "http://x", "alias": "m", "pin": "env:HOME"}}, "meeting.pin"),
        ({"meeting": {"node": "http://x", "alias": "m", "pin": "file:pin"}}, "meeting.pin"),
        ({"plugins": [{"name": "./evil.py:Evil"}]}, "plugins.0.name"),
        ({"plugins": [{"name": "no-such-plugin"}]}, "plugins.0.name"),
        ({"plugins": [{"name": "recorder", "config": {"container": "avi"}}]}, "plugins"),
        ({"plugins": [{"name": "recorder", "config": {"output_dir": "/etc"}}]}, "output_dir"),
        ({"plugins": [{"name": "webhook"}]}, "plugins.0.name"),
        ({"media": {"audio": "file:/etc/passwd"}}, "media.audio"),
        ({"webhook": {"url": "http://h", "secret_env": "AWS_SECRET"}}, "webhook.secret_env"),
        # The recorder's S3 credentials are secret references held to the same policy.
        (
            {
                "plugins": [
                    {
                        "name": "recorder",
                        "config": {
                            "storage": S3
                            | {
                                "access_key_id_env": "AWS_ACCESS_KEY_ID",
                                "secret_access_key_env": "PEXBOT_SECRET_S3",
                            }
                        },
                    }
                ]
            },
            "plugins.0.config.storage.access_key_id_env",
        ),
        (
            {
                "plugins": [
                    {
                        "name": "recorder",
                        "config": {
                            "storage": S3
                            | {
                                "access_key_id_file": "/etc/hostname",
                                "secret_access_key_env": "PEXBOT_SECRET_S3",
                            }
                        },
                    }
                ]
            },
            "plugins.0.config.storage.access_key_id_file",
        ),
        ({"plugins": [{"name": "recorder", "config": {"storage": {"kind": "s3"}}}]}, "plugins"),
        # So is the moderator's management API password.
        (
            {
                "plugins": [
                    {"name": "moderator", "config": {"management": {"password_env": "HOME"}}}
                ]
            },
            "plugins.0.config.management.password_env",
        ),
        (
            {"plugins": [{"name": "moderator", "config": {"management": {"password_file": "/x"}}}]},
            "plugins.0.config.management.password_file",
        ),
        ({"join_at": "2030-01-01T10:00:00"}, "join_at"),
        ({"leave": {"duration": -1}}, "leave.duration"),
        ({"surprise": 1}, "surprise"),
    ],
)
async def test_invalid_requests_get_422_naming_the_field(
    api: Client, change: dict[str, Any], loc: str
) -> None:
    body = {**BODY, **change}
    if change.get("meeting", 0) is None:
        del body["meeting"]
    status, reply, _ = await api.call("POST", "/v1/bots", body=body)
    assert status == 422, reply
    details = _error(status, reply, "invalid_request")
    assert any(loc in d["loc"] for d in details), details
    # A value is never echoed back (it may be a PIN someone sent in clear).
    assert "1234" not in str(reply)


async def test_a_recorder_storing_to_s3_with_credentials_within_the_policy_is_accepted(
    api: Client,
) -> None:
    storage = S3 | {
        "access_key_id_env": "PEXBOT_SECRET_S3_ID",
        "secret_access_key_env": "PEXBOT_SECRET_S3_KEY",
    }
    body = {**BODY, "plugins": [{"name": "recorder", "config": {"storage": storage}}]}
    status, reply, _ = await api.call("POST", "/v1/bots", body=body)
    assert status == 201, reply
    assert reply["request"]["plugins"][0]["config"]["storage"] == storage


async def test_a_moderator_with_the_default_or_a_policy_password_variable_is_accepted(
    api: Client,
) -> None:
    for config in ({}, {"management": {"password_env": "PEXBOT_SECRET_ADMIN"}}):
        body = {**BODY, "plugins": [{"name": "moderator", "config": config}]}
        status, reply, _ = await api.call("POST", "/v1/bots", body=body)
        assert status == 201, reply


async def test_bodies_that_are_no_json_and_bad_queries_get_422(api: Client) -> None:
    status, reply, _ = await api.call("POST", "/v1/bots", raw="{not json")
    assert status == 422
    _error(status, reply, "invalid_request")
    for query, loc in [("state=dancing", "state"), ("limit=0", "limit"), ("cursor=x", "cursor")]:
        status, reply, _ = await api.call("GET", f"/v1/bots?{query}")
        assert status == 422
        assert [d["loc"] for d in _error(status, reply, "invalid_request")] == [loc]
    long_key = {"Idempotency-Key": "k" * 201}
    status, reply, _ = await api.call("POST", "/v1/bots", body=BODY, headers=long_key)
    assert status == 422


async def test_pages_with_a_state_filter_and_scheduled_starts(api: Client) -> None:
    later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    made = []
    for i in range(5):
        body = {**BODY, "join_at": later} if i % 2 else BODY
        status, bot, _ = await api.call("POST", "/v1/bots", body=body)
        assert status == 201
        made.append(bot)
    assert [b["state"] for b in made] == ["queued", "scheduled"] * 2 + ["queued"]
    seen: list[str] = []
    cursor = ""
    while True:
        status, page, _ = await api.call("GET", f"/v1/bots?state=queued&limit=2{cursor}")
        assert status == 200
        _check("BotPage", page)
        seen += [b["id"] for b in page["items"]]
        if page["next_cursor"] is None:
            break
        cursor = f"&cursor={page['next_cursor']}"
    assert seen == [made[4]["id"], made[2]["id"], made[0]["id"]]
    status, page, _ = await api.call("GET", "/v1/bots?state=scheduled", key=READ)
    assert [b["id"] for b in page["items"]] == [made[3]["id"], made[1]["id"]]
    assert page["items"][0]["timings"]["join_at"] is not None


async def test_leave_cancels_a_queued_bot_and_then_conflicts(api: Client) -> None:
    status, bot, _ = await api.call("POST", "/v1/bots", body=BODY)
    status, left, _ = await api.call("POST", f"/v1/bots/{bot['id']}/leave")
    assert status == 202
    _check("BotView", left)
    assert left["state"] == "left" and left["leave_requested"]
    assert left["detail"] == "stopped before it started"
    status, body, _ = await api.call("POST", f"/v1/bots/{bot['id']}/leave")
    assert status == 409
    _error(status, body, "already_ended")


async def test_openapi_document_is_public_and_describes_the_routes(api: Client) -> None:
    status, doc, _ = await api.call("GET", "/v1/openapi.json", key=None)
    assert status == 200 and doc == openapi_document()
    assert doc["openapi"].startswith("3.1")
    assert set(doc["paths"]) == {
        "/v1/bots",
        "/v1/bots/{id}",
        "/v1/bots/{id}/leave",
        "/v1/health",
    }
    for schema in doc["components"]["schemas"].values():
        jsonschema.Draft202012Validator.check_schema(schema)
    states = doc["components"]["schemas"]["BotView"]["properties"]["state"]["enum"]
    assert "in_call" in states and "scheduled" in states
    status, health, _ = await api.call("GET", "/v1/health", key=None)
    assert status == 200 and health == {"status": "ok"}


def test_keys_come_from_env_and_file_and_bad_ones_are_named_not_shown(tmp_path: Path) -> None:
    path = tmp_path / "keys"
    path.write_text("# ops\nfile-key-0123456789 read\n\nshort\n")
    with pytest.raises(ValueError) as err:
        ApiKeys.parse("env-key-0123456789,tiny:read", path)
    text = str(err.value)
    assert "PEXBOT_API_KEYS: entry 2" in text and f"{path}: line 4" in text
    assert "tiny" not in text and "short" not in text
    path.write_text("file-key-0123456789 read\n")
    keys = ApiKeys.parse("env-key-0123456789", path)
    assert len(keys) == 2
    found = keys.check("Bearer file-key-0123456789")
    assert found is not None and found.scope == "read"
    with pytest.raises(ValueError, match="no API keys"):
        ApiKeys.parse(None, None)


def test_service_surface_is_exported_and_documented() -> None:
    import inspect

    from agent import service

    for name in service.__all__:
        obj = getattr(service, name)
        if inspect.isclass(obj) or inspect.isfunction(obj):
            assert obj.__doc__, f"agent.service.{name} has no docstring"
    # Implementation modules are private; users import from the package.
    assert all(not name.startswith("_") for name in service.__all__)
    assert service.Worker.__module__ == "agent.service._worker"


def test_the_api_webhook_model_is_the_webhook_plugins_config() -> None:
    from agent.service._models import WebhookConfig as ApiWebhook
    from plugins.webhook import WebhookConfig as PluginWebhook

    def shape(model: type[ApiWebhook] | type[PluginWebhook]) -> dict[str, object]:
        schema: dict[str, object] = model.model_json_schema()
        schema.pop("title", None)
        schema.pop("description", None)
        return schema

    assert shape(ApiWebhook) == shape(PluginWebhook)
