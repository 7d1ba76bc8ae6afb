"""A bot's process imports only what its run needs: the recorder's chart library when it
draws, numpy and the frame sources when the bot sends or a plugin asks for samples, the
Prometheus client and aiohttp's server when metrics are asked for, and the node's code, the
management API, the service (Redis) and aiohttp's client never. (tests/e2e/test_lean_bot.py
checks a real `pexbot run` process in a call.)"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import BaseModel

from tests.support.media_files import write_media

#: The dnspython modules that run only when an mDNS (`.local`) candidate is met.
DNSPYTHON_ON_FIRST_USE = ("dns.message", "dns.zone", "dns.name", "dns.rdata", "dns.rdataset")

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
    "agent.admin",
    "agent.service",
    "agent.openvidu_server",
    "redis",
    "prometheus_client",
    # The client API has its own HTTP/1.1 transport (agent.infinity._http11): no aiohttp at all.
    "aiohttp",
    # Object storage: only a recorder configured for S3 loads it.
    "boto3",
    "botocore",
    "s3transfer",
    "plugins.recorder.s3",
    # dnspython serves aioice's mDNS alone: loaded on first use (agent/_lazy_imports.py).
    *DNSPYTHON_ON_FIRST_USE,
)


def _modules_after(code: str) -> set[str]:
    """The modules whose code has run (not those imported lazily and not touched yet)."""
    probe = (
        # What `pexbot` (agent.cli.main) does before its command imports anything.
        "from agent._lazy_imports import defer_dnspython\ndefer_dnspython()\n"
        f"{code}\nimport json\nfrom agent._lazy_imports import loaded_modules\n"
        "print(json.dumps(loaded_modules()))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True
    )
    return set(json.loads(out.stdout.splitlines()[-1]))


def _loaded(modules: set[str], name: str) -> bool:
    return name in modules or any(m.startswith(name + ".") for m in modules)


def test_a_recording_bot_imports_no_numpy_no_chart_and_no_node() -> None:
    modules = _modules_after(
        "from agent.cli import build_parser\n"
        "from agent.runtime.plugins import load_plugin_class\n"
        "build_parser(only='run')[0].parse_args(['run', '--plugin', 'recorder'])\n"
        "import agent.runtime.bot, agent.runtime.launch\n"
        "load_plugin_class('recorder')"
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


def test_the_full_parser_still_has_every_command_and_run_alone_has_run() -> None:
    from agent.cli import build_parser, command_of

    _, every = build_parser()
    assert {"node", "run", "fleet", "demo", "admin", "sink", "serve", "worker", "probe"} <= set(
        every
    )
    assert "openvidu" in every
    assert set(build_parser(only="run")[1]) == {"run"}
    assert set(build_parser(only="sink")[1]) == {"admin", "sink"}  # one group, one import
    assert set(build_parser(only="rnu")[1]) == set(every)  # a typo gets the full choice list
    assert command_of(["--version"]) is None
    assert command_of(["-h", "run"]) is None  # the top-level help lists every command
    assert command_of(["run", "--node", "x"]) == "run"


def test_every_client_api_model_builds_though_they_are_built_on_first_use() -> None:
    import agent.infinity.breakout_client
    import agent.infinity.models.events
    from agent.infinity.models._base import ApiModel, RequestBody

    def subclasses(cls: type[BaseModel]) -> list[type[BaseModel]]:
        out: list[type[BaseModel]] = []
        for sub in cls.__subclasses__():
            out += [sub, *subclasses(sub)]
        return out

    models = subclasses(ApiModel) + subclasses(RequestBody)
    assert len(models) > 50 and agent.infinity.breakout_client and agent.infinity.models.events
    for model in models:
        model.model_rebuild(force=True)
        assert model.__pydantic_complete__, model


@pytest.mark.parametrize(
    ("audio", "video"),
    [("tone:440", "pattern:320x240@15"), ("silence", "black"), ("none", "none"), ("file", "file")],
)
def test_the_sources_code_loaded_before_the_join_is_all_build_sources_imports(
    audio: str, video: str, tmp_path: Path
) -> None:
    """`pexbot run` loads `source_modules` before joining; building the sources in the call
    must then import nothing more of the media code (nor numpy)."""
    clip = tmp_path / "clip.webm"
    if audio == "file":
        write_media(clip, 0.5)
        audio = video = f"file:{clip}"
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "import json, sys, importlib\n"
            "from agent.config import parse_config\n"
            "from agent.runtime.call import build_sources, source_modules\n"
            "media = parse_config({'node': 'http://n', 'alias': 'a', 'media': "
            f"{{'audio': {audio!r}, 'video': {video!r}}}}}).media\n"
            "for name in source_modules(media):\n"
            "    importlib.import_module(name)\n"
            "before = set(sys.modules)\n"
            "build_sources(media)\n"
            "print(json.dumps(sorted(set(sys.modules) - before)))",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    new = json.loads(out.stdout.splitlines()[-1])
    assert [m for m in new if m.startswith(("agent", "numpy"))] == []


def test_model_modules_keep_real_annotations() -> None:
    """Pydantic evaluates every string annotation with `eval` when a model class is made
    (~6 ms of a bot's start for the client API's ~100 models): the modules a bot imports
    for its models do without `from __future__ import annotations`."""
    import agent.config
    import agent.infinity.models
    import plugins.recorder.config

    root = Path(agent.infinity.models.__file__).parent
    modules = [p for p in root.rglob("*.py") if p.name not in ("__init__.py", "_parse.py")]
    # events/_base.py keeps it: a module-level annotation names a class defined below it.
    modules = [p for p in modules if p != root / "events" / "_base.py"]
    modules += [Path(agent.config.__file__), Path(plugins.recorder.config.__file__)]
    assert len(modules) > 10
    with_future = [str(p) for p in modules if "from __future__ import annotations" in p.read_text()]
    assert with_future == []
