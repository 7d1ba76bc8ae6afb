"""`ManagementClient`: one manager, one HTTP session, typed resources.

    async with ManagementClient("https://manager", username="admin", password="...") as api:
        async for p in api.status.participants(conference="VMR_1"):
            print(p.display_name, p.call_quality)

Every request goes through `request()`: authentication, bounded retries on transient
answers (`RetryPolicy`), and one mapping from HTTP errors to typed exceptions.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar
from urllib.parse import urlencode, urlsplit

from pydantic import ValidationError

from ._auth import Auth, BasicAuth
from ._command import CommandAPI
from ._configuration import ConfigurationAPI
from ._errors import (
    ManagementAuthError,
    ManagementBadRequestError,
    ManagementHTTPError,
    ManagementNotFoundError,
    ManagementRateLimitedError,
    ManagementResponseError,
    ManagementServerError,
    ManagementTransportError,
    ReadOnlyError,
)
from ._history import HistoryAPI
from ._model_base import AdminModel
from ._paging import ListMeta, Page, Pager
from ._query import FilterValue, Params, query_params
from ._retry import RetryPolicy
from ._status import StatusAPI
from ._transport import AdminRequest, AdminResponse, AiohttpTransport, Transport

log = logging.getLogger(__name__)

M = TypeVar("M", bound=AdminModel)
ADMIN_PREFIX = "/api/admin/"
DEFAULT_MAX_PAGES = 100


def error_message(body: Any, text: str) -> str:
    """What an error answer says, whatever its shape: Tastypie `{"error"}`, a command's
    `{"message"}`, Django field errors `{"resource": {"field": ["..."]}}`, or plain text."""
    if isinstance(body, dict):
        for key in ("error", "message", "error_message", "detail"):
            value = body.get(key)
            if isinstance(value, str) and value:
                return value
        parts: list[str] = []
        for name, value in body.items():
            if isinstance(value, dict):
                for field_name, errors in value.items():
                    first = errors[0] if isinstance(errors, list) and errors else errors
                    parts.append(f"{name}.{field_name}: {first}")
            elif isinstance(value, list) and value:
                parts.append(f"{name}: {value[0]}")
        if parts:
            return "; ".join(parts)
    snippet = " ".join(text.split())[:200]
    return snippet or "no details"


def _validation_detail(exc: ValidationError) -> str:
    # Locations and messages only: values could be PINs.
    parts = [".".join(str(p) for p in e["loc"]) + f": {e['msg']}" for e in exc.errors()[:3]]
    more = len(exc.errors()) - 3
    return "; ".join(parts) + (f" (+{more} more)" if more > 0 else "")


class ManagementClient:
    """An async client of one Pexip Infinity Management Node's REST API.

    `base_url` is the manager (`https://manager.example.com`); credentials are either
    `username`/`password` (HTTP Basic) or an `auth` object (`BasicAuth`, `BearerAuth`,
    `OAuth2ClientCredentials`). `retry` bounds retries of 429/502/503/504 and of requests
    that got no answer; `max_pages` caps how many pages one list follows.
    """

    def __init__(
        self,
        base_url: str,
        *,
        username: str | None = None,
        password: str | None = None,
        auth: Auth | None = None,
        transport: Transport | None = None,
        timeout: float = 20.0,
        retry: RetryPolicy | None = None,
        max_pages: int = DEFAULT_MAX_PAGES,
        verify_tls: bool = True,
    ) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"not a manager URL (http[s]://host[:port]): {base_url!r}")
        if auth is None and username is not None:
            auth = BasicAuth(username, password or "")
        self.base_url = f"{parts.scheme}://{parts.netloc}"
        self.auth = auth
        self._transport: Transport = transport or AiohttpTransport(verify_tls=verify_tls)
        self._owns_transport = transport is None
        self.timeout = timeout
        self.retry = retry or RetryPolicy()
        self.max_pages = max_pages
        self.requests_sent = 0
        self.retries = 0
        self.status = StatusAPI(self)
        self.history = HistoryAPI(self)
        self.command = CommandAPI(self)
        self.configuration = ConfigurationAPI(self)

    def __repr__(self) -> str:
        return f"ManagementClient({self.base_url!r}, auth={self.auth!r})"

    async def aclose(self) -> None:
        if self._owns_transport:
            await self._transport.aclose()

    async def __aenter__(self) -> ManagementClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # -- URLs ------------------------------------------------------------------------------

    def url(self, path: str, params: Params | None = None) -> str:
        """`path` is absolute (`/api/admin/...`, as `meta.next` is) or relative to
        `/api/admin/` (`status/v1/participant/`)."""
        if path.startswith(("http://", "https://")):
            parts = urlsplit(path)
            if f"{parts.scheme}://{parts.netloc}" != self.base_url:
                raise ManagementResponseError(f"refusing to follow a link off the manager: {path}")
            path = path[len(self.base_url) :]
        full = path if path.startswith("/") else ADMIN_PREFIX + path
        if params:
            full += ("&" if "?" in full else "?") + urlencode(params)
        return self.base_url + full

    # -- requests --------------------------------------------------------------------------

    async def _send(self, request: AdminRequest) -> AdminResponse:
        self.requests_sent += 1
        return await self._transport.send(request, timeout=self.timeout)

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Params | None = None,
        json_body: Any = None,
    ) -> AdminResponse:
        """Send one request with auth and retries; raise the typed error of a 4xx/5xx.

        Writes to the configuration API are refused (`ReadOnlyError`) before anything is
        sent: this client only reads configuration.
        """
        method = method.upper()
        url = self.url(path, params)
        route = urlsplit(url).path
        if method != "GET" and route.startswith(ADMIN_PREFIX + "configuration/"):
            raise ReadOnlyError(f"{method} {route}: the configuration API is read-only here")
        body = None if json_body is None else json.dumps(json_body).encode()
        attempt, waited, reauthed = 0, 0.0, False
        while True:
            attempt += 1
            headers = {"Accept": "application/json"}
            if body is not None:
                headers["Content-Type"] = "application/json"
            if self.auth is not None:
                headers["Authorization"] = await self.auth.authorization(self._send, self.base_url)
            response: AdminResponse | None = None
            try:
                response = await self._send(AdminRequest(method, url, headers, body))
            except ManagementTransportError as exc:
                failure: Exception = exc
            if response is not None:
                if response.status == 401 and self.auth is not None and not reauthed:
                    # A bearer token may have been revoked or expired early: one fresh try.
                    reauthed = True
                    self.auth.invalidate()
                    attempt -= 1
                    continue
                if not self.retry.retryable(response.status, method):
                    self.raise_for_status(response, route, attempt)
                    return response
                failure = self.http_error(response, route, attempt)
            elif not self.retry.retryable(None, method):
                raise failure
            delay = self.retry.delay(attempt, None if response is None else response.headers)
            if not self.retry.allows(attempt, waited, delay):
                raise failure
            log.info(
                "management API %s %s: %s; retry %d in %.1f s",
                method,
                route,
                "no answer" if response is None else f"HTTP {response.status}",
                attempt,
                delay,
            )
            self.retries += 1
            waited += delay
            await self.retry.sleep(delay)

    def http_error(self, response: AdminResponse, route: str, attempts: int) -> Exception:
        """The typed exception of an error answer."""
        try:
            body: Any = response.json()
        except ValueError:
            body = response.text
        message = error_message(body, response.text)
        status = response.status
        kind: type[ManagementHTTPError] = ManagementHTTPError
        if status in (401, 403):
            kind = ManagementAuthError
            if status == 401 and message == "no details":
                message = "authentication failed (check the user name and password or token)"
        elif status == 404:
            kind = ManagementNotFoundError
        elif status == 400:
            kind = ManagementBadRequestError
        elif status == 429:
            kind = ManagementRateLimitedError
        elif status >= 500:
            kind = ManagementServerError
        return kind(status, message, path=route, body=body, attempts=attempts)

    def raise_for_status(self, response: AdminResponse, route: str, attempts: int) -> None:
        if response.status >= 400:
            raise self.http_error(response, route, attempts)

    async def get_json(self, path: str, params: Params | None = None) -> Any:
        """GET a resource and return its JSON body."""
        response = await self.request("GET", path, params=params)
        try:
            return response.json()
        except ValueError:
            raise ManagementResponseError(
                f"{urlsplit(self.url(path)).path}: answer is not JSON "
                f"({response.content_type or 'no content type'})"
            ) from None

    # -- typed reads -----------------------------------------------------------------------

    def parse(self, model: type[M], data: Any, where: str) -> M:
        """Validate one object; a mismatch names the resource and the field."""
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            raise ManagementResponseError(f"{where}: {_validation_detail(exc)}") from None

    async def get_object(self, path: str, model: type[M]) -> M:
        """GET one object (a single-object resource, or a list's first object)."""
        data = await self.get_json(path)
        if isinstance(data, dict) and isinstance(data.get("objects"), list):
            if not data["objects"]:
                raise ManagementNotFoundError(404, "empty list", path=path, body=data)
            data = data["objects"][0]
        return self.parse(model, data, path)

    async def get_page(self, model: type[M], path: str, params: Params | None) -> Page[M]:
        data = await self.get_json(path, params)
        route = urlsplit(self.url(path)).path
        if not isinstance(data, dict) or not isinstance(data.get("objects"), list):
            raise ManagementResponseError(f"{route}: not a list answer (no 'objects')")
        meta = self.parse(ListMeta, data.get("meta") or {}, f"{route} meta")
        objects = [
            self.parse(model, obj, f"{route} objects[{i}]") for i, obj in enumerate(data["objects"])
        ]
        return Page(objects, meta)

    def list(
        self,
        model: type[M],
        path: str,
        filters: Mapping[str, FilterValue] | None = None,
        *,
        order_by: str | Sequence[str] | None = None,
        limit: int | None = None,
        max_pages: int | None = None,
    ) -> Pager[M]:
        """A list resource with Tastypie filters; `limit` is the page size."""
        params = query_params(filters, order_by=order_by, limit=limit)

        async def fetch(target: str, query: Params | None) -> Page[M]:
            return await self.get_page(model, target, query)

        return Pager(fetch, path, params, max_pages or self.max_pages)

    async def schema(self, path: str) -> dict[str, Any]:
        """A resource's Tastypie schema (`fields`, `filtering`, `ordering`)."""
        data = await self.get_json(path.rstrip("/") + "/schema/")
        if not isinstance(data, dict):
            raise ManagementResponseError(f"{path}schema/: not an object")
        return data


__all__ = ["ManagementClient", "error_message"]
