"""`pexbot serve` and `pexbot worker`: argument parsing and exit codes.

Exit codes: 0 after a signal (drained), 2 for configuration (one line per problem; a port
in use), 4 when Redis cannot be reached.
"""

from __future__ import annotations

import argparse
import asyncio
import errno
import os
import sys
from pathlib import Path
from typing import Any

from ..config import ConfigError
from ._auth import ENV as KEYS_ENV
from ._auth import ApiKeys
from ._spec import JobSettings, SecretPolicy

_LOG_FORMAT_HELP = "log lines on stderr: text (default) or json"


def _fail(message: str, code: int) -> int:
    print(f"pexbot: {message}", file=sys.stderr)
    return code


def _problems(text: str) -> int:
    for line in text.splitlines():
        _fail(f"invalid configuration: {line}", 2)
    return 2


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--prefix", default="pexbot", help="Redis key prefix (default pexbot)")
    p.add_argument(
        "--output-dir",
        default="recordings",
        help="where plugins that write files (the recorder) write (default recordings)",
    )
    p.add_argument(
        "--secrets-dir", help="folder of `file:NAME` secret references (PINs), e.g. /run/secrets"
    )
    p.add_argument(
        "--secret-env-prefix",
        default="PEXBOT_SECRET_",
        help="`env:NAME` secret references must start with this (default PEXBOT_SECRET_)",
    )
    p.add_argument("--log-format", choices=["text", "json"], default="text", help=_LOG_FORMAT_HELP)


def _add_worker_flags(p: argparse.ArgumentParser, *, standalone: bool) -> None:
    p.add_argument(
        "--capacity",
        type=int,
        required=standalone,
        default=None if standalone else 4,
        help="bots at once" + ("" if standalone else " (embedded worker; default 4)"),
    )
    p.add_argument(
        "--cpu-budget",
        metavar="CORES|auto",
        help="claim another bot only while the bots' measured CPU leaves room for one more "
        "within CORES (auto: 80%% of the container's CPU limit, else of the usable CPUs); "
        "--capacity stays the ceiling (default: --capacity alone)",
    )
    p.add_argument(
        "--bot-cores",
        type=float,
        default=0.05,
        help="with --cpu-budget, a bot's cost until one has been measured (default 0.05)",
    )
    p.add_argument("--lease-seconds", type=float, default=10.0, help="job lease (default 10)")
    p.add_argument(
        "--drain-seconds",
        type=float,
        default=30.0,
        help="on SIGTERM, how long bots may go on before they are handed back (default 30)",
    )
    p.add_argument(
        "--fast-takeover",
        action="store_true",
        help="resume a dead worker's job without waiting out its bot's token (the node may "
        "briefly list both)",
    )


def add_parsers(sub: Any) -> dict[str, Any]:
    """Add `serve` and `worker` to the `pexbot` subcommands; their handlers by name."""
    serve = sub.add_parser(
        "serve",
        help="HTTP API for bots as a service (Redis, or one process without --redis)",
        description="The bots-as-a-service HTTP API. With --redis URL jobs go to Redis for "
        "`pexbot worker`s; without it an embedded worker runs them in this process. "
        f"API keys come from ${KEYS_ENV} (comma-separated, `KEY:read` for read-only) "
        "and/or --api-keys-file. Prints its URL first.",
    )
    serve.add_argument("--host", default="127.0.0.1", help="address (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8080, help="port (default 8080; 0: any)")
    serve.add_argument("--redis", metavar="URL", help="redis://host:port/db (default: none)")
    serve.add_argument("--api-keys-file", help="one `KEY [write|read]` per line")
    _add_common(serve)
    _add_worker_flags(serve, standalone=False)

    worker = sub.add_parser(
        "worker",
        help="run bots from the service's Redis queue",
        description="Claims bot jobs from Redis up to --capacity, keeps their leases alive, "
        "takes over jobs of workers that died, and drains on SIGTERM.",
    )
    worker.add_argument("--redis", metavar="URL", required=True, help="redis://host:port/db")
    worker.add_argument("--name", help="worker name (default host-pid-random)")
    _add_common(worker)
    _add_worker_flags(worker, standalone=True)
    return {"serve": run_serve, "worker": run_worker}


def _secrets(args: argparse.Namespace) -> SecretPolicy:
    return SecretPolicy(
        env_prefix=args.secret_env_prefix,
        secrets_dir=Path(args.secrets_dir) if args.secrets_dir else None,
    )


def _worker_settings(args: argparse.Namespace) -> Any:
    from pydantic import ValidationError  # noqa: PLC0415

    from ..config import format_validation_error  # noqa: PLC0415
    from ._headroom import auto_budget  # noqa: PLC0415
    from ._worker import WorkerSettings  # noqa: PLC0415

    budget: float | None = None
    if args.cpu_budget == "auto":
        budget = auto_budget()
    elif args.cpu_budget is not None:
        try:
            budget = float(args.cpu_budget)
        except ValueError:
            raise ConfigError(
                "command line: --cpu-budget: expected a number of cores or `auto`, "
                f"got {args.cpu_budget!r}"
            ) from None
    try:
        return WorkerSettings(
            capacity=args.capacity,
            cpu_budget=budget,
            bot_cores=args.bot_cores,
            lease_seconds=args.lease_seconds,
            drain_seconds=args.drain_seconds,
            wait_out_tokens=not args.fast_takeover,
        )
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, "command line")) from None


def _store(args: argparse.Namespace) -> Any:
    if not args.redis:
        from ._memory import MemoryJobStore  # noqa: PLC0415

        return MemoryJobStore()
    from ._redis import RedisJobStore  # noqa: PLC0415

    try:
        return RedisJobStore(args.redis, prefix=args.prefix)
    except ValueError:
        raise ConfigError(
            "command line: --redis: expected redis://HOST:PORT/DB, rediss://... or unix://PATH"
        ) from None


def run_serve(args: argparse.Namespace) -> int:
    from ..runtime.logs import setup_logging  # noqa: PLC0415
    from ._job import BotRunner  # noqa: PLC0415
    from ._redis import StoreUnavailable  # noqa: PLC0415
    from ._serve import Listen, serve  # noqa: PLC0415

    try:
        keys_file = Path(args.api_keys_file) if args.api_keys_file else None
        keys = ApiKeys.parse(os.environ.get(KEYS_ENV), keys_file)
        store = _store(args)
        worker = None
        if not args.redis:
            settings = _worker_settings(args)
            jobs = JobSettings(output_dir=Path(args.output_dir), secrets=_secrets(args))
            worker = (settings, BotRunner(jobs))
    except ConfigError as exc:
        return _problems(str(exc))
    setup_logging(args.log_format)

    def ready(url: str) -> None:
        # The URL is the first line: scripts and tests read it.
        print(url, flush=True)

    try:
        asyncio.run(
            serve(
                store,
                keys,
                Listen(args.host, args.port),
                secrets=_secrets(args),
                worker=worker,
                ready=ready,
            )
        )
    except StoreUnavailable as exc:
        return _fail(str(exc), 4)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            return _fail(f"port {args.port} is in use", 2)
        return _fail(f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}", 2)
    return 0


def run_worker(args: argparse.Namespace) -> int:
    from ..runtime.logs import setup_logging  # noqa: PLC0415
    from ._job import BotRunner  # noqa: PLC0415
    from ._redis import StoreUnavailable  # noqa: PLC0415
    from ._serve import work  # noqa: PLC0415
    from ._worker import worker_name  # noqa: PLC0415

    try:
        settings = _worker_settings(args)
        store = _store(args)
    except ConfigError as exc:
        return _problems(str(exc))
    setup_logging(args.log_format)
    jobs = JobSettings(output_dir=Path(args.output_dir), secrets=_secrets(args))
    try:
        worker = asyncio.run(work(store, settings, BotRunner(jobs), args.name or worker_name()))
    except StoreUnavailable as exc:
        return _fail(str(exc), 4)
    print(
        f"pexbot: worker {worker.name} stopped: {worker.finished} finished, "
        f"{worker.handed_back} handed back, {worker.lost} lost",
        file=sys.stderr,
    )
    return 0
