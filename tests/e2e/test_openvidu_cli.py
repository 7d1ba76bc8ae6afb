"""`pexbot openvidu` as a user runs it, against the emulated OpenVidu Pro server: exit
codes, the exact one-line messages, no traceback; the watcher and the server commands."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from agent.openvidu_server import NodeSpec, OpenViduServer, OpenViduServerConfig

REPO = Path(__file__).resolve().parents[2]
ENV = {"OPENVIDU_SECRET": "MY_SECRET"}


@pytest.fixture
async def ov() -> AsyncIterator[OpenViduServer]:
    config = OpenViduServerConfig(
        nodes=[NodeSpec(id="idle", load=10), NodeSpec(id="busy", load=30, sessions=["s1"])]
    )
    async with OpenViduServer(config) as server:
        yield server


async def start(*args: str, env: dict[str, str] | None = None) -> asyncio.subprocess.Process:
    environ = {k: v for k, v in os.environ.items() if k != "OPENVIDU_SECRET"}
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "agent.cli", "openvidu", *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=REPO,
        env={**environ, **(ENV if env is None else env)},
    )  # fmt: skip


async def pexbot(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    proc = await start(*args, env=env)
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


def one_line(err: str) -> str:
    assert "Traceback" not in err
    assert err.endswith("\n") and err.count("\n") == 1, err
    return err.rstrip("\n")


async def test_nodes_and_node(ov: OpenViduServer) -> None:
    code, out, err = await pexbot("nodes", "--url", ov.base_url)
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0].split() == ["id", "status", "load", "connected", "sessions", "uri"]
    assert lines[1].split()[:4] == ["idle", "running", "10.0", "yes"]
    code, out, _err = await pexbot("node", "busy", "--url", ov.base_url, "--sessions", "--json")
    assert code == 0
    node = json.loads(out)
    assert node["id"] == "busy" and [s["sessionId"] for s in node["sessions"]] == ["s1"]


async def test_mutations_refused_without_permission(ov: OpenViduServer, tmp_path: Path) -> None:
    audit = tmp_path / "audit.jsonl"
    code, out, err = await pexbot("remove", "idle", "--url", ov.base_url, "--audit-log", str(audit))
    assert (code, out) == (3, "")
    assert one_line(err) == (
        "pexbot openvidu: remove media node: refused: admin actions are disabled "
        "(set allow_admin_actions = true)"
    )
    assert "idle" in ov.cluster.nodes
    assert json.loads(audit.read_text())["outcome"] == "refused"


async def test_now_and_restart_need_confirmation(ov: OpenViduServer, tmp_path: Path) -> None:
    admin = ["--url", ov.base_url, "--allow-admin-actions", "--audit-log", str(tmp_path / "a")]
    code, _out, err = await pexbot("remove", "busy", "--strategy", "now", *admin)
    assert code == 3
    assert one_line(err) == (
        "pexbot openvidu: remove media node: refused: deletion strategy 'now' "
        "(closes every session) needs an explicit second confirmation"
    )
    code, _out, err = await pexbot("restart", "--set", "OPENVIDU_CDR=true", *admin)
    assert code == 3
    assert one_line(err) == (
        "pexbot openvidu: restart: refused: restart (ends every session) needs an explicit "
        "second confirmation"
    )
    assert ov.state.restarts == [] and ov.cluster.nodes["busy"].sessions
    code, out, err = await pexbot("remove", "busy", "--strategy", "now", "--confirm-now", *admin)
    assert (code, out, err) == (0, "busy: removed\n", "")
    code, out, err = await pexbot(
        "restart", "--set", "OPENVIDU_CDR=true", "--confirm-restart", *admin
    )
    assert (code, out, err) == (0, "restart requested\n", "")
    assert ov.state.properties["OPENVIDU_CDR"] is True
    outcomes = [json.loads(line)["outcome"] for line in (tmp_path / "a").read_text().splitlines()]
    assert outcomes == ["refused", "refused", "requested", "ok", "requested", "ok"]


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (
            ["node", "nope"],
            7,
            "get media node nope: HTTP 404: no such media node (Media Node nope does not exist)",
        ),
        (
            ["set-status", "idle", "launching", "--allow-admin-actions"],
            7,
            "set media node status: HTTP 400: illegal status transition "
            "(Media Node cannot go from running to launching)",
        ),
        (
            ["remove", "busy", "--allow-admin-actions"],
            7,
            "remove media node: HTTP 409: media node has ongoing sessions (nothing was deleted) "
            "(Media Node busy has 1 sessions)",
        ),
        (
            ["autodiscover", "--allow-admin-actions"],
            7,
            "autodiscover media nodes: HTTP 405: autodiscovery not possible (on premises without"
            " an autodiscover script) (no autodiscover script available On Premises)",
        ),
        (
            ["add", "--allow-admin-actions"],
            7,
            "add media node: HTTP 501: on-premises cluster: the media node uri is required "
            "(On Premises deployments need the Media Node uri)",
        ),
        (
            ["restart", "--set", "OPENVIDU_SECRET=x", "--allow-admin-actions"],
            2,
            "give a new secret with --new-secret-env NAME, not in --set",
        ),
        (
            ["restart", "--set", "OPENVIDU_CDRR=1", "--allow-admin-actions", "--confirm-restart"],
            2,
            "restart: invalid properties: OPENVIDU_CDRR: Extra inputs are not permitted",
        ),
    ],
)
async def test_server_refusals_and_bad_arguments(
    ov: OpenViduServer, tmp_path: Path, args: list[str], code: int, message: str
) -> None:
    audit = (
        ["--audit-log", str(tmp_path / "audit.jsonl")] if "--allow-admin-actions" in args else []
    )
    got, out, err = await pexbot(*args, "--url", ov.base_url, *audit)
    assert (got, out) == (code, "")
    assert one_line(err) == f"pexbot openvidu: {message}"


async def test_wrong_secret_unreachable_and_no_api(ov: OpenViduServer) -> None:
    code, _out, err = await pexbot("nodes", "--url", ov.base_url, env={"OPENVIDU_SECRET": "bad"})
    assert code == 5
    assert one_line(err) == (
        "pexbot openvidu: detect API paths: HTTP 401: unauthorized: check the OpenVidu secret"
    )
    code, _out, err = await pexbot("nodes", "--url", "http://127.0.0.1:9")
    assert code == 4
    assert one_line(err) == (
        "pexbot openvidu: detect API paths: "
        "connection refused: http://127.0.0.1:9/openvidu/api/config"
    )
    async with OpenViduServer(OpenViduServerConfig(profile="v3")) as v3:
        base = v3.base_url
        code, _out, err = await pexbot("config", "--url", base)
    assert code == 6
    assert one_line(err) == (
        f"pexbot openvidu: media-node API not available (OpenVidu v3?): {base} "
        "reports VERSION 3.0.0"
    )


async def test_configuration_errors(tmp_path: Path) -> None:
    code, _out, err = await pexbot("nodes", "--url", "http://127.0.0.1:9", env={})
    assert code == 2
    assert one_line(err) == (
        "pexbot openvidu: invalid configuration: no OpenVidu secret: environment variable "
        "OPENVIDU_SECRET is not set"
    )
    code, _out, err = await pexbot("nodes")
    assert code == 2
    assert one_line(err) == (
        "pexbot openvidu: invalid configuration: no OpenVidu URL: give --url or url in the "
        "config file"
    )
    bad = tmp_path / "ov.toml"
    bad.write_text('url = "ftp://x"\nallow_admin = true\n[watch]\nmax_load = 10\n')
    code, _out, err = await pexbot("nodes", "--config", str(bad))
    assert code == 2
    message = one_line(err)
    assert message.startswith(f"pexbot openvidu: invalid configuration: {bad}: url: String")
    assert f"; {bad}: allow_admin: Extra inputs are not permitted" in message
    assert f"; {bad}: watch: Value error, min_load must be below max_load" in message


async def test_config_file_with_secret_file(ov: OpenViduServer, tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("MY_SECRET\n")
    cfg = tmp_path / "ov.toml"
    cfg.write_text(f'url = "{ov.base_url}"\nsecret_file = "{secret}"\nprofile = "openvidu-api"\n')
    code, out, err = await pexbot("config", "--config", str(cfg), env={})
    assert (code, err) == (0, "")
    assert json.loads(out)["VERSION"] == "2.30.0"


async def test_watch_serves_metrics_and_takes_webhooks(ov: OpenViduServer) -> None:
    proc = await start("watch", "--url", ov.base_url, "--port", "0", "--interval", "0.2")
    try:
        assert proc.stdout is not None
        first = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode().split()
        assert first[0] == "metrics:"
        webhook = (await asyncio.wait_for(proc.stdout.readline(), 5)).decode().split()[1]
        async with aiohttp.ClientSession() as session:
            ov.cluster.crash("idle")  # the node is down, and OpenVidu says so:
            crash = {"event": "nodeCrashed", "id": "idle", "timestamp": 1}
            async with session.post(webhook, json=crash) as resp:
                assert resp.status == 200
            for _ in range(100):
                async with session.get(first[1]) as resp:
                    text = await resp.text()
                if "openvidu_watch_polls_total 2.0" in text:
                    break
                await asyncio.sleep(0.1)
        assert 'openvidu_media_node_load{node="busy"} 30.0' in text
        assert 'openvidu_media_node_status{node="idle",status="failed"} 1.0' in text
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 15) == 0
        assert proc.stderr is not None
        err = (await proc.stderr.read()).decode()
        # One alert, whichever came first: the webhook or a poll showing it disconnected.
        assert err.count("openvidu alert node_crashed: media node idle crashed (") == 1
        assert "Traceback" not in err and "MY_SECRET" not in err
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def test_server_command_runs_and_stops(tmp_path: Path) -> None:
    cfg = tmp_path / "server.toml"
    cfg.write_text('profile = "pro"\nsecret = "CI-SECRET"\n[[nodes]]\nid = "kms_a"\nload = 42\n')
    proc = await start("server", "--config", str(cfg), "--port", "0")
    try:
        assert proc.stdout is not None
        base = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode().strip()
        second = (await asyncio.wait_for(proc.stdout.readline(), 5)).decode()
        assert "CI-SECRET" not in second and "secret: from the config file" in second
        assert base.startswith("http://127.0.0.1:")
        code, out, _err = await pexbot("nodes", "--url", base, env={"OPENVIDU_SECRET": "CI-SECRET"})
        assert code == 0 and "kms_a" in out and "42.0" in out
        proc.send_signal(signal.SIGINT)
        assert await asyncio.wait_for(proc.wait(), 15) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    bad = tmp_path / "bad.toml"
    bad.write_text('environment = "moon"\n')
    code, _out, err = await pexbot("server", "--config", str(bad))
    assert code == 2
    assert one_line(err).startswith(
        f"pexbot openvidu: invalid server configuration: {bad}: environment: Input should be"
    )
