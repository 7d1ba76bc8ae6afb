"""What a real `pexbot run` process imports, taken in the call once media has flowed: a
recording bot loads no numpy, no chart library, no node, no management API or service
(Redis), no Prometheus client; a sending bot loads numpy and its loops but still none of
the rest. (The import-level checks are in tests/unit/test_lean_process.py.)"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from agent.config import parse_config
from agent.node import LocalNode
from agent.runtime.bot import Bot

REPO = Path(__file__).resolve().parents[2]
PROBE = "./tests/support/modules_probe.py:ModulesProbe"

#: Never in a bot's process, whatever it does (unless configured: metrics, a plugin's use).
NOT_IN_A_BOT = (
    "agent.node",
    "agent.admin",
    "agent.service",
    "agent.openvidu_server",
    "redis",
    "prometheus_client",
    "matplotlib",
    "boto3",  # only a recorder storing to S3
    # dnspython: aioice's mDNS alone, loaded on first use (agent/_lazy_imports.py)
    "dns.message",
    "dns.zone",
    "dns.name",
    "dns.rdata",
)
#: Also not in a bot that only records.
NOT_IN_A_RECORDER = (
    *NOT_IN_A_BOT,
    "aiohttp",  # the client API goes through agent.infinity's own HTTP/1.1 transport
    "numpy",
    "PIL",
    "agent.media.sources",
    "agent.media.loops",
    "agent.media.files",
    "agent.media.analysis",
)


def _loaded(modules: set[str], name: str) -> bool:
    return name in modules or any(m.startswith(name + ".") for m in modules)


@pytest.fixture
async def talker(node: LocalNode) -> AsyncIterator[Bot]:
    """Someone in `meet` sending a tone and the test pattern, so a recorder records."""
    bot = Bot(
        parse_config(
            {
                "node": node.base_url,
                "alias": "meet",
                "display_name": "Talker",
                "media": {"audio": "tone:440", "video": "pattern", "receive_video": False},
                "leave": {"alone_seconds": None},
            }
        )
    )
    task = asyncio.create_task(bot.run())
    yield bot
    bot.request_leave()
    await asyncio.wait_for(task, 15)


async def _modules_of_run(node: LocalNode, tmp_path: Path, toml: str) -> set[str]:
    out = tmp_path / "modules.json"
    cfg = tmp_path / "bot.toml"
    cfg.write_text(
        f'node = "{node.base_url}"\nalias = "meet"\ndisplay_name = "Lean"\n{toml}'
        f'[[plugins]]\nname = "{PROBE}"\nconfig = {{ out = "{out}" }}\n'
    )
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "agent.cli", "run", str(cfg),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=REPO,
    )  # fmt: skip
    _out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err.decode()
    return set(json.loads(out.read_text()))


async def test_a_recording_bot_process_loads_only_what_recording_needs(
    node: LocalNode, talker: Bot, tmp_path: Path
) -> None:
    modules = await _modules_of_run(
        node,
        tmp_path,
        '[media]\naudio = "none"\nvideo = "none"\n'
        f'[[plugins]]\nname = "recorder"\nconfig = {{ output_dir = "{tmp_path}" }}\n',
    )
    assert "aiortc" in modules and "plugins.recorder" in modules
    assert "av.container" in modules or "av" in modules  # it muxes: av is what it needs
    loaded = [name for name in NOT_IN_A_RECORDER if _loaded(modules, name)]
    assert loaded == [], loaded
    recordings = [p for p in tmp_path.iterdir() if p.is_dir()]
    assert recordings and any(p.glob("recording-*.webm") for p in recordings)


async def test_a_sending_bot_process_loads_its_loops_but_no_node(
    node: LocalNode, talker: Bot, tmp_path: Path
) -> None:
    modules = await _modules_of_run(
        node, tmp_path, '[media]\naudio = "tone:440"\nvideo = "pattern"\n'
    )
    assert "numpy" in modules and "agent.media.loops" in modules
    loaded = [name for name in NOT_IN_A_BOT if _loaded(modules, name)]
    assert loaded == [], loaded
