"""The soak's moving parts: the `pexbot` processes it starts (a node, bots, a fleet) and the
node's control API it steers them through. Everything talks over 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

REPO = Path(__file__).resolve().parents[1]
ALIAS = "meet"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Proc:
    """One `pexbot` process: its name, its log file and (for bots) its metrics port."""

    name: str
    process: asyncio.subprocess.Process
    log: Path
    metrics_port: int | None = None
    #: The counters last scraped from its /metrics (name -> {bot label -> value}).
    metrics: dict[str, dict[str, float]] = field(default_factory=dict)
    _files: list[IO[Any]] = field(default_factory=list)

    @property
    def exited(self) -> bool:
        return self.process.returncode is not None

    def close_files(self) -> None:
        for f in self._files:
            f.close()


async def start_pexbot(name: str, args: list[str], workdir: Path) -> Proc:
    """`python -m agent.cli ARGS` (the `pexbot` command): stdout to `name`.out, stderr (the
    log) to `name`.log."""
    log = workdir / f"{name}.log"
    out, err = (workdir / f"{name}.out").open("wb"), log.open("wb")
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "agent.cli", *args,
        stdout=out,
        stderr=err,
        cwd=REPO,
    )  # fmt: skip
    return Proc(name, process, log, _files=[out, err])


async def start_node(config: Path, workdir: Path) -> tuple[Proc, str]:
    """`pexbot node --config CONFIG`; returns it with its base URL (its first line)."""
    log = workdir / "node.log"
    err = log.open("wb")
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "agent.cli", "node", "--config", str(config),
        stdout=asyncio.subprocess.PIPE,
        stderr=err,
        cwd=REPO,
    )  # fmt: skip
    assert process.stdout is not None
    url = (await asyncio.wait_for(process.stdout.readline(), 60)).decode().strip()
    if not url.startswith("http://"):
        process.kill()
        await process.wait()
        err.close()
        raise RuntimeError(f"the node did not start: {log.read_text()[-2000:]}")
    proc = Proc("node", process, log, _files=[err])
    return proc, url


async def drain(proc: Proc) -> None:
    """Read (and drop) what the node still prints, so its pipe never fills."""
    stream = proc.process.stdout
    if stream is not None:
        while await stream.read(65536):
            pass


async def stop(proc: Proc, timeout: float = 30.0) -> int:
    """SIGTERM (a bot leaves cleanly on it), then SIGKILL after `timeout`; the exit code."""
    if proc.process.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            proc.process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.process.wait(), timeout)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                proc.process.kill()
            await proc.process.wait()
    proc.close_files()
    assert proc.process.returncode is not None
    return proc.process.returncode


async def scrape(http: aiohttp.ClientSession, proc: Proc) -> None:
    """Keep the process's counters (the last scrape stands when it has gone)."""
    if proc.metrics_port is None or proc.exited:
        return
    url = f"http://127.0.0.1:{proc.metrics_port}/metrics"
    try:
        async with http.get(url, timeout=aiohttp.ClientTimeout(total=5)) as r:
            text = await r.text()
    except (aiohttp.ClientError, TimeoutError):
        return  # not up yet, or leaving
    found: dict[str, dict[str, float]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if "bot" not in sample.labels:
                continue
            key = sample.name
            if key == "pexbot_state_transitions_total":
                key += ":" + sample.labels.get("state", "")
            found.setdefault(key, {})
            bot = sample.labels["bot"]
            found[key][bot] = found[key].get(bot, 0.0) + sample.value
    proc.metrics = found


class Control:
    """The node's control API (`/_node/...`, behind its bearer token)."""

    def __init__(self, http: aiohttp.ClientSession, url: str, token: str) -> None:
        self._http = http
        self._url = url
        self._headers = {"Authorization": f"Bearer {token}"}

    async def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        async with self._http.request(
            method,
            f"{self._url}/_node/{path}",
            headers=self._headers,
            json=body if method == "POST" else None,
            timeout=aiohttp.ClientTimeout(total=10),
        ) as r:
            data = await r.json()
            if r.status != 200:
                raise RuntimeError(f"control {method} {path}: HTTP {r.status}: {data}")
            return data["result"]

    async def participants(self) -> list[dict[str, Any]]:
        state = await self._call("GET", "state")
        found: list[dict[str, Any]] = state.get(ALIAS, {}).get("participants", [])
        return found

    async def faults(self, **patch: Any) -> None:
        await self._call("POST", "faults", patch)

    async def main_call(self, name: str) -> tuple[str, str] | None:
        """(participant uuid, call uuid) of `name`'s main WebRTC call, if it has one up."""
        for p in await self.participants():
            if p["display_name"] != name:
                continue
            for call in p["calls"]:
                if call["call_type"] == "WEBRTC" and call.get("connection_state") == "connected":
                    return p["uuid"], call["call_uuid"]
        return None

    async def wait_main_call(self, name: str, timeout: float = 20.0) -> tuple[str, str] | None:
        """`main_call`, waiting for one (the bot may be re-calling or rejoining)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            found = await self.main_call(name)
            if found is not None or loop.time() > deadline:
                return found
            await asyncio.sleep(0.5)

    async def drop_call(self, participant: str, call: str) -> None:
        """A forced media loss: the node tells the bot its call is gone (a re-call follows)."""
        await self._call(
            "POST",
            f"participants/{participant}/events",
            {"event": "call_disconnected", "data": {"call_uuid": call, "reason": "soak"}},
        )

    async def renegotiate(self, participant: str, call: str) -> None:
        await self._call("POST", f"participants/{participant}/calls/{call}/renegotiate", {})
