"""The `pexbot` command. One function per subcommand: add a `_cmd_<name>` and register it in
`build_parser`."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
import tomllib
from collections.abc import Callable, Sequence
from typing import Any

from pydantic import ValidationError

Command = Callable[[argparse.Namespace], int]


def _cmd_node(args: argparse.Namespace) -> int:
    """Run the local Infinity node until Ctrl-C or SIGTERM."""
    # Imported here: aiortc and av are slow to import and other subcommands do not need them.
    from agent.node import LocalNode, default_config, load_config  # noqa: PLC0415

    try:
        config = load_config(args.config) if args.config else default_config()
    except (OSError, tomllib.TOMLDecodeError, ValidationError) as exc:
        print(f"pexbot node: bad config {args.config}: {exc}", file=sys.stderr)
        return 2

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):  # not on Windows
                loop.add_signal_handler(sig, stop.set)
        async with LocalNode(config, host=args.host, port=args.port) as node:
            # The base URL is the first line: scripts and tests read it to find the node.
            print(node.base_url, flush=True)
            print(
                f"management API credentials: {config.management.username} / "
                f"{config.management.password}",
                flush=True,
            )
            for service in config.services:
                pins = []
                if service.host_pin:
                    pins.append(f"host PIN {service.host_pin}")
                if service.guest_pin:
                    pins.append(f"guest PIN {service.guest_pin}")
                extra = f" ({', '.join(pins)})" if pins else ""
                print(f"  {service.kind:<10} {', '.join(service.aliases)}{extra}", flush=True)
            await stop.wait()

    asyncio.run(run())
    return 0


def _run_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The flags given on the command line, shaped like the config file (flags win)."""
    over: dict[str, Any] = {}
    for flag, key in (
        ("node", "node"),
        ("alias", "alias"),
        ("name", "display_name"),
        ("pin_env", "pin_env"),
        ("extension", "extension"),
        ("call_tag", "call_tag"),
        ("log_format", "log_format"),
    ):
        value = getattr(args, flag)
        if value is not None:
            over[key] = value
    media = {k: getattr(args, k) for k in ("audio", "video") if getattr(args, k) is not None}
    if media:
        over["media"] = media
    if args.duration is not None:
        over["leave"] = {"duration": args.duration}
    if args.plugin:
        over["plugins"] = [{"name": name} for name in args.plugin]
    return over


def _fail(message: str, code: int) -> int:
    print(f"pexbot: {message}", file=sys.stderr)
    return code


def _cmd_run(args: argparse.Namespace) -> int:
    """Run one bot until it leaves; the exit code says how it ended."""
    from agent.config import ConfigError, parse_config, read_toml  # noqa: PLC0415
    from agent.runtime.launch import (  # noqa: PLC0415
        PluginLoadError,
        build_plugins,
        merge_tables,
        run_bot,
    )
    from agent.runtime.logs import setup_logging  # noqa: PLC0415

    data: dict[str, Any] = {}
    source = "command line"
    try:
        if args.config:
            source = args.config
            data = read_toml(args.config)
        config = parse_config(merge_tables(data, _run_overrides(args)), source)
        pin = config.resolve_pin()
        build_plugins(config)  # fail on a bad plugin before joining
    except ConfigError as exc:
        return _fail(f"invalid configuration:\n{exc}", 2)
    except PluginLoadError as exc:
        return _fail(str(exc), 2)  # one line: it names the plugin and what is wrong
    setup_logging(config.log_format, secrets=[pin] if pin else [])
    # A progress line on a terminal; plain log lines otherwise (files, journald, CI).
    result = asyncio.run(run_bot(config, progress=sys.stderr if sys.stderr.isatty() else None))
    if result.reason is not None:
        return _fail(f"failed ({result.reason}): {result.detail}", result.exit_code)
    print(f"pexbot: left {config.alias} ({result.detail or 'done'})", file=sys.stderr)
    return 0


def _cmd_fleet(args: argparse.Namespace) -> int:
    """Run many bots in one process; print a summary when all have left."""
    from agent.config import ConfigError  # noqa: PLC0415
    from agent.runtime.launch import PluginLoadError, load_fleet, run_fleet  # noqa: PLC0415
    from agent.runtime.logs import setup_logging  # noqa: PLC0415

    try:
        entries = load_fleet(args.file)
    except (ConfigError, PluginLoadError) as exc:
        return _fail(f"invalid fleet file:\n{exc}", 2)
    pins = [p for e in entries if (p := e.config.resolve_pin())]
    setup_logging(args.log_format, secrets=pins)
    results = asyncio.run(run_fleet(entries, metrics_port=args.metrics_port))
    width = max(len(name) for name in results)
    print(f"{'bot':<{width}}  {'state':<8} {'rejoins':>7} {'recalls':>7}  reason", flush=True)
    for name, r in results.items():
        why = f"{r.reason}: {r.detail}" if r.reason else r.detail
        print(f"{name:<{width}}  {r.state:<8} {r.rejoins:>7} {r.recalls:>7}  {why}")
    failed = sum(1 for r in results.values() if r.reason is not None)
    print(f"{len(results) - failed} of {len(results)} bots left cleanly")
    return 0 if not failed else 1


def _cmd_demo(args: argparse.Namespace) -> int:
    """A local node, two talking bots and a recorder, for about 20 s."""
    from agent.demo import run_demo  # noqa: PLC0415
    from agent.runtime.logs import setup_logging  # noqa: PLC0415

    setup_logging("text", level=logging.WARNING)
    return asyncio.run(run_demo(args.seconds, args.output))


def build_parser() -> tuple[argparse.ArgumentParser, dict[str, Command]]:
    parser = argparse.ArgumentParser(
        prog="pexbot",
        description="Headless conference bots for Pexip Infinity, and a local node to try them on.",
        epilog="Start with `pexbot demo`; `pexbot COMMAND --help` for each command.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    commands: dict[str, Command] = {}

    node = sub.add_parser("node", help="run the local Infinity node")
    node.add_argument("--config", help="services TOML file (default: built-in set)")
    node.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    node.add_argument("--port", type=int, default=0, help="port (default 0: pick a free one)")
    commands["node"] = _cmd_node

    run = sub.add_parser("run", help="run one bot (config file and/or flags; flags win)")
    run.add_argument("config", nargs="?", help="bot TOML file")
    run.add_argument("--node", help="node URL, e.g. https://pexip.example.com")
    run.add_argument("--alias", help="conference alias")
    run.add_argument("--name", help="display name")
    run.add_argument("--pin-env", help="environment variable holding the PIN")
    run.add_argument("--extension", help="Virtual Reception: alias to be forwarded to")
    run.add_argument("--call-tag", help="call tag")
    run.add_argument("--audio", help="silence | tone:HZ | file:PATH | none")
    run.add_argument("--video", help="none | black | pattern[:WxH[@FPS]] | file:PATH")
    run.add_argument("--plugin", action="append", help="plugin name (repeatable)")
    run.add_argument("--duration", type=float, help="leave after this many seconds")
    run.add_argument("--log-format", choices=["text", "json"])
    commands["run"] = _cmd_run

    fleet = sub.add_parser("fleet", help="run many bots from one file in one process")
    fleet.add_argument("file", help="fleet TOML file ([defaults] + [[bots]])")
    fleet.add_argument("--log-format", choices=["text", "json"], default="text")
    fleet.add_argument("--metrics-port", type=int, help="serve Prometheus /metrics here")
    commands["fleet"] = _cmd_fleet

    demo = sub.add_parser("demo", help="local node + two talkers + a recorder, ~20 s")
    demo.add_argument("--seconds", type=float, default=20.0, help="how long the talkers talk")
    demo.add_argument("--output", default="recordings", help="where the recording goes")
    commands["demo"] = _cmd_demo

    return parser, commands


def main(argv: Sequence[str] | None = None) -> int:
    parser, commands = build_parser()
    args = parser.parse_args(argv)
    return commands[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
