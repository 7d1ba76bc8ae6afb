"""`pexbot openvidu`: OpenVidu Pro media nodes from the command line, and the emulated
server. Kept out of `cli.py` (one registration line there) because it has its own actions.

Exit codes: 0 done; 2 bad configuration or arguments; 3 refused locally (admin actions
off, confirmation missing, audit log unwritable); 4 server unreachable; 5 wrong secret;
6 no media-node API on the server (OpenVidu v3 / CE); 7 the server refused the operation;
8 the server's answer did not fit the documented shape.
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
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

if TYPE_CHECKING:  # imported lazily at run time: other subcommands do not need them
    from agent.admin.openvidu import MediaNode, OpenViduClient, OpenViduSettings

Command = Callable[[argparse.Namespace], int]

_PREFIX = "pexbot openvidu"


def _fail(message: str, code: int) -> int:
    # One line: several problems are joined, never a traceback.
    print(f"{_PREFIX}: {'; '.join(message.splitlines())}", file=sys.stderr)
    return code


async def _until_signalled() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):  # not on Windows
            loop.add_signal_handler(sig, stop.set)
    await stop.wait()


# -- settings ---------------------------------------------------------------------------


def _settings(args: argparse.Namespace) -> OpenViduSettings:
    """The TOML file (if any) with the flags on top; raises ConfigError/SettingsError."""
    from agent.admin.openvidu import SettingsError, parse_settings  # noqa: PLC0415
    from agent.config import read_toml  # noqa: PLC0415

    data: dict[str, Any] = read_toml(args.config) if args.config else {}
    source = args.config or "command line"
    for flag, key in (("url", "url"), ("secret_env", "secret_env"), ("profile", "profile")):
        if getattr(args, flag, None) is not None:
            data[key] = getattr(args, flag)
    if args.secret_env is not None:
        data.pop("secret", None)
        data.pop("secret_file", None)
    if getattr(args, "allow_admin_actions", False):
        data["allow_admin_actions"] = True
    if getattr(args, "audit_log", None) is not None:
        data["audit_log"] = args.audit_log
    watch = dict(data.get("watch") or {})
    for flag in ("interval", "host", "port", "alert_webhook"):
        if getattr(args, flag, None) is not None:
            watch[flag] = getattr(args, flag)
    if watch:
        data["watch"] = watch
    if "url" not in data:
        raise SettingsError("no OpenVidu URL: give --url or url in the config file")
    return parse_settings(data, source)


# -- output -----------------------------------------------------------------------------


def _dump(model: MediaNode | Any) -> Any:
    return model.model_dump(mode="json", by_alias=True, exclude_none=True)


def _node_line(node: MediaNode) -> str:
    load = f"{node.load:.1f}" if node.load is not None else "-"
    connected = {True: "yes", False: "NO", None: "-"}[node.connected]
    sessions = str(len(node.sessions)) if node.sessions is not None else "-"
    return (
        f"{node.id:<20} {node.status or '-':<26} {load:>6} {connected:>9} {sessions:>8}  "
        f"{node.uri or '-'}"
    )


def _print_nodes(nodes: list[MediaNode], as_json: bool) -> None:
    if as_json:
        print(json.dumps([_dump(n) for n in nodes], indent=2))
        return
    print(f"{'id':<20} {'status':<26} {'load':>6} {'connected':>9} {'sessions':>8}  uri")
    for node in nodes:
        print(_node_line(node))


def _restart_properties(pairs: list[str], new_secret_env: str | None) -> dict[str, Any]:
    props: dict[str, Any] = {}
    for pair in pairs:
        key, eq, raw = pair.partition("=")
        if not eq or not key:
            raise ValueError(f"--set expects KEY=VALUE, got {pair!r}")
        if key.upper() == "OPENVIDU_SECRET":
            raise ValueError("give a new secret with --new-secret-env NAME, not in --set")
        try:
            props[key] = json.loads(raw)
        except ValueError:
            props[key] = raw
    if new_secret_env:
        value = os.environ.get(new_secret_env, "").strip()
        if not value:
            raise ValueError(f"--new-secret-env: environment variable {new_secret_env} is not set")
        props["OPENVIDU_SECRET"] = value
    if not props:
        raise ValueError("restart: give at least one --set KEY=VALUE")
    return props


# -- actions ----------------------------------------------------------------------------


async def _act(args: argparse.Namespace, client: OpenViduClient) -> int:
    action = args.openvidu_action
    if action == "nodes":
        listing = await client.list_media_nodes(sessions=args.sessions)
        _print_nodes(listing.content, args.json)
    elif action == "node":
        node = await client.get_media_node(
            args.node_id, sessions=args.sessions, extra_info=args.extra_info
        )
        if args.json:
            print(json.dumps(_dump(node), indent=2))
        else:
            for key, value in _dump(node).items():
                print(f"{key}: {json.dumps(value) if not isinstance(value, str) else value}")
    elif action == "config":
        print(json.dumps(_dump(await client.get_config()), indent=2))
    elif action == "add":
        node = await client.add_media_node(args.uri, wait=args.wait)
        print(json.dumps(_dump(node), indent=2) if args.json else _node_line(node))
    elif action == "remove":
        outcome = await client.remove_media_node(
            args.node_id, strategy=args.strategy, wait=args.wait, confirm_now=args.confirm_now
        )
        if outcome == "removed":
            print(f"{args.node_id}: removed")
        else:
            print(f"{args.node_id}: waiting-idle-to-terminate (removed after its last session)")
    elif action == "set-status":
        changed = await client.set_media_node_status(args.node_id, args.status)
        now = f"unchanged, already {args.status}" if changed is None else changed.status
        print(f"{args.node_id}: {now}")
    elif action == "autodiscover":
        found = await client.autodiscover()
        _print_nodes(found.content, args.json)
    elif action == "restart":
        props = _restart_properties(args.set or [], args.new_secret_env)
        await client.restart(props, confirm_restart=args.confirm_restart)
        print("restart requested")
    return 0


async def _watch(settings: OpenViduSettings, client: OpenViduClient) -> int:
    from agent.admin.openvidu import (  # noqa: PLC0415
        LogAlertSink,
        MediaNodeWatcher,
        SettingsError,
        WatchServer,
        WebhookAlertSink,
    )

    ws = settings.watch
    authorization = None
    if ws.webhook_authorization_env:
        authorization = os.environ.get(ws.webhook_authorization_env)
        if not authorization:
            raise SettingsError(
                f"watch.webhook_authorization_env: {ws.webhook_authorization_env} is not set"
            )
    profile = await client.detect_profile()  # wrong URL or secret: fail now, not in a loop
    sinks: list[Any] = [LogAlertSink()]
    if ws.alert_webhook:
        sinks.append(WebhookAlertSink(ws.alert_webhook))
    watcher = MediaNodeWatcher(client, ws.watch_config(), sinks=sinks)
    server = WatchServer(
        watcher,
        host=ws.host,
        port=ws.port,
        webhook_path=ws.webhook_path,
        authorization=authorization,
    )
    async with server, watcher:
        # The metrics URL is the first line: scripts read it to find the watcher.
        print(f"metrics: {server.metrics_url}", flush=True)
        print(f"webhook: {server.webhook_url}", flush=True)
        print(f"watching {client.url} ({profile.description})", flush=True)
        await _until_signalled()
    return 0


def _client_command(args: argparse.Namespace) -> int:
    from agent.admin.openvidu import (  # noqa: PLC0415
        JsonlAuditLog,
        OpenViduClient,
        OpenViduError,
        SettingsError,
    )
    from agent.config import ConfigError  # noqa: PLC0415
    from agent.runtime.logs import setup_logging  # noqa: PLC0415

    try:
        settings = _settings(args)
        secret = settings.resolve_secret()
    except (ConfigError, SettingsError) as exc:
        return _fail(f"invalid configuration: {exc}", 2)
    watching = args.openvidu_action == "watch"
    setup_logging(
        getattr(args, "log_format", None) or "text",
        level=logging.INFO if watching else logging.WARNING,
        secrets=[secret],
    )

    async def run() -> int:
        client = OpenViduClient(
            settings.url,
            secret,
            allow_admin_actions=settings.allow_admin_actions,
            audit_log=JsonlAuditLog(settings.audit_log),
            profile=settings.profile,
            timeout=settings.timeout,
            wait_timeout=settings.wait_timeout,
        )
        async with client:
            return await (_watch(settings, client) if watching else _act(args, client))

    try:
        return asyncio.run(run())
    except OpenViduError as exc:
        return _fail(str(exc), exc.exit_code)
    except SettingsError as exc:
        return _fail(f"invalid configuration: {exc}", 2)
    except ValueError as exc:  # bad arguments found by the client (status, properties)
        return _fail(str(exc), 2)


def _server_command(args: argparse.Namespace) -> int:
    from agent.config import ConfigError  # noqa: PLC0415
    from agent.openvidu_server import (  # noqa: PLC0415
        DEFAULT_SECRET,
        OpenViduServer,
        default_config,
        load_config,
    )

    try:
        config = load_config(args.config) if args.config else default_config()
    except ConfigError as exc:
        return _fail(f"invalid server configuration: {exc}", 2)
    update = {k: getattr(args, k) for k in ("profile", "environment") if getattr(args, k)}
    if update:
        try:
            config = type(config).model_validate({**config.model_dump(), **update})
        except ValidationError as exc:
            return _fail(f"invalid server configuration: {exc.errors()[0]['msg']}", 2)

    async def run() -> None:
        async with OpenViduServer(config, host=args.host, port=args.port) as server:
            print(server.base_url, flush=True)  # first line: scripts read it
            default = config.secret.get_secret_value() == DEFAULT_SECRET
            print(
                f"profile {config.profile} (VERSION {config.effective_version}), "
                f"{config.environment}; secret: "
                + (f"{DEFAULT_SECRET} (built-in default)" if default else "from the config file"),
                flush=True,
            )
            for node in server.cluster.nodes.values():
                print(f"  {node.id:<14} {node.status:<10} load {node.load:5.1f}  {node.uri}")
            await _until_signalled()

    asyncio.run(run())
    return 0


def _cmd_openvidu(args: argparse.Namespace) -> int:
    if args.openvidu_action == "server":
        return _server_command(args)
    return _client_command(args)


def add_openvidu_parser(sub: Any) -> Command:
    """Register `pexbot openvidu ACTION ...` on the top-level subparsers."""
    ov = sub.add_parser(
        "openvidu",
        help="OpenVidu Pro media nodes: list, watch, change (with permission); emulated server",
        description="OpenVidu Pro media nodes. Reads are always allowed; add, remove, "
        "set-status, autodiscover and restart need allow_admin_actions and are audited.",
    )
    actions = ov.add_subparsers(dest="openvidu_action", required=True, metavar="ACTION")

    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", help="TOML file: url, secret_env, allow_admin_actions, ...")
    common.add_argument("--url", help="OpenVidu server, e.g. https://openvidu.example.com")
    common.add_argument("--secret-env", help="variable with the secret (default OPENVIDU_SECRET)")
    common.add_argument("--profile", choices=["auto", "openvidu-api", "pro"], help="API paths")
    common.add_argument("--json", action="store_true", help="print JSON")
    admin = argparse.ArgumentParser(add_help=False, parents=[common])
    admin.add_argument(
        "--allow-admin-actions", action="store_true", help="permit this change (audited)"
    )
    admin.add_argument("--audit-log", help="JSON Lines audit file (default openvidu-audit.jsonl)")

    nodes = actions.add_parser("nodes", parents=[common], help="list media nodes")
    nodes.add_argument("--sessions", action="store_true", help="include sessions")
    node = actions.add_parser("node", parents=[common], help="one media node")
    node.add_argument("node_id")
    node.add_argument("--sessions", action="store_true")
    node.add_argument("--extra-info", action="store_true")
    actions.add_parser("config", parents=[common], help="the server's configuration")

    add = actions.add_parser("add", parents=[admin], help="add (or launch) a media node")
    add.add_argument("--uri", help="ws://host:8888/kurento (required on premises)")
    add.add_argument("--wait", action="store_true", help="answer once it is running")
    remove = actions.add_parser("remove", parents=[admin], help="remove a media node")
    remove.add_argument("node_id")
    remove.add_argument(
        "--strategy",
        choices=["if-no-sessions", "when-no-sessions", "now"],
        default="if-no-sessions",
    )
    remove.add_argument("--wait", action="store_true", help="answer once it is terminated")
    remove.add_argument(
        "--confirm-now", action="store_true", help="confirm --strategy now (closes sessions)"
    )
    status = actions.add_parser("set-status", parents=[admin], help="change a node's status")
    status.add_argument("node_id")
    status.add_argument(
        "status",
        choices=["launching", "canceled", "running", "waiting-idle-to-terminate", "terminating"],
    )
    actions.add_parser("autodiscover", parents=[admin], help="register discoverable nodes")
    restart = actions.add_parser("restart", parents=[admin], help="restart with new properties")
    restart.add_argument("--set", action="append", metavar="KEY=VALUE", help="(repeatable)")
    restart.add_argument("--new-secret-env", help="variable holding a new OPENVIDU_SECRET")
    restart.add_argument(
        "--confirm-restart", action="store_true", help="confirm (every session ends)"
    )

    watch = actions.add_parser(
        "watch", parents=[common], help="poll nodes, take webhooks, alert, serve /metrics"
    )
    watch.add_argument("--interval", type=float, help="seconds between polls (default 10)")
    watch.add_argument("--host", help="address of /metrics and the webhook (default 127.0.0.1)")
    watch.add_argument("--port", type=int, help="port of /metrics and the webhook (default 9101)")
    watch.add_argument("--alert-webhook", help="POST alerts as JSON to this URL")
    watch.add_argument("--log-format", choices=["text", "json"])

    server = actions.add_parser("server", help="run an emulated OpenVidu Pro server")
    server.add_argument("--config", help="server TOML file (default: two nodes on premises)")
    server.add_argument("--host", default="127.0.0.1", help="address (default 127.0.0.1)")
    server.add_argument("--port", type=int, default=0, help="port (default 0: a free one)")
    server.add_argument("--profile", choices=["openvidu-api", "pro", "both", "v3"])
    server.add_argument("--environment", choices=["on_premise", "aws", "azure", "gcp", "docker"])
    return _cmd_openvidu
