"""Fault knobs, from TOML and through the control API's `/_node/faults` route."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from agent.node import LocalNode, load_node_config
from tests.support.inspect_node import control

from .conftest import Api


async def _faults(api: Api, patch: dict[str, Any]) -> tuple[int, Any]:
    return await control(api.node, "POST", "faults", patch)


async def test_token_lifetime_expires_and_reaps(api: Api) -> None:
    watcher = await api.joined("meet", "watcher")
    stream = await watcher.events()
    await stream.sync()
    status, _ = await _faults(api, {"token_lifetime": 1})
    assert status == 200
    victim = await api.joined("meet", "victim")
    assert victim.result["expires"] == "1"
    await asyncio.sleep(1.1)
    expired = await victim.conf("conference_status", "conference_status", method="GET")
    assert (expired.status, expired.result) == (403, "Invalid token")
    # Without a refresh the node drops the participant, as a real one does.
    assert (await stream.until("participant_delete", timeout=3)) == {"uuid": victim.uuid}
    await stream.close()


async def test_refuse_refresh(api: Api) -> None:
    member = await api.joined("meet")
    await _faults(api, {"refuse_refresh": True})
    reply = await api.call("refresh_token", "POST", "meet", "refresh_token", token=member.token)
    assert (reply.status, reply.result) == (403, "Invalid token")
    await _faults(api, {"refuse_refresh": False})
    reply = await api.call("refresh_token", "POST", "meet", "refresh_token", token=member.token)
    assert reply.status == 200


async def test_drop_events_after_n(api: Api) -> None:
    member = await api.joined("meet")
    await _faults(api, {"drop_events_after": 4})
    stream = await member.events()
    await stream.sync()  # 3 events
    await member.conf("lock", "lock")
    assert (await stream.next())[0] == "conference_update"  # type: ignore[index]
    assert await stream.ended(timeout=2)
    # Reconnecting gets a fresh sync.
    again = await member.events()
    assert len(await again.sync()) == 1
    await again.close()


async def test_drop_events_after_seconds(api: Api) -> None:
    member = await api.joined("meet")
    await _faults(api, {"drop_events_after_seconds": 0.3})
    stream = await member.events()
    await stream.sync()
    started = time.monotonic()
    assert await stream.ended(timeout=3)
    assert time.monotonic() - started < 2


async def test_route_error_status(api: Api) -> None:
    await _faults(api, {"routes": {"request_token": {"status": 503, "result": "Maintenance"}}})
    reply = await api.join("meet")
    assert reply.status == 503
    assert reply.body == {"status": "failed", "result": "Maintenance"}
    await _faults(api, {"routes": {"request_token": None}})
    assert (await api.join("meet")).status == 200


async def test_route_error_rate_zero_never_fires(api: Api) -> None:
    await _faults(api, {"routes": {"request_token": {"status": 502, "rate": 0}}})
    for _ in range(5):
        assert (await api.join("meet")).status == 200


async def test_route_delay(api: Api) -> None:
    member = await api.joined("meet")
    await _faults(api, {"routes": {"conference_status": {"delay": 0.3}}})
    started = time.monotonic()
    reply = await member.conf("conference_status", "conference_status", method="GET")
    assert reply.status == 200
    assert time.monotonic() - started >= 0.3


async def test_reset_and_bad_patch(api: Api) -> None:
    status, body = await _faults(api, {"token_lifetime": 0})
    assert status == 400 and body["status"] == "failed"
    await _faults(api, {"refuse_refresh": True, "token_lifetime": 5})
    status, body = await _faults(api, {"reset": True})
    assert status == 200
    assert body["result"]["refuse_refresh"] is False
    assert body["result"]["token_lifetime"] == 120


async def test_faults_from_toml(tmp_path: Path, api: Api) -> None:
    toml = tmp_path / "node.toml"
    toml.write_text(
        """
token_grace = 0.5

[faults]
token_lifetime = 7
refuse_refresh = true

[faults.routes.participants]
status = 502

[[services]]
name = "room"
aliases = ["room", "room@example.com"]
host_pin = "42"
"""
    )
    config = load_node_config(toml)
    assert [s.name for s in config.services] == ["room"]
    async with LocalNode(config) as custom:
        api.node = custom
        reply = await api.join("room@example.com", "x", pin="42")
        assert reply.result["expires"] == "7"
        member_token = reply.result["token"]
        listed = await api.call("participants", "GET", "room", "participants", token=member_token)
        assert listed.status == 502
        refresh = await api.call(
            "refresh_token", "POST", "room", "refresh_token", token=member_token
        )
        assert refresh.status == 403


def test_toml_without_services_gets_defaults(tmp_path: Path) -> None:
    toml = tmp_path / "node.toml"
    toml.write_text("[management]\npassword = 'secret'\n")
    config = load_node_config(toml)
    assert {s.name for s in config.services} == {"meet", "secure", "locked", "lecture", "lobby"}
    assert config.management.password == "secret"


def test_bad_toml_is_rejected(tmp_path: Path) -> None:
    from agent.config import ConfigError

    toml = tmp_path / "node.toml"
    toml.write_text("[[services]]\nname = 'x'\nguest_pin = '1'\n")
    with pytest.raises(ConfigError, match="a guest PIN needs a host PIN"):
        load_node_config(toml)
    toml.write_text("[[services]]\nname = 'x'\nhost_pn = '1'\n")
    with pytest.raises(ConfigError, match=r"services\.0\.host_pn: Extra inputs are not permitted"):
        load_node_config(toml)


async def test_route_delay_for_failures_only(api: Api) -> None:
    # 5 % of `calls` answered 503 after 1 s (issue 12's fault mix): here every answer of a
    # route fails, slowly; then none fails, and none is delayed.
    slow = {"status": 503, "delay": 0.3, "delay_failures_only": True}
    member = await api.joined("meet")
    await _faults(api, {"routes": {"conference_status": {**slow, "rate": 1.0}}})
    started = time.monotonic()
    reply = await member.conf("conference_status", "conference_status", method="GET")
    assert reply.status == 503 and time.monotonic() - started >= 0.3
    await _faults(api, {"routes": {"conference_status": {**slow, "rate": 0.0}}})
    started = time.monotonic()
    reply = await member.conf("conference_status", "conference_status", method="GET")
    assert reply.status == 200 and time.monotonic() - started < 0.3
