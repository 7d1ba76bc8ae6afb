"""`pexbot node`: prints its base URL first, serves, and stops cleanly on SIGTERM/SIGINT."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import aiohttp
import pytest

from agent.cli import build_parser
from tests.support.pexbot_cmd import pexbot, start


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
async def test_node_command_runs_and_stops(sig: signal.Signals) -> None:
    proc, lines = await _start()
    try:
        assert lines[0].startswith("http://127.0.0.1:")
        async with aiohttp.ClientSession() as http:
            url = f"{lines[0]}/api/client/v2/conferences/meet/request_token"
            async with http.post(url, json={"display_name": "cli"}) as resp:
                assert resp.status == 200
        assert "admin / admin" in lines[1]
        proc.send_signal(sig)
        assert await asyncio.wait_for(proc.wait(), 10) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def test_node_command_bad_config(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[[services]]\nname = 1\n")
    ran = await pexbot("node", "--config", str(bad), timeout=20)
    assert ran.code == 2
    assert ran.err == (
        f"pexbot: invalid configuration: {bad}: services.0.name: Input should be a valid string\n"
    )


def test_parser_has_node_subcommand() -> None:
    parser, commands = build_parser()
    args = parser.parse_args(["node", "--port", "8080", "--host", "127.0.0.1"])
    assert args.command == "node" and args.port == 8080
    assert "node" in commands


async def _start(*args: str) -> tuple[asyncio.subprocess.Process, list[str]]:
    """`pexbot node ARGS`, and its banner up to the control API line."""
    proc = await start("node", "--port", "0", *args)
    assert proc.stdout is not None
    lines: list[str] = []
    while not lines or not lines[-1].startswith("control API"):
        line = await asyncio.wait_for(proc.stdout.readline(), 20)
        assert line, lines
        lines.append(line.decode().rstrip("\n"))
    return proc, lines


async def _stop(proc: asyncio.subprocess.Process) -> tuple[bytes, bytes]:
    """SIGTERM; the rest of stdout, and stderr."""
    if proc.returncode is None:
        proc.send_signal(signal.SIGTERM)
    return await asyncio.wait_for(proc.communicate(), 10)


async def _status(url: str, token: str | None = None) -> int:
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession() as http, http.get(url, headers=headers) as resp:
        return resp.status


async def test_node_command_default_credentials_announced_and_control_off() -> None:
    proc, lines = await _start()
    try:
        assert lines[1] == (
            "management API: Basic auth admin / admin, the DEFAULT credentials: anyone who can"
            " reach this port can run it; set username and password under [management] in a"
            " node config (pexbot node --config node.toml)"
        )
        assert lines[2] == "control API (/_node/...): off; pexbot node --control turns it on"
        assert await _status(f"{lines[0]}/_node/state") == 404
    finally:
        assert b"Traceback" not in (await _stop(proc))[1]


async def test_node_command_control_with_printed_token() -> None:
    proc, lines = await _start("--control")
    try:
        prefix = "control API (/_node/...): on, header Authorization: Bearer "
        assert lines[-1].startswith(prefix), lines
        token = lines[-1].removeprefix(prefix)
        assert len(token) >= 24
        assert await _status(f"{lines[0]}/_node/state") == 401
        assert await _status(f"{lines[0]}/_node/state", "not-the-token-0123456789") == 401
        assert await _status(f"{lines[0]}/_node/state", token) == 200
    finally:
        assert (await _stop(proc))[1] == b""


async def test_node_command_configured_secrets_are_not_printed(tmp_path: Path) -> None:
    config = tmp_path / "node.toml"
    config.write_text(
        '[management]\nusername = "ops"\npassword = "s3cret-admin-pass"\n\n'
        '[control]\nenabled = true\ntoken = "configured-control-token-42"\n'
    )
    proc, lines = await _start("--config", str(config))
    try:
        assert lines[1] == "management API: Basic auth as 'ops' (password from the node config)"
        assert lines[2] == (
            "control API (/_node/...): on, with the token from the node config"
            " (header Authorization: Bearer <token>)"
        )
        assert await _status(f"{lines[0]}/_node/state", "configured-control-token-42") == 200
    finally:
        out, err = await _stop(proc)
    printed = "\n".join(lines).encode() + out + err
    assert b"s3cret" not in printed and b"configured-control" not in printed


async def test_node_command_short_control_token_is_a_config_error(tmp_path: Path) -> None:
    config = tmp_path / "node.toml"
    config.write_text('[control]\nenabled = true\ntoken = "tiny-tok"\n')
    ran = await pexbot("node", "--config", str(config), timeout=20)
    assert ran.code == 2
    assert "control.token" in ran.only_line and "at least 16 characters" in ran.only_line
    assert "tiny-tok" not in ran.err
