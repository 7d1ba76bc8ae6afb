"""`OpenViduClient`: the OpenVidu Pro media-node REST API, read-mostly by design.

Reads (list, get, config) are always allowed. Mutations (add, remove, status change,
autodiscover, restart) need `allow_admin_actions=True`; deletion strategy `now` and restart
need a second, per-call confirmation. Every mutation is written to the audit log before it
is sent and again with its outcome.

    async with OpenViduClient("https://ov.example.com", secret) as ov:
        for node in (await ov.list_media_nodes()).content:
            print(node.id, node.status, node.load)
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import re
from collections.abc import Callable, Mapping
from typing import Any, Literal
from urllib.parse import urlencode

from pydantic import SecretStr, ValidationError

from ..infinity import (
    Http11Transport,
    HttpRequest,
    HttpResponse,
    Transport,
    TransportError,
)
from ._openvidu_audit import AuditLog, AuditRecord, LoggingAuditLog
from ._openvidu_errors import (
    AdminActionRefusedError,
    AuditLogError,
    MediaNodeApiNotAvailableError,
    OpenViduConnectionError,
    OpenViduError,
    OpenViduHTTPError,
    OpenViduUnauthorizedError,
)
from ._openvidu_models import (
    DELETION_STRATEGIES,
    MEDIA_NODE_STATUSES,
    DeletionStrategy,
    MediaNode,
    MediaNodeList,
    MediaNodeStatus,
    OpenViduConfig,
    RestartConfig,
)
from ._openvidu_profile import CE_CONFIG, OPENVIDU_API, PRO, PROFILES, PathProfile, ProfileChoice
from ._openvidu_wire import (
    ADD_ERRORS,
    AUTODISCOVER_ERRORS,
    GET_ERRORS,
    PATCH_ERRORS,
    REMOVE_ERRORS,
    RESTART_ERRORS,
    ErrorTable,
    bool_param,
    http_error,
    node_path_id,
    parse_response,
)

#: What `remove_media_node` did: deleted at once (204) or quarantined until its last
#: session ends (202, `waiting-idle-to-terminate`).
RemovalOutcome = Literal["removed", "quarantined"]

_NOT_AVAILABLE = "media-node API not available (OpenVidu v3?)"


class OpenViduClient:
    """Async client of one OpenVidu Pro server (Basic auth `OPENVIDUAPP:<secret>`)."""

    def __init__(
        self,
        url: str,
        secret: str | SecretStr,
        *,
        allow_admin_actions: bool = False,
        audit_log: AuditLog | None = None,
        profile: ProfileChoice = "auto",
        transport: Transport | None = None,
        timeout: float = 10.0,
        wait_timeout: float = 600.0,
    ) -> None:
        if not re.match(r"^https?://[^/\s]+", url):
            raise ValueError(f"OpenVidu URL must start with http:// or https://, got {url!r}")
        self.url = url.rstrip("/")
        raw = secret.get_secret_value() if isinstance(secret, SecretStr) else secret
        self._secret = raw
        token = base64.b64encode(f"OPENVIDUAPP:{raw}".encode()).decode("ascii")
        self._auth = f"Basic {token}"
        self.allow_admin_actions = allow_admin_actions
        self.audit_log: AuditLog = audit_log if audit_log is not None else LoggingAuditLog()
        self._transport: Transport = transport if transport is not None else Http11Transport()
        self.timeout = timeout
        #: Bound on `wait=true` calls, which block until a node is running or terminated.
        self.wait_timeout = wait_timeout
        self._profile: PathProfile | None = PROFILES[profile] if profile != "auto" else None
        self._detect_lock = asyncio.Lock()
        self._closed = False

    async def __aenter__(self) -> OpenViduClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        self._closed = True
        await self._transport.aclose()

    # -- plumbing -------------------------------------------------------------------------

    async def _send(
        self,
        operation: str,
        method: str,
        path: str,
        *,
        query: Mapping[str, str] | None = None,
        body: Any = None,
        timeout: float | None = None,
    ) -> HttpResponse:
        if self._closed:
            # A request after `aclose()` would have the transport open a new HTTP
            # session that nothing closes any more (an "Unclosed client session" leak).
            raise RuntimeError(f"{operation}: the OpenVidu client is closed")
        url = self.url + path + (f"?{urlencode(query)}" if query else "")
        headers = {"Authorization": self._auth, "Accept": "application/json"}
        data = None
        if body is not None:
            headers["Content-Type"] = "application/json"
            data = json.dumps(body).encode()
        request = HttpRequest(method, url, headers, data)
        try:
            resp = await self._transport.send(request, timeout=timeout or self.timeout)
        except TransportError as exc:
            # The transport's message names what failed and the URL.
            raise OpenViduConnectionError(f"{operation}: {exc}") from None
        if resp.status == 401:
            raise OpenViduUnauthorizedError(operation, 401)
        return resp

    def _error(self, operation: str, resp: HttpResponse, table: ErrorTable) -> OpenViduHTTPError:
        return http_error(operation, resp, table, self._secret)

    async def _audited(
        self,
        operation: str,
        target: str | None,
        params: dict[str, Any],
        *,
        refuse: str | None,
    ) -> None:
        """Refuse (and record it) or record the request; raise if it cannot be recorded."""
        record = AuditRecord(
            server=self.url,
            operation=operation,
            target=target,
            params=params,
            outcome="refused" if refuse else "requested",
            detail=refuse,
        )
        if refuse:
            # The refusal stands even if it cannot be recorded: nothing was sent.
            with contextlib.suppress(AuditLogError):
                await self.audit_log.write(record)
            raise AdminActionRefusedError(f"{operation}: refused: {refuse}")
        await self.audit_log.write(record)

    async def _outcome(
        self,
        operation: str,
        target: str | None,
        params: dict[str, Any],
        *,
        status: int | None,
        error: OpenViduError | None = None,
    ) -> None:
        await self.audit_log.write(
            AuditRecord(
                server=self.url,
                operation=operation,
                target=target,
                params=params,
                outcome="error" if error else "ok",
                status=status,
                detail=str(error) if error else None,
            )
        )

    def _permission(self, confirm: tuple[str, bool] | None = None) -> str | None:
        if not self.allow_admin_actions:
            return "admin actions are disabled (set allow_admin_actions = true)"
        if confirm is not None and not confirm[1]:
            return f"{confirm[0]} needs an explicit second confirmation"
        return None

    async def _mutate(
        self,
        operation: str,
        target: str | None,
        params: dict[str, Any],
        method: str,
        path: Callable[[PathProfile], str],
        *,
        ok: frozenset[int],
        errors: ErrorTable,
        confirm: tuple[str, bool] | None = None,
        query: Mapping[str, str] | None = None,
        body: Any = None,
        timeout: float | None = None,
    ) -> HttpResponse:
        """Permission check, audit, request, audit: the one path every mutation takes.
        A refused mutation sends nothing at all, not even the profile detection."""
        await self._audited(operation, target, params, refuse=self._permission(confirm))
        try:
            where = path(await self.detect_profile())
            resp = await self._send(
                operation, method, where, query=query, body=body, timeout=timeout
            )
            if resp.status not in ok:
                raise self._error(operation, resp, errors)
        except OpenViduError as exc:
            status = exc.status if isinstance(exc, OpenViduHTTPError) else None
            await self._outcome(operation, target, params, status=status, error=exc)
            raise
        await self._outcome(operation, target, params, status=resp.status)
        return resp

    # -- path profile ---------------------------------------------------------------------

    @property
    def profile(self) -> PathProfile | None:
        """The path profile in use; None until detected."""
        return self._profile

    async def detect_profile(self) -> PathProfile:
        """Find where this server serves the media-node API, once: `/openvidu/api/config`
        (2.16+), else `/pro/config` (2.13-2.15), else `/config` + `/pro/media-nodes`."""
        async with self._detect_lock:
            if self._profile is None:
                self._profile = await self._detect()
            return self._profile

    async def _detect(self) -> PathProfile:
        op = "detect API paths"
        resp = await self._send(op, "GET", OPENVIDU_API.config)
        if resp.status == 200:
            config = parse_response(op, resp, OpenViduConfig)
            major = config.major_version()
            if major is not None and major >= 3:
                raise MediaNodeApiNotAvailableError(
                    f"{_NOT_AVAILABLE}: {self.url} reports VERSION {config.version}"
                )
            return OPENVIDU_API
        if resp.status not in (404, 405):
            raise self._error(op, resp, {})
        resp = await self._send(op, "GET", PRO.config)
        if resp.status == 200:
            return PRO
        if resp.status not in (404, 405):
            raise self._error(op, resp, {})
        # Config only at OpenVidu CE's path: a Pro server still has its nodes under /pro/.
        resp = await self._send(op, "GET", CE_CONFIG)
        if resp.status == 200:
            nodes = await self._send(op, "GET", PRO.media_nodes)
            if nodes.status == 200:
                return PathProfile(
                    PRO.name, PRO.description, CE_CONFIG, PRO.media_nodes, PRO.restart
                )
        raise MediaNodeApiNotAvailableError(
            f"{_NOT_AVAILABLE}: {self.url} answers neither {OPENVIDU_API.config} nor {PRO.config}"
        )

    # -- reads ----------------------------------------------------------------------------

    def _read_query(self, sessions: bool, extra_info: bool, recordings: bool) -> dict[str, str]:
        query = {"sessions": bool_param(sessions), "extra-info": bool_param(extra_info)}
        if recordings:  # 2.16+ only; older servers ignore unknown parameters
            query["recordings"] = "true"
        return query

    async def list_media_nodes(
        self, *, sessions: bool = False, extra_info: bool = False, recordings: bool = False
    ) -> MediaNodeList:
        op = "list media nodes"
        profile = await self.detect_profile()
        query = self._read_query(sessions, extra_info, recordings)
        resp = await self._send(op, "GET", profile.media_nodes, query=query)
        if resp.status == 404:
            raise MediaNodeApiNotAvailableError(f"{op}: {_NOT_AVAILABLE}: HTTP 404")
        if resp.status != 200:
            raise self._error(op, resp, {})
        return parse_response(op, resp, MediaNodeList)

    async def get_media_node(
        self,
        node_id: str,
        *,
        sessions: bool = False,
        extra_info: bool = False,
        recordings: bool = False,
    ) -> MediaNode:
        op = f"get media node {node_id}"
        profile = await self.detect_profile()
        path = profile.media_node(node_path_id(node_id))
        query = self._read_query(sessions, extra_info, recordings)
        resp = await self._send(op, "GET", path, query=query)
        if resp.status != 200:
            raise self._error(op, resp, GET_ERRORS)
        return parse_response(op, resp, MediaNode)

    async def get_config(self) -> OpenViduConfig:
        op = "get config"
        profile = await self.detect_profile()
        resp = await self._send(op, "GET", profile.config)
        if resp.status != 200:
            raise self._error(op, resp, {})
        return parse_response(op, resp, OpenViduConfig)

    # -- mutations ------------------------------------------------------------------------

    async def add_media_node(self, uri: str | None = None, *, wait: bool = False) -> MediaNode:
        """Register (on premises: `uri` required) or launch a media node. With `wait`, the
        answer comes once the node is running."""
        op = "add media node"
        params: dict[str, Any] = {"uri": uri, "wait": wait}
        resp = await self._mutate(
            op,
            None,
            params,
            "POST",
            lambda p: p.media_nodes,
            ok=frozenset({200}),
            errors=ADD_ERRORS,
            query={"wait": bool_param(wait)},
            body={"uri": uri} if uri else {},
            timeout=self.wait_timeout if wait else None,
        )
        return parse_response(op, resp, MediaNode)

    async def remove_media_node(
        self,
        node_id: str,
        *,
        strategy: DeletionStrategy = "if-no-sessions",
        wait: bool = False,
        confirm_now: bool = False,
    ) -> RemovalOutcome:
        """Delete a media node. `now` closes its sessions and needs `confirm_now=True`;
        `if-no-sessions` (default) refuses a busy node; `when-no-sessions` quarantines it."""
        if strategy not in DELETION_STRATEGIES:
            raise ValueError(f"deletion strategy must be one of {', '.join(DELETION_STRATEGIES)}")
        op = "remove media node"
        quoted = node_path_id(node_id)
        confirm = ("deletion strategy 'now' (closes every session)", confirm_now)
        resp = await self._mutate(
            op,
            node_id,
            {"deletion-strategy": strategy, "wait": wait},
            "DELETE",
            lambda p: p.media_node(quoted),
            ok=frozenset({202, 204}),
            errors=REMOVE_ERRORS,
            confirm=confirm if strategy == "now" else None,
            query={"deletion-strategy": strategy, "wait": bool_param(wait)},
            timeout=self.wait_timeout if wait else None,
        )
        return "quarantined" if resp.status == 202 else "removed"

    async def set_media_node_status(
        self, node_id: str, status: MediaNodeStatus
    ) -> MediaNode | None:
        """PATCH the node's status; None when it already had that status (204)."""
        if status not in MEDIA_NODE_STATUSES:
            raise ValueError(f"status must be one of {', '.join(MEDIA_NODE_STATUSES)}")
        op = "set media node status"
        quoted = node_path_id(node_id)
        resp = await self._mutate(
            op,
            node_id,
            {"status": status},
            "PATCH",
            lambda p: p.media_node(quoted),
            ok=frozenset({200, 204}),
            errors=PATCH_ERRORS,
            body={"status": status},
        )
        return None if resp.status == 204 else parse_response(op, resp, MediaNode)

    async def autodiscover(self) -> MediaNodeList:
        """Register the media nodes the server can discover; returns only the new ones."""
        op = "autodiscover media nodes"
        resp = await self._mutate(
            op,
            None,
            {},
            "PUT",
            lambda p: p.media_nodes,
            ok=frozenset({200}),
            errors=AUTODISCOVER_ERRORS,
            timeout=self.wait_timeout,
        )
        return parse_response(op, resp, MediaNodeList, lenient=True)

    async def restart(
        self, config: RestartConfig | Mapping[str, Any], *, confirm_restart: bool = False
    ) -> None:
        """Restart OpenVidu Pro with new properties (every session ends); needs
        `confirm_restart=True`. Unknown property names are refused before sending."""
        op = "restart"
        if not isinstance(config, RestartConfig):
            try:
                config = RestartConfig.model_validate(dict(config))
            except ValidationError as exc:
                problems = "; ".join(
                    f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
                )
                raise ValueError(f"restart: invalid properties: {problems}") from None
        await self._mutate(
            op,
            None,
            config.redacted(),
            "POST",
            lambda p: p.restart,
            ok=frozenset({200, 204}),
            errors=RESTART_ERRORS,
            confirm=("restart (ends every session)", confirm_restart),
            body=config.wire_body(),
        )
