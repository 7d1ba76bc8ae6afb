"""`pexbot probe`: the call-quality probe from the command line (logic in
`agent.runtime.probe_run`).

Exit codes: 0 every target met its SLA, 1 a target breached it (or could not be probed),
2 the configuration is invalid (or the metrics port is taken).
"""

from __future__ import annotations

import argparse
import asyncio
import errno
import sys
from typing import Any

EPILOG = """\
A probe file lists targets and the SLA (see README, "Call-quality probe"); or probe one
target from flags: pexbot probe --node https://node.example.com --alias test_call.
Each target's report goes to OUTPUT/<target>-<UTC start>/ (report.json, quality.png,
metrics.prom); one verdict line per target is printed. Exit 0: every SLA met; 1: a target
breached its SLA or could not be probed; 2: invalid configuration.
"""


def add_parser(sub: Any) -> None:
    probe = sub.add_parser(
        "probe",
        help="measure call quality on targets; exit 1 when an SLA is breached",
        description="Join each target as a synthetic participant, measure what people would "
        "hear and see, classify it as Pexip does, and judge it against the SLA.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    probe.add_argument("config", nargs="?", help="probe TOML file (targets, [sla], ...)")
    probe.add_argument("--node", help="one target instead of the file's: node URL (with --alias)")
    probe.add_argument("--alias", help="one target: alias to join, e.g. a test-call service")
    probe.add_argument("--name", help="one target: its name in reports (default alias@host)")
    probe.add_argument("--every", metavar="DURATION",
                       help="run on a schedule: 90s, 5m, 1h (default: once)")  # fmt: skip
    probe.add_argument("--once", action="store_true", help="one round even if the file has every")
    probe.add_argument("--duration", type=float, metavar="SECONDS",
                       help="seconds of media per target (default 60)")  # fmt: skip
    probe.add_argument("--output", metavar="DIR", help="reports folder (default probe-reports)")
    probe.add_argument("--parallel", type=int, metavar="N", help="targets at once (default 4)")
    probe.add_argument("--metrics-port", type=int, metavar="PORT",
                       help="serve the targets' gauges on Prometheus /metrics")  # fmt: skip
    probe.add_argument("--log-format", choices=["text", "json"], default="text",
                       help="log lines on stderr: text (default) or json")  # fmt: skip


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    from agent.runtime.probe_run import parse_every  # noqa: PLC0415

    out: dict[str, Any] = {}
    if args.every is not None:
        try:
            out["every"] = parse_every(args.every)
        except ValueError as exc:
            raise ValueError(f"--every: {exc}") from None
    if args.once:
        out["every"] = None
    for flag, key in (("duration", "duration"), ("output", "output_dir"),
                      ("parallel", "parallel"), ("metrics_port", "metrics_port")):  # fmt: skip
        value = getattr(args, flag)
        if value is not None:
            out[key] = value
    return out


def run_probe(args: argparse.Namespace) -> int:
    from agent.config import ConfigError  # noqa: PLC0415
    from agent.runtime.listen import ListenError  # noqa: PLC0415
    from agent.runtime.logs import setup_logging  # noqa: PLC0415
    from agent.runtime.probe_run import (  # noqa: PLC0415
        load_probe_file,
        parse_run_config,
        run_probes,
        targets_from_flags,
    )

    def problems(text: str) -> int:
        for line in text.splitlines():
            print(f"pexbot: invalid configuration: {line}", file=sys.stderr)
        return 2

    try:
        overrides = _overrides(args)
    except ValueError as exc:
        return problems(f"command line: {exc}")
    if (args.node is None) != (args.alias is None):
        return problems("command line: --node and --alias go together")
    if args.node is not None:
        overrides["targets"] = targets_from_flags(args.node, args.alias, args.name)
    elif args.config is None:
        return problems("command line: give a probe file, or --node and --alias")
    try:
        if args.config is not None:
            config = load_probe_file(args.config, overrides)
        else:
            config = parse_run_config(overrides, "command line")
    except ConfigError as exc:
        return problems(str(exc))
    setup_logging(args.log_format)
    try:
        return asyncio.run(run_probes(config, sys.stdout))
    except ListenError as exc:
        if exc.errno == errno.EADDRINUSE:
            print(f"pexbot: port {exc.port} is in use", file=sys.stderr)
        else:
            print(
                f"pexbot: cannot listen on {exc.host}:{exc.port}: {exc.strerror}", file=sys.stderr
            )
        return 2
