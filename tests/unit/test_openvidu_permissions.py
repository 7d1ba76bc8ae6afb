"""Read-mostly by design: mutations need `allow_admin_actions`, `now` and restart a second
confirmation, and every mutation is in the audit log (before and after, never a secret)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from agent.admin.openvidu import (
    AdminActionRefusedError,
    AuditLogError,
    JsonlAuditLog,
    MediaNodeBusyError,
    MemoryAuditLog,
    OpenViduClient,
)
from tests.support.openvidu_support import eventually, running, two_nodes

Mutation = Callable[[OpenViduClient], Awaitable[Any]]

MUTATIONS: dict[str, Mutation] = {
    "add media node": lambda c: c.add_media_node("ws://10.1.1.1:8888/kurento"),
    "remove media node": lambda c: c.remove_media_node("idle"),
    "set media node status": lambda c: c.set_media_node_status("idle", "terminating"),
    "autodiscover media nodes": lambda c: c.autodiscover(),
    "restart": lambda c: c.restart({"OPENVIDU_CDR": True}, confirm_restart=True),
}


@pytest.mark.parametrize("operation", sorted(MUTATIONS))
async def test_mutations_refused_without_allow_admin_actions(operation: str) -> None:
    audit = MemoryAuditLog()
    async with running(two_nodes("openvidu-api"), admin=False, audit=audit) as (
        server,
        client,
        transport,
    ):
        with pytest.raises(AdminActionRefusedError) as err:
            await MUTATIONS[operation](client)
        assert transport.sent == []  # nothing at all reached the server
        assert set(server.cluster.nodes) == {"idle", "busy"}
        assert server.state.restarts == []
    assert str(err.value) == (
        f"{operation}: refused: admin actions are disabled (set allow_admin_actions = true)"
    )
    assert err.value.exit_code == 3
    assert [(r.operation, r.outcome) for r in audit.records] == [(operation, "refused")]


async def test_reads_need_no_permission_and_are_not_audited() -> None:
    audit = MemoryAuditLog()
    async with running(two_nodes("pro"), admin=False, audit=audit) as (_s, client, _t):
        assert len((await client.list_media_nodes()).content) == 2
        assert (await client.get_media_node("busy")).id == "busy"
        assert (await client.get_config()).version == "2.15.0"
    assert audit.records == []


async def test_now_needs_a_second_confirmation() -> None:
    audit = MemoryAuditLog()
    async with running(two_nodes("openvidu-api"), audit=audit) as (server, client, transport):
        with pytest.raises(AdminActionRefusedError, match=r"'now' .* explicit second confirm"):
            await client.remove_media_node("busy", strategy="now")
        assert transport.sent == []
        assert server.cluster.nodes["busy"].sessions
        assert await client.remove_media_node("busy", strategy="now", confirm_now=True) == (
            "removed"
        )
        await eventually(lambda: "busy" not in server.cluster.nodes)
    assert [r.outcome for r in audit.records] == ["refused", "requested", "ok"]


async def test_restart_needs_a_second_confirmation() -> None:
    async with running(two_nodes("openvidu-api")) as (server, client, transport):
        with pytest.raises(AdminActionRefusedError, match=r"restart .* explicit second confirm"):
            await client.restart({"OPENVIDU_CDR": True})
        assert transport.sent == [] and server.state.restarts == []


async def test_audit_records_request_and_outcome() -> None:
    audit = MemoryAuditLog()
    async with running(two_nodes("openvidu-api"), audit=audit) as (server, client, _t):
        with pytest.raises(MediaNodeBusyError):
            await client.remove_media_node("busy")
        await client.set_media_node_status("idle", "waiting-idle-to-terminate")
        base = server.base_url
    rows = [(r.operation, r.target, r.outcome, r.status) for r in audit.records]
    assert rows == [
        ("remove media node", "busy", "requested", None),
        ("remove media node", "busy", "error", 409),
        ("set media node status", "idle", "requested", None),
        ("set media node status", "idle", "ok", 200),
    ]
    assert audit.records[1].detail is not None and "ongoing sessions" in audit.records[1].detail
    assert audit.records[2].params == {"status": "waiting-idle-to-terminate"}
    assert all(r.server == base for r in audit.records)


async def test_audit_file_never_holds_a_secret(tmp_path: Path) -> None:
    log = JsonlAuditLog(tmp_path / "audit" / "openvidu.jsonl")
    async with running(two_nodes("openvidu-api"), audit=log) as (server, client, _t):
        await client.restart(
            {
                "OPENVIDU_SECRET": "BRAND-NEW-SECRET",
                "OPENVIDU_WEBHOOK_HEADERS": ["Authorization: Basic SEEKRIT"],
            },
            confirm_restart=True,
        )
        assert server.state.secret == "BRAND-NEW-SECRET"
    text = log.path.read_text()
    assert "BRAND-NEW-SECRET" not in text and "SEEKRIT" not in text and "MY_SECRET" not in text
    records = log.read()
    assert [r.outcome for r in records] == ["requested", "ok"]
    assert records[0].params == {"OPENVIDU_SECRET": "***", "OPENVIDU_WEBHOOK_HEADERS": "***"}


async def test_unwritable_audit_log_stops_the_mutation(tmp_path: Path) -> None:
    blocked = tmp_path / "not-a-dir"
    blocked.write_text("a file where the log's folder should be")
    log = JsonlAuditLog(blocked / "audit.jsonl")
    async with running(two_nodes("openvidu-api"), audit=log) as (server, client, transport):
        with pytest.raises(AuditLogError, match="cannot write the audit log") as err:
            await client.remove_media_node("idle")
        assert transport.sent == []
        assert server.cluster.nodes["idle"].status == "running"
    assert err.value.exit_code == 3
