"""`pexbot admin ...` and `pexbot sink`: everyday look-ups on a Management Node printed as
tables (or JSON for scripts), and an event-sink receiver on the command line.

Failures end with one line on stderr and an exit code: 2 usage, 3 authentication,
4 manager unreachable, 5 any other API error.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, TextIO

from .admin import (
    EventSinkReceiver,
    HistoryParticipant,
    ManagementAuthError,
    ManagementClient,
    ManagementError,
    ManagementTransportError,
    MediaStreamStatus,
    ParticipantStatus,
    SinkEvent,
)

PASSWORD_ENV = "PEXBOT_ADMIN_PASSWORD"
EXIT_USAGE, EXIT_AUTH, EXIT_UNREACHABLE, EXIT_API = 2, 3, 4, 5


def add_parsers(sub: Any) -> None:
    """Register `admin` and `sink` on the CLI's subparsers."""
    admin = sub.add_parser("admin", help="management API look-ups (tables, or --json)")
    admin.add_argument("--url", default=os.environ.get("PEXBOT_ADMIN_URL"),
                       help="Management Node URL (default $PEXBOT_ADMIN_URL)")  # fmt: skip
    admin.add_argument("--user", default=os.environ.get("PEXBOT_ADMIN_USER", "admin"),
                       help="API user (default $PEXBOT_ADMIN_USER or admin)")  # fmt: skip
    admin.add_argument("--password-env", default=PASSWORD_ENV,
                       help=f"variable holding the password (default {PASSWORD_ENV})")  # fmt: skip
    admin.add_argument("--json", action="store_true", help="print JSON instead of a table")
    admin.add_argument("--insecure", action="store_true", help="do not verify TLS (lab only)")
    what = admin.add_subparsers(dest="what", required=True)
    what.add_parser("conferences", help="active conferences")
    parts = what.add_parser("participants", help="participants with their media quality")
    parts.add_argument("--conference", help="only this conference (name)")
    history = what.add_parser("history", help="participants that left recently")
    history.add_argument("--minutes", type=float, default=60.0, help="how far back (default 60)")

    sink = sub.add_parser("sink", help="receive a Pexip event sink (prints events, JSONL file)")
    sink.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    sink.add_argument("--port", type=int, default=0, help="port (default 0: pick a free one)")
    sink.add_argument("--path", default="/", help="URL path the sink posts to (default /)")
    sink.add_argument("--jsonl", help="append every event to this JSONL file")
    sink.add_argument("--resume", action="store_true",
                      help="read --jsonl first: a restart reports what it missed")  # fmt: skip
    sink.add_argument("--user", help="require HTTP Basic auth with this user")
    sink.add_argument("--password-env", default="PEXBOT_SINK_PASSWORD",
                      help="environment variable holding the sink password")  # fmt: skip
    sink.add_argument("--quiet", action="store_true", help="do not print each event")


def _keep_secret(args: argparse.Namespace, secret: str) -> None:
    """Tell `pexbot`'s redactor (see `agent.redact`): no printed line will show it. A
    password that is its user name (the node's announced `admin`/`admin`) hides nothing,
    and masking it would mask the command's own name in every line."""
    redactor = getattr(args, "secrets", None)
    if redactor is not None and secret != getattr(args, "user", None):
        redactor.add(secret)


def _fail(command: str, message: str, code: int) -> int:
    print(f"pexbot {command}: {message}", file=sys.stderr)
    return code


# -- tables ---------------------------------------------------------------------------------


def table(headers: Sequence[str], rows: Sequence[Sequence[object]], out: TextIO) -> None:
    cells = [[str(c) for c in row] for row in rows]
    widths = [max([len(h), *(len(r[i]) for r in cells)]) for i, h in enumerate(headers)]
    print("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip(), file=out)
    for row in cells:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip(), file=out)


def _when(value: datetime | None) -> str:
    return "" if value is None else value.strftime("%Y-%m-%d %H:%M:%S")


def _num(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def media_summary(streams: list[MediaStreamStatus]) -> dict[str, Any]:
    """Bitrates summed, worst loss and jitter over a participant's streams."""

    def worst(*names: str) -> float | None:
        values = [getattr(s, n) for s in streams for n in names if getattr(s, n) is not None]
        return max(values) if values else None

    return {
        "streams": ",".join(sorted({s.type for s in streams if s.type})) or "-",
        "rx_kbps": sum(s.rx_bitrate or 0 for s in streams) if streams else None,
        "tx_kbps": sum(s.tx_bitrate or 0 for s in streams) if streams else None,
        "loss_percent": worst("rx_packet_loss", "tx_packet_loss"),
        "jitter_ms": worst("rx_jitter", "tx_jitter"),
    }


# -- admin ----------------------------------------------------------------------------------


async def _conferences(api: ManagementClient, as_json: bool, out: TextIO) -> None:
    conferences = await api.status.conferences(order_by="name").all()
    counts: dict[str, int] = {}
    async for p in api.status.participants():
        counts[p.conference] = counts.get(p.conference, 0) + 1
    if as_json:
        data = [c.model_dump(mode="json") | {"participant_count": counts.get(c.name, 0)}
                for c in conferences]  # fmt: skip
        print(json.dumps(data, indent=2), file=out)
        return
    rows = [
        (c.name, c.service_type, "yes" if c.is_locked else "no",
         "yes" if c.is_started else "no", counts.get(c.name, 0), _when(c.start_time))
        for c in conferences
    ]  # fmt: skip
    table(("CONFERENCE", "SERVICE", "LOCKED", "STARTED", "PARTICIPANTS", "SINCE (UTC)"), rows, out)


async def _participants(
    api: ManagementClient, conference: str | None, as_json: bool, out: TextIO
) -> None:
    filters: dict[str, Any] = {} if conference is None else {"conference": conference}
    people: list[ParticipantStatus] = await api.status.participants(
        order_by=["conference", "display_name"], **filters
    ).all()
    media = [media_summary(await api.status.media_streams(p.id).all()) for p in people]
    if as_json:
        data = [
            p.model_dump(mode="json") | {"media": m} for p, m in zip(people, media, strict=True)
        ]
        print(json.dumps(data, indent=2), file=out)
        return
    rows = [
        (p.display_name, p.conference, p.role, p.protocol, p.call_quality, m["streams"],
         _num(m["rx_kbps"], 0), _num(m["tx_kbps"], 0), _num(m["loss_percent"], 2),
         _num(m["jitter_ms"]))
        for p, m in zip(people, media, strict=True)
    ]  # fmt: skip
    table(
        ("NAME", "CONFERENCE", "ROLE", "PROTOCOL", "QUALITY", "MEDIA", "RX KBPS", "TX KBPS",
         "LOSS %", "JITTER MS"),
        rows,
        out,
    )  # fmt: skip


async def _history(api: ManagementClient, minutes: float, as_json: bool, out: TextIO) -> None:
    since = datetime.now(UTC) - timedelta(minutes=minutes)
    people: list[HistoryParticipant] = await api.history.participants(
        end_time__gte=since, order_by="-end_time"
    ).all()
    if as_json:
        print(json.dumps([p.model_dump(mode="json") for p in people], indent=2), file=out)
        return
    rows = [
        (p.display_name, p.conference_name, _when(p.start_time), _when(p.end_time),
         p.duration if p.duration is not None else "-", p.call_quality,
         len(p.media_streams), p.disconnect_reason)
        for p in people
    ]  # fmt: skip
    table(("NAME", "CONFERENCE", "START (UTC)", "END (UTC)", "SECONDS", "QUALITY", "STREAMS",
           "REASON"), rows, out)  # fmt: skip


def run_admin(args: argparse.Namespace, out: TextIO = sys.stdout) -> int:
    if not args.url:
        return _fail("admin", "no manager URL: give --url or set PEXBOT_ADMIN_URL", EXIT_USAGE)
    password = os.environ.get(args.password_env)
    if password is None:
        return _fail("admin", f"set the password in ${args.password_env}", EXIT_USAGE)
    _keep_secret(args, password)
    try:
        api = ManagementClient(
            args.url, username=args.user, password=password, verify_tls=not args.insecure
        )
    except ValueError as exc:
        return _fail("admin", str(exc), EXIT_USAGE)

    async def run() -> None:
        async with api:
            if args.what == "conferences":
                await _conferences(api, args.json, out)
            elif args.what == "participants":
                await _participants(api, args.conference, args.json, out)
            else:
                await _history(api, args.minutes, args.json, out)

    try:
        asyncio.run(run())
    except ManagementAuthError as exc:
        return _fail("admin", f"{args.url}: {exc.message} (HTTP {exc.status})", EXIT_AUTH)
    except ManagementTransportError as exc:
        return _fail("admin", f"cannot reach {args.url}: {exc}", EXIT_UNREACHABLE)
    except ManagementError as exc:
        return _fail("admin", str(exc), EXIT_API)
    return 0


# -- sink -----------------------------------------------------------------------------------


def describe(event: SinkEvent) -> str:
    """One line per event for the terminal."""
    data = event.data
    detail = ""
    for name in ("display_name", "name", "call_quality_now", "disconnect_reason"):
        value = getattr(data, name, None)
        if value:
            detail += f" {name}={value}"
    return f"{event.node} #{event.seq} {event.event}{detail}"


def run_sink(args: argparse.Namespace, out: TextIO = sys.stdout) -> int:
    password = None
    if args.user is not None:
        password = os.environ.get(args.password_env)
        if password is None:
            return _fail("sink", f"set the sink password in ${args.password_env}", EXIT_USAGE)
        _keep_secret(args, password)
    if args.resume and not args.jsonl:
        return _fail("sink", "--resume needs --jsonl", EXIT_USAGE)
    logging.basicConfig(level=logging.WARNING, format="pexbot sink: %(message)s")

    async def run() -> EventSinkReceiver:
        receiver = EventSinkReceiver(
            host=args.host, port=args.port, path=args.path, username=args.user,
            password=password, jsonl=args.jsonl, resume=args.resume,
        )  # fmt: skip
        if not args.quiet:
            receiver.add_handler(lambda e: print(describe(e), file=out, flush=True))
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)
        async with receiver:
            print(receiver.url, file=out, flush=True)  # first line: where to point the sink
            await stop.wait()
        return receiver

    try:
        receiver = asyncio.run(run())
    except OSError as exc:
        return _fail(
            "sink", f"cannot listen on {args.host}:{args.port}: {exc.strerror}", EXIT_USAGE
        )
    c = receiver.counters
    print(
        f"pexbot sink: {c.delivered} events, {c.duplicates} duplicates, "
        f"{len(c.gaps)} gaps ({c.missing} missing), {c.invalid} invalid",
        file=sys.stderr,
    )
    return 0
