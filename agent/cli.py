"""The `pexbot` command. One function per subcommand: add a `_cmd_<name>` and register it in
`build_parser`."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
import tomllib
from collections.abc import Callable, Sequence

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


def build_parser() -> tuple[argparse.ArgumentParser, dict[str, Command]]:
    parser = argparse.ArgumentParser(prog="pexbot", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    commands: dict[str, Command] = {}

    node = sub.add_parser("node", help="run the local Infinity node")
    node.add_argument("--config", help="services TOML file (default: built-in set)")
    node.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    node.add_argument("--port", type=int, default=0, help="port (default 0: pick a free one)")
    commands["node"] = _cmd_node

    return parser, commands


def main(argv: Sequence[str] | None = None) -> int:
    parser, commands = build_parser()
    args = parser.parse_args(argv)
    return commands[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
