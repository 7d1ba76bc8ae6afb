"""A local node in its own process for the probe's end-to-end tests, with per-participant
media impairment from its config and a control-API helper."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from tests.support.inspect_node import CONTROL_TOKEN
from tests.support.pexbot_cmd import finish, start

NODE_TOML = """
[control]
enabled = true
token = "{token}"

[[services]]
name = "test_call"
kind = "test_call"

[[services]]
name = "meet"

[media]
# Smaller pictures: several calls encoded by one node on a shared 2-core machine.
video_width = 320
video_height = 240
"""


def node_toml(impaired: dict[str, dict[str, dict[str, Any]]], extra: str = "") -> str:
    """The node's config: display name -> {"rx": knobs, "tx": knobs}; `extra` TOML first."""
    text = extra + NODE_TOML.format(token=CONTROL_TOKEN)
    for name, knobs in impaired.items():
        for direction, values in knobs.items():
            text += f'\n[media.impairment.participants."{name}".{direction}]\n'
            text += "".join(f"{k} = {json.dumps(v)}\n" for k, v in values.items())
    return text


@dataclass(frozen=True)
class Node:
    base_url: str

    async def control(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        """One control request (`path` after `/_node/`): (status, parsed JSON body)."""
        headers = {"Authorization": f"Bearer {CONTROL_TOKEN}"}
        async with (
            aiohttp.ClientSession() as http,
            http.request(method, f"{self.base_url}/_node/{path}", headers=headers, json=body) as r,
        ):
            return r.status, await r.json()


@contextlib.asynccontextmanager
async def node_process(
    folder: Path, impaired: dict[str, dict[str, dict[str, Any]]], extra: str = ""
) -> AsyncIterator[Node]:
    """`pexbot node --config` in its own process (the second core): several calls' codecs
    in the test's process would stall its event loop and show up as jitter."""
    config = folder / "node.toml"
    config.write_text(node_toml(impaired, extra))
    proc = await start("node", "--config", str(config))
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), 30)
        assert line.startswith(b"http://"), line
        yield Node(line.decode().strip())
    finally:
        if proc.returncode is None:
            proc.terminate()
        await finish(proc, 30)
