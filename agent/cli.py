"""The `pexbot` command. One function per subcommand: add a `_cmd_<name>` and register it in
`build_parser`."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import errno
import functools
import logging
import signal
import sys
from collections.abc import Callable, Sequence
from typing import Any

from agent._lazy_imports import defer_dnspython
from agent._run_args import seconds_or_none
from agent.redact import Redactor, redacted_output

Command = Callable[[argparse.Namespace], int]


def _secrets(args: argparse.Namespace) -> Redactor:
    """The command's redactor (`main` puts it on `args`; a fresh one when called directly)."""
    secrets = getattr(args, "secrets", None)
    return secrets if isinstance(secrets, Redactor) else Redactor()


def _fail(message: str, code: int) -> int:
    print(f"pexbot: {message}", file=sys.stderr)
    return code


def _config_problems(problems: str) -> int:
    """Exit 2 with one line per problem (each names its file or flag and its key)."""
    for line in problems.splitlines():
        _fail(f"invalid configuration: {line}", 2)
    return 2


def _cannot_listen(host: str, port: int, exc: OSError) -> int:
    if exc.errno == errno.EADDRINUSE:
        return _fail(f"port {port} is in use", 2)
    return _fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}", 2)


def _cmd_node(args: argparse.Namespace) -> int:
    """Run the local Infinity node until Ctrl-C or SIGTERM."""
    # Imported here: aiortc and av are slow to import and other subcommands do not need them.
    from agent.config import ConfigError  # noqa: PLC0415
    from agent.node import LocalNode, default_config, startup_lines  # noqa: PLC0415
    from agent.node.config import load_node_config  # noqa: PLC0415

    try:
        config = load_node_config(args.config) if args.config else default_config()
    except ConfigError as exc:
        return _config_problems(str(exc))
    if args.control:
        config.control.enabled = True

    async def run() -> int:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):  # not on Windows
                loop.add_signal_handler(sig, stop.set)
        async with contextlib.AsyncExitStack() as stack:
            try:
                node = await stack.enter_async_context(
                    LocalNode(config, host=args.host, port=args.port, settle_heap=True)
                )
            except OSError as exc:
                return _cannot_listen(args.host, args.port, exc)
            # The base URL is the first line: scripts and tests read it to find the node.
            for line in startup_lines(node):
                print(line, flush=True)
            await stop.wait()
        return 0

    return asyncio.run(run())


def _cmd_run(args: argparse.Namespace) -> int:
    """Run one bot until it leaves; the exit code says how it ended."""
    from agent._run_args import apply_plugin_settings, run_overrides  # noqa: PLC0415
    from agent.config import ConfigError, parse_config, read_bot_toml  # noqa: PLC0415
    from agent.runtime.launch import check_config, merge_tables, run_bot  # noqa: PLC0415
    from agent.runtime.listen import ListenError  # noqa: PLC0415
    from agent.runtime.logs import setup_logging  # noqa: PLC0415

    data: dict[str, Any] = {}
    source = "command line"
    try:
        if args.config:
            source = args.config
            data = read_bot_toml(args.config)
        data = merge_tables(data, run_overrides(args))
        data = apply_plugin_settings(data, args.plugin_config or [])
        config = parse_config(data, source)
        pin = check_config(config, source)  # before joining: PIN readable, plugins load
    except ConfigError as exc:
        return _config_problems(str(exc))
    setup_logging(config.log_format, secrets=[pin] if pin else [])
    # A progress line on a terminal; plain log lines otherwise (files, journald, CI).
    progress = sys.stderr if sys.stderr.isatty() else None
    try:
        result = asyncio.run(run_bot(config, progress=progress, secrets=_secrets(args)))
    except ListenError as exc:
        return _cannot_listen(exc.host, exc.port, exc)
    if result.reason is not None:
        return _fail(f"failed ({result.reason}): {result.detail}", result.exit_code)
    print(
        f"pexbot: left {result.conference or config.alias} ({result.detail or 'done'})",
        file=sys.stderr,
    )
    return 0


def _cmd_fleet(args: argparse.Namespace) -> int:
    """Run many bots in one process; print a summary when all have left."""
    from agent.config import ConfigError  # noqa: PLC0415
    from agent.runtime.launch import fleet_metrics, load_fleet, run_fleet  # noqa: PLC0415
    from agent.runtime.listen import ListenError  # noqa: PLC0415
    from agent.runtime.logs import setup_logging  # noqa: PLC0415

    try:
        entries = load_fleet(args.file)  # every bot checked as `run` checks one
        metrics = fleet_metrics(entries, args.file)
        pins = [p for e in entries if (p := e.config.resolve_pin())]
    except ConfigError as exc:
        return _config_problems(str(exc))
    setup_logging(args.log_format, secrets=pins)
    host, port = metrics or ("127.0.0.1", None)
    if args.metrics_port is not None:  # the flag wins over the file, as for `run`
        port = args.metrics_port
    try:
        results = asyncio.run(
            run_fleet(entries, metrics_port=port, metrics_host=host, secrets=_secrets(args))
        )
    except ListenError as exc:
        return _cannot_listen(exc.host, exc.port, exc)
    width = max(len(name) for name in results)
    print(f"{'bot':<{width}}  {'state':<8} {'rejoins':>7} {'recalls':>7}  reason", flush=True)
    for name, r in results.items():
        why = f"{r.reason}: {r.detail}" if r.reason else r.detail
        print(f"{name:<{width}}  {r.state:<8} {r.rejoins:>7} {r.recalls:>7}  {why}")
    failed = sum(1 for r in results.values() if r.reason is not None)
    print(f"{len(results) - failed} of {len(results)} bots left cleanly")
    return 0 if not failed else 1


#: `pexbot demo`'s default talking time, and what starting and finishing add to it.
DEMO_SECONDS = 20.0
DEMO_EXTRA = 5.0


def _cmd_demo(args: argparse.Namespace) -> int:
    """A local node, two talking bots and a recorder (see DEMO_SECONDS)."""
    from agent.demo import run_demo  # noqa: PLC0415
    from agent.runtime.logs import setup_logging  # noqa: PLC0415

    setup_logging("text", level=logging.WARNING)
    return asyncio.run(run_demo(args.seconds, args.output))


_LOG_FORMAT_HELP = "log lines on stderr: text (default) or json (one object per line)"


# == management API and event sink (issue 13; implementation in agent/_cli_admin.py) =========


def _cmd_admin(args: argparse.Namespace) -> int:
    """`pexbot admin conferences|participants|history`: tables or --json."""
    from agent._cli_admin import run_admin  # noqa: PLC0415

    return run_admin(args)


def _cmd_sink(args: argparse.Namespace) -> int:
    """`pexbot sink`: receive a Pexip event sink until Ctrl-C."""
    from agent._cli_admin import run_sink  # noqa: PLC0415

    return run_sink(args)


def _add_admin_commands(sub: Any, commands: dict[str, Command]) -> None:
    from agent._cli_admin import add_parsers  # noqa: PLC0415

    add_parsers(sub)
    commands["admin"] = _cmd_admin
    commands["sink"] = _cmd_sink


# == end of the management API block ========================================================


# == bots as a service (issue 18; implementation in agent/service/cli.py) ===================


def _add_service_commands(sub: Any, commands: dict[str, Command]) -> None:
    """`pexbot serve` (HTTP API) and `pexbot worker` (Redis-backed workers)."""
    from agent.service import add_parsers  # noqa: PLC0415

    commands.update(add_parsers(sub))


# == end of the service block ===============================================================


# == call-quality probe (issue 17; implementation in agent/_cli_probe.py) ===================


def _cmd_probe(args: argparse.Namespace) -> int:
    """`pexbot probe`: targets once or on a schedule; exit 1 when an SLA is breached."""
    from agent._cli_probe import run_probe  # noqa: PLC0415

    return run_probe(args)


def _add_probe_command(sub: Any, commands: dict[str, Command]) -> None:
    from agent._cli_probe import add_parser  # noqa: PLC0415

    add_parser(sub)
    commands["probe"] = _cmd_probe


# == end of the call-quality probe block ====================================================


_RUN_EPILOG = """\
leave rules ([leave] in the config file; the bot also leaves when the conference ends,
when it is disconnected, and on Ctrl-C or SIGTERM):
{rules}

plugin settings: --plugin recorder --plugin-config recorder.output_dir=/data/rec
  sets `output_dir` in the recorder's config; values are TOML (3600, true, "x"),
  anything else is a string. Repeatable; works on plugins from the config file too.
"""


def _add_run_flags(run: argparse.ArgumentParser) -> None:
    run.add_argument("config", nargs="?", help="bot TOML file")
    run.add_argument("--node", help="node URL, e.g. https://pexip.example.com")
    run.add_argument("--alias", help="conference alias")
    run.add_argument("--name", help="display name")
    run.add_argument("--pin-env", help="environment variable holding the PIN")
    run.add_argument("--extension", help="Virtual Reception: alias to be forwarded to")
    run.add_argument("--call-tag", help="call tag")
    run.add_argument("--audio", help="silence | tone:HZ | file:PATH | none")
    run.add_argument("--video", help="none | black | pattern[:WxH[@FPS]] | file:PATH")
    run.add_argument(
        "--plugin",
        action="append",
        help="built-in or entry-point name, module:Class (from the working directory) "
        "or ./file.py:Class (repeatable)",
    )
    run.add_argument(
        "--plugin-config",
        action="append",
        metavar="NAME.KEY=VALUE",
        help="set KEY in plugin NAME's config (repeatable; see below)",
    )

    def seconds(flag: str, what: str) -> None:
        run.add_argument(flag, type=seconds_or_none, metavar="SECONDS|none", help=what)

    seconds("--duration", "leave after this long (default: none)")
    seconds("--alone-seconds", "leave after being alone this long (default: none)")
    run.add_argument(
        "--when-hosts-leave",
        action=argparse.BooleanOptionalAction,
        help="leave once every host has left (default: no)",
    )
    seconds("--waiting-room-timeout", "fail if not admitted within this time (default: 600)")
    run.add_argument(
        "--metrics-port", type=int, metavar="PORT", help="serve Prometheus /metrics on PORT"
    )
    run.add_argument("--log-format", choices=["text", "json"], help=_LOG_FORMAT_HELP)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version  # noqa: PLC0415

    try:
        return version("pexbot")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"


class _VersionAction(argparse.Action):
    """`--version`, looked up only when asked (importlib.metadata is slow to import)."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        super().__init__(
            option_strings,
            dest,
            nargs=0,
            default=argparse.SUPPRESS,
            help="show program's version number and exit",
        )

    def __call__(self, parser: argparse.ArgumentParser, *args: Any, **kwargs: Any) -> None:
        print(f"pexbot {_version()}")
        parser.exit()


_CORE_COMMANDS = ("node", "run", "fleet", "demo")


def _add_core_command(name: str, sub: Any, commands: dict[str, Command]) -> None:
    """`node`, `run`, `fleet` or `demo`."""
    if name == "node":
        node = sub.add_parser("node", help="run the local Infinity node")
        node.add_argument("--config", help="services TOML file (default: built-in set)")
        node.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
        node.add_argument("--port", type=int, default=0, help="port (default 0: pick a free one)")
        node.add_argument(
            "--control",
            action="store_true",
            help="serve the control API (/_node/...) behind a token printed at start",
        )
        commands["node"] = _cmd_node
    elif name == "run":
        from agent.config import leave_rules_help  # noqa: PLC0415

        run = sub.add_parser(
            "run",
            help="run one bot (config file and/or flags; flags win)",
            description="Run one bot until it leaves; the exit code says how it ended.",
            epilog=_RUN_EPILOG.format(rules=leave_rules_help()),
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        _add_run_flags(run)
        commands["run"] = _cmd_run
    elif name == "fleet":
        fleet = sub.add_parser("fleet", help="run many bots from one file in one process")
        fleet.add_argument("file", help="fleet TOML file ([defaults] + [[bots]])")
        fleet.add_argument(
            "--log-format", choices=["text", "json"], default="text", help=_LOG_FORMAT_HELP
        )
        fleet.add_argument(
            "--metrics-port", type=int, metavar="PORT", help="serve Prometheus /metrics on PORT"
        )
        commands["fleet"] = _cmd_fleet
    elif name == "demo":
        demo = sub.add_parser(
            "demo",
            help=f"local node + two talkers + a recorder, about {DEMO_SECONDS + DEMO_EXTRA:g} s",
            description=f"A local node, two talking bots and a recorder: about "
            f"{DEMO_SECONDS + DEMO_EXTRA:g} s with the default --seconds (the talking time, "
            f"plus about {DEMO_EXTRA:g} s to start and to finish the recording).",
        )
        demo.add_argument(
            "--seconds",
            type=float,
            default=DEMO_SECONDS,
            help="how long the talkers talk (default 20)",
        )
        demo.add_argument("--output", default="recordings", help="where the recording goes")
        commands["demo"] = _cmd_demo


def _add_openvidu_command(sub: Any, commands: dict[str, Command]) -> None:
    # Its actions and their implementation live in agent/_cli_openvidu.py.
    from agent._cli_openvidu import add_openvidu_parser  # noqa: PLC0415

    commands["openvidu"] = add_openvidu_parser(sub)


#: Who registers each subcommand, in `pexbot --help` order. A group registers all its
#: commands at once (admin + sink, serve + worker).
_GROUPS: tuple[tuple[tuple[str, ...], Callable[[Any, dict[str, Command]], None]], ...] = (
    *(((name,), functools.partial(_add_core_command, name)) for name in _CORE_COMMANDS),
    (("admin", "sink"), _add_admin_commands),  # management API block above
    (("serve", "worker"), _add_service_commands),  # service block above
    (("probe",), _add_probe_command),  # call-quality probe block above
    (("openvidu",), _add_openvidu_command),  # OpenVidu Pro media nodes
)


def build_parser(only: str | None = None) -> tuple[argparse.ArgumentParser, dict[str, Command]]:
    """The `pexbot` parser and each command's function. With `only` (a command name) just
    that command is registered: building the others imports their modules (the management
    API, the service with Redis), which a bot's process should not pay for."""
    parser = argparse.ArgumentParser(
        prog="pexbot",
        description="Headless conference bots for Pexip Infinity, and a local node to try them on.",
        epilog="Start with `pexbot demo`; `pexbot COMMAND --help` for each command.",
    )
    parser.add_argument("--version", action=_VersionAction)
    sub = parser.add_subparsers(dest="command", required=True)
    commands: dict[str, Command] = {}
    known = only is not None and any(only in names for names, _ in _GROUPS)
    for names, add in _GROUPS:
        if not known or only in names:
            add(sub, commands)
    return parser, commands


def command_of(argv: Sequence[str]) -> str | None:
    """The subcommand `argv` starts with; None when it starts with an option (`-h`,
    `--version`): those are about every command, so the whole parser answers them."""
    return argv[0] if argv and not argv[0].startswith("-") else None


def main(argv: Sequence[str] | None = None) -> int:
    # This process is pexbot's own: before any command imports aiortc (whose ICE imports
    # dnspython for browsers' mDNS names alone), load dnspython on first use. Here, not at
    # `import agent`, which must not change an embedding application's import system.
    defer_dnspython()
    argv = list(sys.argv[1:] if argv is None else argv)
    parser, commands = build_parser(only=command_of(argv))
    args = parser.parse_args(argv)
    # Everything the command prints passes one redactor: commands and bots tell it their
    # secrets (PINs, passwords, tokens) as they learn them.
    with redacted_output() as secrets:
        args.secrets = secrets
        return commands[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
