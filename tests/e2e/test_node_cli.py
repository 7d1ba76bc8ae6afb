"""`pexbot node`: prints its base URL first, serves, and stops cleanly on SIGTERM/SIGINT."""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

import aiohttp
import pytest

from agent.cli import build_parser

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
async def test_node_command_runs_and_stops(sig: signal.Signals) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "agent.cli", "node", "--port", "0",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=REPO,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        first = (await asyncio.wait_for(proc.stdout.readline(), 20)).decode().strip()
        assert first.startswith("http://127.0.0.1:")
        async with aiohttp.ClientSession() as http:
            url = f"{first}/api/client/v2/conferences/meet/request_token"
            async with http.post(url, json={"display_name": "cli"}) as resp:
                assert resp.status == 200
        rest = await asyncio.wait_for(proc.stdout.readline(), 5)
        assert b"admin / admin" in rest
        proc.send_signal(sig)
        assert await asyncio.wait_for(proc.wait(), 10) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def test_node_command_bad_config(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[[services]]\nname = 1\n")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "agent.cli", "node", "--config", str(bad),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=REPO,
    )  # fmt: skip
    _out, err = await asyncio.wait_for(proc.communicate(), 20)
    assert proc.returncode == 2
    assert err.decode() == (
        f"pexbot: invalid configuration: {bad}: services.0.name: Input should be a valid string\n"
    )


def test_parser_has_node_subcommand() -> None:
    parser, commands = build_parser()
    args = parser.parse_args(["node", "--port", "8080", "--host", "127.0.0.1"])
    assert args.command == "node" and args.port == 8080
    assert "node" in commands
