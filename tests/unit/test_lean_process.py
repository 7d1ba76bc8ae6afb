"""A bot's process imports only what its run needs: the recorder's chart library when it
draws, numpy and the frame sources when the bot sends or a plugin asks for samples, and the
node's code never."""

from __future__ import annotations

import json
import subprocess
import sys

#: Never in a bot that only records (the recorder's process: `pexbot run --plugin recorder`).
NOT_FOR_A_RECORDER = (
    "numpy",
    "matplotlib",
    "PIL",
    "scipy",
    "agent.node",
    "agent.media.sources",
    "agent.media.loops",
    "agent.media.files",
    "agent.media.analysis",
    # Object storage: only a recorder configured for S3 loads it.
    "boto3",
    "botocore",
    "s3transfer",
    "plugins.recorder.s3",
)


def _modules_after(code: str) -> set[str]:
    probe = f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True
    )
    return set(json.loads(out.stdout.splitlines()[-1]))


def _loaded(modules: set[str], name: str) -> bool:
    return name in modules or any(m.startswith(name + ".") for m in modules)


def test_a_recording_bot_imports_no_numpy_no_chart_and_no_node() -> None:
    modules = _modules_after(
        "import agent.cli, agent.runtime.bot, agent.runtime.launch, plugins.recorder"
    )
    assert "aiortc" in modules and "plugins.recorder" in modules
    loaded = [name for name in NOT_FOR_A_RECORDER if _loaded(modules, name)]
    assert loaded == [], loaded


def test_sending_a_builtin_source_imports_numpy_but_still_no_node() -> None:
    modules = _modules_after(
        "from agent.config import parse_config\n"
        "from agent.runtime.call import build_sources\n"
        "media = parse_config({'node': 'http://n', 'alias': 'a',"
        " 'media': {'audio': 'tone:440', 'video': 'pattern'}}).media\n"
        "build_sources(media)"
    )
    assert "numpy" in modules and "agent.media.loops" in modules
    assert not _loaded(modules, "agent.node") and not _loaded(modules, "matplotlib")
