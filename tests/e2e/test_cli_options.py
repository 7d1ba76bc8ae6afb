"""`pexbot` options a newcomer reaches for: leave rules, --version, --metrics-port,
--plugin-config, a plugin file next to the config, and fleet metrics and logs."""

from __future__ import annotations

import asyncio
import re
import signal
from collections import Counter
from collections.abc import AsyncIterator
from importlib.metadata import version
from pathlib import Path

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from agent.node import LocalNode
from tests.e2e.conftest import Api, EventStream
from tests.support.inspect_node import names_in
from tests.support.pexbot_cmd import REPO, finish, pexbot, start
from tests.support.redis_server import free_port

SIGNALLING_ONLY = ["--audio", "none", "--video", "none"]


async def _line_matching(proc: asyncio.subprocess.Process, pattern: str, seen: list[str]) -> str:
    """Read the process's stderr until a line matches `pattern` (lines kept in `seen`)."""
    assert proc.stderr is not None
    async with asyncio.timeout(30):
        while True:
            raw = await proc.stderr.readline()
            assert raw, "stderr ended before: " + pattern + "\n" + "".join(seen)
            line = raw.decode()
            seen.append(line)
            if re.search(pattern, line):
                return line


async def _stop(proc: asyncio.subprocess.Process, seen: list[str]) -> tuple[int, str]:
    proc.send_signal(signal.SIGTERM)
    ran = await finish(proc)
    return ran.code, "".join(seen) + ran.err


# -- point 6: leave rules ----------------------------------------------------------------


async def test_alone_rule_from_a_flag_fires_and_is_logged(node: LocalNode) -> None:
    ran = await pexbot(
        "run", "--node", node.base_url, "--alias", "meet", "--name", "Lonely",
        "--alone-seconds", "1", *SIGNALLING_ONLY,
    )  # fmt: skip
    assert ran.code == 0, ran.err
    assert ran.last_line == "pexbot: left meet (leave.alone_seconds: alone for 1 s)"
    assert "leave rule leave.alone_seconds: alone for 1 s" in ran.err


async def test_run_help_lists_the_leave_rules_and_log_format() -> None:
    ran = await pexbot("run", "--help")
    assert ran.code == 0
    for text in (
        "alone_seconds = none",
        "duration = none",
        "when_hosts_leave = false",
        "waiting_room_timeout = 600",
        "--alone-seconds",
        "--when-hosts-leave",
        "--metrics-port",
        "--plugin-config",
    ):
        assert text in ran.out
    assert "log lines on stderr: text (default) or json" in " ".join(ran.out.split())


# -- point 11: --version, --metrics-port, --plugin-config -----------------------------------


async def test_version() -> None:
    ran = await pexbot("--version")
    assert (ran.code, ran.out.strip()) == (0, f"pexbot {version('pexbot')}")


async def test_recorder_set_up_from_flags_with_metrics(node: LocalNode, tmp_path: Path) -> None:
    proc = await start(
        "run", "--node", node.base_url, "--alias", "meet", "--name", "FlagRec",
        "--plugin", "recorder",
        "--plugin-config", f"recorder.output_dir={tmp_path}",
        "--plugin-config", "recorder.session_folder=flagged",
        "--plugin-config", "recorder.audio_only=true",
        "--metrics-port", "0", *SIGNALLING_ONLY,
    )  # fmt: skip
    seen: list[str] = []
    try:
        line = await _line_matching(proc, r"metrics at (http://\S+)", seen)
        url = line.split("metrics at ")[1].strip()
        await _line_matching(proc, r"joined meet", seen)
        async with aiohttp.ClientSession() as http, http.get(url) as resp:
            text = await resp.text()
        assert 'pexbot_bot_info{alias="meet",bot="FlagRec",name="FlagRec"} 1.0' in text
    finally:
        code, err = await _stop(proc, seen)
    assert code == 0, err
    assert f"recording to {tmp_path / 'flagged'}" in err
    assert (tmp_path / "flagged").is_dir()


# -- point 7: the README's plugin, loaded from the working directory ----------------------


def readme_greeter() -> str:
    """The README's `greeter.py`, exactly."""
    text = (REPO / "README.md").read_text()
    match = re.search(r"```python\n(# greeter\.py\n.*?)```", text, re.S)
    assert match, "README has no greeter.py example"
    return match.group(1)


async def _messages_until(stream: EventStream, payload: str) -> list[str]:
    seen: list[str] = []
    async with asyncio.timeout(20):
        while payload not in seen:
            item = await stream.next(20)
            assert item is not None, f"stream ended; messages: {seen}"
            if item[0] == "message_received":
                seen.append(item[1]["payload"])
    return seen


@pytest.mark.parametrize("spec", ["greeter:Greeter", "./greeter.py:Greeter"])
async def test_readme_greeter_greets_only_newcomers(
    node: LocalNode, api: Api, tmp_path: Path, spec: str
) -> None:
    (tmp_path / "greeter.py").write_text(readme_greeter())
    early = await api.joined("meet", "Early")
    stream = await early.events()
    await stream.sync()
    proc = await start(
        "run", "--node", node.base_url, "--alias", "meet", "--name", "Greeter",
        "--plugin", spec, *SIGNALLING_ONLY,
        cwd=tmp_path,
    )  # fmt: skip
    seen: list[str] = []
    try:
        # The bot has its first roster (Early in it) before anyone else comes.
        await _line_matching(proc, r"joined: Early", seen)
        await api.joined("meet", "Late")
        messages = await _messages_until(stream, "welcome, Late")
        assert messages == ["welcome, Late"]
        assert "Greeter" in await names_in(node, "meet")
    finally:
        await stream.close()
        code, err = await _stop(proc, seen)
    assert code == 0, err
    assert "Traceback" not in err


# -- points 8 and 12: a fleet's metrics and logs name each bot uniquely ------------------


@pytest.fixture
async def fleet_file(node: LocalNode, tmp_path: Path) -> AsyncIterator[Path]:
    path = tmp_path / "fleet.toml"
    path.write_text(
        f'[defaults]\nnode = "{node.base_url}"\nalias = "meet"\ndisplay_name = "Same"\n'
        '[defaults.media]\naudio = "none"\nvideo = "none"\nreceive_audio = false\n'
        "receive_video = false\n[[bots]]\n[[bots]]\n"
    )
    yield path


async def test_fleet_metrics_and_logs_tell_same_named_bots_apart(
    node: LocalNode, fleet_file: Path
) -> None:
    proc = await start("fleet", str(fleet_file), "--metrics-port", "0")
    seen: list[str] = []
    try:
        line = await _line_matching(proc, r"metrics at (http://\S+)", seen)
        url = line.split("metrics at ")[1].strip()
        async with asyncio.timeout(20):
            while (await names_in(node, "meet")).count("Same") < 2:  # noqa: ASYNC110
                await asyncio.sleep(0.1)
        async with aiohttp.ClientSession() as http, http.get(url) as resp:
            text = await resp.text()
    finally:
        code, err = await _stop(proc, seen)
    assert code == 0, err
    # Prometheus rejects a scrape with two samples of the same name and labels.
    samples = Counter(
        (s.name, tuple(sorted(s.labels.items())))
        for family in text_string_to_metric_families(text)
        for s in family.samples
    )
    assert [key for key, n in samples.items() if n > 1] == []
    info = [
        s.labels
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == "pexbot_bot_info"
    ]
    assert sorted(i["bot"] for i in info) == ["0:Same", "1:Same"]
    assert {i["name"] for i in info} == {"Same"}
    # Each bot's log lines say whose they are.
    for bot in ("0:Same", "1:Same"):
        assert re.search(rf"agent\.infinity\.session: \[{re.escape(bot)}\] joined meet", err)


async def test_fleet_serves_the_metrics_its_file_asks_for(node: LocalNode, tmp_path: Path) -> None:
    port = free_port()
    path = tmp_path / "fleet.toml"
    path.write_text(
        f'[defaults]\nnode = "{node.base_url}"\nalias = "meet"\n'
        '[defaults.media]\naudio = "none"\nvideo = "none"\nreceive_audio = false\n'
        f"receive_video = false\n[defaults.metrics]\nport = {port}\n"
        '[[bots]]\ndisplay_name = "A"\n[[bots]]\ndisplay_name = "B"\n'
    )
    proc = await start("fleet", str(path))
    seen: list[str] = []
    try:
        line = await _line_matching(proc, r"metrics at (http://\S+)", seen)
        assert f"127.0.0.1:{port}" in line
        async with asyncio.timeout(20):
            while sorted(await names_in(node, "meet")) != ["A", "B"]:  # noqa: ASYNC110
                await asyncio.sleep(0.1)
        url = f"http://127.0.0.1:{port}/metrics"
        async with aiohttp.ClientSession() as http, http.get(url) as resp:
            text = await resp.text()
    finally:
        code, err = await _stop(proc, seen)
    assert code == 0, err
    bots = sorted(
        s.labels["bot"]
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == "pexbot_bot_info"
    )
    assert bots == ["0:A", "1:B"]
