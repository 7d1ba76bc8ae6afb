"""PIN guessing on the node: renaming gives no extra guesses (counted per source address and
conference too), over HTTP and as a user of `pexbot run` meets it."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from agent.node import LocalNode, NodeConfig

from .conftest import Api, Seen, fast_config

REPO = Path(__file__).resolve().parents[2]
RETRIES_EXCEEDED = "Participant exceeded PIN entry retries"


@pytest.fixture
def node_config() -> NodeConfig:
    return fast_config(pin_failures_per_address=4, pin_failure_window=1.5)


async def test_renaming_gives_no_more_guesses(api: Api) -> None:
    replies = [await api.join("secure", f"guess {i}", pin=f"00{i}") for i in range(4)]
    assert [r.result for r in replies] == ["Invalid PIN"] * 3 + [RETRIES_EXCEEDED]
    # Locked out on this conference from this address: even the right PIN is refused.
    again = await api.join("secure", "honest name", pin="1234")
    assert (again.status, again.result) == (403, RETRIES_EXCEEDED)
    # Another conference from the same address is not affected...
    assert (await api.join("locked", "h", pin="1234")).status == 200
    # ...nor the same conference from another address (Linux routes all of 127/8 to lo).
    connector = aiohttp.TCPConnector(local_addr=("127.0.0.2", 0))
    async with aiohttp.ClientSession(connector=connector) as other:
        elsewhere = await Api(other, api.node, Seen()).join("secure", "h", pin="1234")
    assert elsewhere.status == 200
    await asyncio.sleep(1.6)  # the window has passed
    assert (await api.join("secure", "h", pin="1234")).status == 200


@pytest.fixture
async def strict_node() -> AsyncIterator[LocalNode]:
    async with LocalNode(fast_config(pin_failures_per_address=2)) as node:
        yield node


async def _run_bot(node: LocalNode, name: str, pin: str) -> tuple[int | None, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "agent.cli", "run", "--node", node.base_url, "--alias", "secure",
        "--name", name, "--pin-env", "BOT_PIN", "--audio", "none", "--video", "none",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=REPO,
        env={**os.environ, "BOT_PIN": pin},
    )  # fmt: skip
    _out, err = await asyncio.wait_for(proc.communicate(), 30)
    text = err.decode()
    assert "Traceback" not in text and pin not in text
    return proc.returncode, text.strip().splitlines()[-1]


async def test_a_renamed_bot_is_refused_after_the_address_used_its_guesses(
    strict_node: LocalNode,
) -> None:
    assert await _run_bot(strict_node, "First", "000111") == (
        11,
        "pexbot: failed (invalid_pin): Invalid PIN",
    )
    exceeded = (12, f"pexbot: failed (pin_retries_exceeded): {RETRIES_EXCEEDED}")
    assert await _run_bot(strict_node, "Second", "000222") == exceeded
    assert await _run_bot(strict_node, "Third", "1234") == exceeded
