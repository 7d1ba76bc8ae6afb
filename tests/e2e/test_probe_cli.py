"""`pexbot probe` as a user runs it: three targets, one of which breaks the SLA (the node
drops 15 % of its packets both ways); the exit code, the verdict lines, and a report,
a chart and gauges for each target. Also the command's configuration errors: exit 2, one
line, no traceback."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from agent import ProbeReport, Quality, QualityRule
from agent.admin import EventSinkReceiver
from tests.e2e.probe_support import Node, node_process
from tests.support.pexbot_cmd import pexbot

LOSSY: dict[str, dict[str, dict[str, Any]]] = {
    "probe-lossy": {"rx": {"loss": 15, "loss_model": "even"}, "tx": {"loss": 15}}
}
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
async def sink(tmp_path: Path) -> AsyncIterator[EventSinkReceiver]:
    receiver = EventSinkReceiver(jsonl=tmp_path / "events.jsonl")
    await receiver.start()
    try:
        yield receiver
    finally:
        await receiver.stop()


@pytest.fixture
async def node(tmp_path: Path, sink: EventSinkReceiver) -> AsyncIterator[Node]:
    # The node's event sink posts a media-stream window every 5 s to the receiver above.
    extra = f'[[management.event_sinks]]\nurl = "{sink.url}"\nversion = 2\nwindow = 5\n'
    async with node_process(tmp_path, LOSSY, extra) as running:
        yield running


def probe_file(folder: Path, node: Node) -> Path:
    path = folder / "probe.toml"
    path.write_text(
        f"""
output_dir = "{folder / "reports"}"
duration = 21

[sla]
min_class = "ok"
min_mos = 3.0
max_latency_ms = 2000

[bot.media]
ice_host_addresses = ["127.0.0.1"]

[probe]
video = "320x240@15"
event_sink_jsonl = "{folder / "events.jsonl"}"
management = {{ url = "{node.base_url}", password_env = "PROBE_ADMIN_PASSWORD" }}

[[targets]]
name = "test-call"
node = "{node.base_url}"
alias = "test_call"

[[targets]]
name = "meeting"
node = "{node.base_url}"
alias = "meet"

[[targets]]
name = "lossy"
node = "{node.base_url}"
alias = "test_call"
bot = {{ display_name = "probe-lossy" }}
"""
    )
    return path


async def test_three_targets_one_breaks_its_sla(node: Node, tmp_path: Path) -> None:
    env = {"PROBE_ADMIN_PASSWORD": "admin"}
    ran = await pexbot("probe", str(probe_file(tmp_path, node)), env=env, timeout=120)
    assert ran.code == 1, (ran.out, ran.err)
    assert "Traceback" not in ran.err
    lines = ran.out.splitlines()
    verdicts = {line.split()[1].rstrip(":"): line for line in lines if line[:4] in ("PASS", "FAIL")}
    assert verdicts["test-call"].startswith("PASS test-call: Good (pexip_current), MOS ")
    assert verdicts["meeting"].startswith("PASS meeting: Good (pexip_current), MOS ")
    assert verdicts["lossy"].startswith(
        "FAIL lossy: class Terrible worse than OK (pexip_current); MOS "
    ), verdicts["lossy"]
    assert lines[-1] == "2 of 3 targets met their SLA"

    folders = {p.name.rsplit("-", 1)[0]: p for p in (tmp_path / "reports").iterdir()}
    assert sorted(folders) == ["lossy", "meeting", "test-call"]
    for name, folder in folders.items():
        report = ProbeReport.model_validate_json((folder / "report.json").read_text())
        assert report.target == name and report.joined and report.failure is None
        assert report.verdict.line == verdicts[name]
        assert (folder / "quality.png").read_bytes()[:8] == PNG
        assert (folder / "quality.png").stat().st_size > 20_000  # a chart, not an empty frame
        gauges = (folder / "metrics.prom").read_text()
        ok = "1.0" if report.verdict.ok else "0.0"
        assert f'pexbot_probe_sla_ok{{target="{name}"}} {ok}' in gauges
        assert f"reports/{folder.name}/report.json" in ran.out
    lossy = ProbeReport.model_validate_json((folders["lossy"] / "report.json").read_text())
    assert lossy.completed(QualityRule.PEXIP_CURRENT) is Quality.TERRIBLE
    # The server's view of each probe: management API during and after, the sink's windows.
    for name in ("test-call", "lossy"):
        server = ProbeReport.model_validate_json((folders[name] / "report.json").read_text()).server
        assert server is not None and server.errors == [], name
        assert server.during and server.history and server.history_call_quality, name
        assert len(server.sink_windows) >= 2, (name, server.sink_windows)
    lossy_server = lossy.server
    assert lossy_server is not None
    assert lossy_server.sink_windows[-1].call_quality_now == "4_terrible"
    assert lossy_server.history_call_quality == "4_terrible"
    # Markers only where media comes back: the test call, not the meeting.
    meeting = json.loads((folders["meeting"] / "report.json").read_text())
    assert meeting["latency"]["markers"] is False and meeting["service_type"] == "conference"
    assert ProbeReport.model_validate(meeting).latency.rtt_ms is not None


@pytest.mark.parametrize(
    ("args", "line"),
    [
        ((), "pexbot: invalid configuration: command line: give a probe file, or --node "
         "and --alias"),
        (("--node", "http://127.0.0.1:9"), "pexbot: invalid configuration: command line: --node "
         "and --alias go together"),
        (("--node", "http://127.0.0.1:9", "--alias", "x", "--every", "soon"),
         "pexbot: invalid configuration: command line: --every: not a duration: 'soon' "
         "(e.g. 90s, 5m, 1h)"),
        (("--node", "ftp://x", "--alias", "x"),
         "pexbot: invalid configuration: command line: targets.0.node: String should match "
         "pattern '^https?://[^/\\s]+'"),
    ],
)  # fmt: skip
async def test_configuration_errors_exit_2_with_one_line(args: tuple[str, ...], line: str) -> None:
    ran = await pexbot("probe", *args)
    assert ran.code == 2
    assert ran.only_line == line


async def test_a_bad_probe_file_names_the_file_and_key(tmp_path: Path) -> None:
    path = tmp_path / "probe.toml"
    path.write_text(
        'duration = 1\n[sla]\nmin_class = "fine"\n[[targets]]\nname = "a"\n'
        'node = "http://127.0.0.1:9"\nalias = "x"\n[probe]\nvideo = "big"\n'
    )
    ran = await pexbot("probe", str(path))
    assert ran.code == 2
    assert "Traceback" not in ran.err
    assert ran.err.splitlines() == [
        f"pexbot: invalid configuration: {path}: duration: Input should be greater than or "
        "equal to 5",
        f"pexbot: invalid configuration: {path}: sla.min_class: Value error, not a "
        "call-quality class: 'fine' (good, ok, bad, terrible)",
    ]
    path.write_text(
        '[[targets]]\nname = "a"\nnode = "http://127.0.0.1:9"\nalias = "x"\n'
        '[probe]\nvideo = "big"\n'
    )
    ran = await pexbot("probe", str(path))
    assert ran.code == 2
    assert ran.only_line == (
        f"pexbot: invalid configuration: {path}: targets.0: plugin probe: invalid config: "
        "video: Value error, video must look like 640x480@15, not 'big'"
    )
    path.write_text(
        '[[targets]]\nname = "a"\nnode = "http://127.0.0.1:9"\nalias = "x"\n'
        '[probe.management]\nurl = "http://127.0.0.1:9"\npassword_env = "NO_SUCH_PROBE_PW"\n'
    )
    ran = await pexbot("probe", str(path))
    assert ran.code == 2
    assert ran.only_line == (
        f"pexbot: invalid configuration: {path}: targets.0: plugin probe: invalid config: "
        "management: Value error, environment variable NO_SUCH_PROBE_PW is not set"
    )
