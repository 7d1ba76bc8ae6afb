"""Endpoint descriptors and the one place that turns them into HTTP requests.

Every endpoint of the client API is an `Endpoint` value (see `endpoints.py`): method, path
template, accepted statuses, request body model and result type. `ApiClient.call` builds the
request, sends it through the transport seam and turns the answer into either the parsed
result or a typed error. Nothing here logs or raises a token or a PIN.
"""

from __future__ import annotations

import json
import logging
import random
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, TypeVar
from urllib.parse import quote, urlencode

from pydantic import BaseModel, TypeAdapter, ValidationError

from ..clock import Clock, SystemClock
from ._http11 import Http11Transport
from ._retry import Retrier, RetryPolicy, RetryStats
from ._transport import (
    HttpRequest,
    HttpResponse,
    StreamResponse,
    Transport,
    public_url,
)
from .errors import (
    BadRequestError,
    ExtensionNotFoundError,
    ExtensionRequiredError,
    ForbiddenError,
    IdpRequiredError,
    InfinityHTTPError,
    NotFoundError,
    NotPexipError,
    PinRequiredError,
    ResponseValidationError,
    ServerError,
    SsoRedirectError,
    UnexpectedStatusError,
    forbidden_for_reason,
)

log = logging.getLogger(__name__)

ResultT = TypeVar("ResultT")

API_PREFIX = "/api/client/v2/conferences/"


@dataclass(frozen=True)
class Endpoint(Generic[ResultT]):
    """One client API endpoint, as the schema's `x-endpoints` describes it.

    `path` is relative to `/conferences/<alias>/` and may hold `{participant}`, `{call}`,
    `{mix}` and `{breakout}` placeholders. `statuses` are the statuses the endpoint answers
    with besides errors mapped by class; `text_statuses` are those whose body is a plain string
    whatever the content type (e.g. `calls` 400/500/504).
    """

    key: str
    method: Literal["GET", "POST"]
    path: str
    result: TypeAdapter[ResultT]
    body: type[BaseModel] | None = None
    statuses: frozenset[int] = frozenset({200})
    text_statuses: frozenset[int] = frozenset()
    # Parse the 403 body as one of the request_token shapes (PIN, VR, IdP, redirect).
    token_request: bool = False
    query: Mapping[str, str] = field(default_factory=dict)
    # A 200 that is not the JSON envelope but raw bytes of this content type (prefix), e.g.
    # `avatar.jpg`: the result adapter then validates the body bytes.
    raw_content_type: str | None = None
    # Sending it twice does no more than once (GETs are; so are state-setting POSTs such as
    # `lock`). Decides whether a timeout or reset is retried (see `_retry.py`).
    idempotent: bool | None = None

    @property
    def repeatable(self) -> bool:
        return self.method == "GET" if self.idempotent is None else self.idempotent


def _field_path(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(p) for p in loc) or "result"


def _validation_detail(exc: ValidationError) -> str:
    # Only locations and messages: `input` values could hold a token.
    parts = [f"result.{_field_path(e['loc'])}: {e['msg']}" for e in exc.errors()[:5]]
    more = len(exc.errors()) - 5
    return "; ".join(parts) + (f" (+{more} more)" if more > 0 else "")


class ApiClient:
    """Talks to one Conferencing Node. Owns the transport unless one was given.

    Transient failures (5xx, 429, refused connections, and for idempotent endpoints timeouts
    and resets) are retried under `retry` (`RetryPolicy.off()` to never retry); what the
    retries did is counted in `retry_stats`.
    """

    def __init__(
        self,
        node_url: str,
        *,
        transport: Transport | None = None,
        timeout: float = 10.0,
        retry: RetryPolicy | None = None,
        clock: Clock | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.node_url = node_url.rstrip("/")
        self._transport: Transport = transport or Http11Transport()
        self._owns_transport = transport is None
        self.timeout = timeout
        self._retrier = Retrier(
            retry or RetryPolicy(),
            clock=clock or SystemClock(),
            rng=rng or random.Random(),
            logger=log,
        )

    @property
    def retry(self) -> RetryPolicy:
        return self._retrier.policy

    @property
    def retry_stats(self) -> RetryStats:
        return self._retrier.stats

    async def aclose(self) -> None:
        if self._owns_transport:
            await self._transport.aclose()

    async def __aenter__(self) -> ApiClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def url(self, alias: str, path: str, query: Mapping[str, str] | None = None) -> str:
        url = f"{self.node_url}{API_PREFIX}{quote(alias, safe='')}/{path}"
        if query:
            url += "?" + urlencode(query)
        return url

    async def call(
        self,
        endpoint: Endpoint[ResultT],
        alias: str,
        *,
        token: str | None = None,
        pin: str | None = None,
        body: BaseModel | None = None,
        participant: str | None = None,
        call: str | None = None,
        mix: str | None = None,
        query: Mapping[str, str] | None = None,
        retry: RetryPolicy | None = None,
        breakout: str | None = None,
    ) -> ResultT:
        """Send one request; `retry` overrides the client's policy for this call."""
        request = self._build(
            endpoint,
            alias,
            token=token,
            pin=pin,
            body=body,
            participant=participant,
            call=call,
            mix=mix,
            query=query,
            breakout=breakout,
        )
        response = await self._retrier.send(
            self._transport,
            request,
            key=endpoint.key,
            timeout=self.timeout,
            idempotent=endpoint.repeatable,
            policy=retry,
        )
        log.debug("%s %s -> %d", endpoint.method, endpoint.key, response.status)
        return parse_response(endpoint, response, url=public_url(request.url))

    def _build(
        self,
        endpoint: Endpoint[Any],
        alias: str,
        *,
        token: str | None,
        pin: str | None,
        body: BaseModel | None,
        participant: str | None,
        call: str | None,
        mix: str | None,
        query: Mapping[str, str] | None,
        breakout: str | None = None,
    ) -> HttpRequest:
        values = {"participant": participant, "call": call, "mix": mix, "breakout": breakout}
        needed = {k for k in values if "{" + k + "}" in endpoint.path}
        missing = sorted(k for k in needed if not values[k])
        if missing:
            raise ValueError(f"{endpoint.key}: missing path parameter(s) {', '.join(missing)}")
        path = endpoint.path.format(
            **{k: quote(v, safe="") for k, v in values.items() if k in needed and v}
        )
        if endpoint.body is None and body is not None:
            raise ValueError(f"{endpoint.key} takes no request body")
        if body is not None and endpoint.body is not None and not isinstance(body, endpoint.body):
            raise TypeError(
                f"{endpoint.key} takes {endpoint.body.__name__}, not {type(body).__name__}"
            )
        headers: dict[str, str] = {}
        if token is not None:
            headers["token"] = token
        if pin is not None:
            headers["pin"] = pin
        payload: bytes | None = None
        if body is not None:
            headers["Content-Type"] = "application/json"
            payload = body.model_dump_json(exclude_none=True, by_alias=True).encode()
        merged = {**endpoint.query, **(query or {})}
        return HttpRequest(endpoint.method, self.url(alias, path, merged), headers, payload)

    def events_url(self, alias: str, token: str) -> str:
        return self.url(alias, "events", {"token": token})

    @asynccontextmanager
    async def open_events(self, alias: str, token: str) -> AsyncIterator[StreamResponse]:
        """Open the event stream; raises the typed error when the node refuses it."""
        request = HttpRequest("GET", self.events_url(alias, token), {"Accept": "text/event-stream"})
        async with self._transport.stream(request) as stream:
            if stream.status != 200:
                body = await stream.read()
                raise error_for_status(
                    "events", stream.status, _reason_from(HttpResponse(stream.status, "", body))
                )
            yield stream


def _reason_from(response: HttpResponse) -> str:
    """The node's reason string from an error body (`{"result": "..."}` or plain text)."""
    text = response.text.strip()
    try:
        data = json.loads(text)
    except ValueError:
        return text[:200]
    if isinstance(data, dict):
        result = data.get("result")
        if isinstance(result, str):
            return result
        if result is not None:
            return json.dumps(result)[:200]
    return text[:200]


def error_for_status(endpoint: str, status: int, reason: str) -> InfinityHTTPError:
    if status == 403:
        return forbidden_for_reason(endpoint, reason)
    if status == 400:
        return BadRequestError(endpoint, status, reason)
    if status == 404:
        return NotFoundError(endpoint, status, reason)
    if status >= 500:
        return ServerError(endpoint, status, reason)
    return UnexpectedStatusError(endpoint, status, reason)


def _forbidden_token_shape(endpoint: str, result: object) -> ForbiddenError | None:
    """The request_token 403 shapes, in the order Pexip's SDK checks them."""
    if not isinstance(result, dict):
        return None
    if "pin" in result or "guest_pin" in result:
        return PinRequiredError(
            endpoint,
            host_pin=result.get("pin") == "required",
            guest_pin=result.get("guest_pin") == "required",
        )
    if isinstance(result.get("idp"), list):
        names = [str(i.get("name", "")) for i in result["idp"] if isinstance(i, dict)]
        return IdpRequiredError(endpoint, idps=names)
    if "redirect_url" in result:
        return SsoRedirectError(endpoint)
    ext = result.get("conference_extension")
    if ext == "required":
        kind = result.get("conference_extension_type", "standard")
        return ExtensionRequiredError(
            endpoint, extension_type="mssip" if kind == "mssip" else "standard"
        )
    if ext in ("standard", "mssip"):
        # v10 shape: `{"conference_extension": "standard"}` alone.
        return ExtensionRequiredError(endpoint, extension_type=ext)
    return None


def parse_response(endpoint: Endpoint[ResultT], response: HttpResponse, url: str = "") -> ResultT:
    """The endpoint's result, or the typed error. `url` (without query) names the server in
    errors that say it is not a Pexip node."""
    status = response.status
    key = endpoint.key
    if status in endpoint.text_statuses:
        raise error_for_status(key, status, _reason_from(response))
    if status == 204 and 204 in endpoint.statuses:
        return endpoint.result.validate_python(None)
    is_json = response.content_type.lower().startswith("application/json")
    if not is_json and endpoint.raw_content_type is None:
        # A Pexip node answers every other status with a JSON envelope: an HTML page or a
        # plain-text 404 means the URL points at some other web server.
        raise NotPexipError(key, status, response.content_type, url)
    if status == 200 and 200 in endpoint.statuses and endpoint.raw_content_type is not None:
        if not response.content_type.lower().startswith(endpoint.raw_content_type):
            got = response.content_type or "nothing"
            raise ResponseValidationError(
                key, status, f"expected {endpoint.raw_content_type!r}, got {got!r}"
            )
        return endpoint.result.validate_python(response.body)
    if status != 200 or 200 not in endpoint.statuses:
        if status == 403 and endpoint.token_request and is_json:
            try:
                data = json.loads(response.body)
            except ValueError:
                data = None
            shaped = _forbidden_token_shape(
                key, data.get("result") if isinstance(data, dict) else None
            )
            if shaped is not None:
                raise shaped
        if (
            status == 404
            and endpoint.token_request
            and "extension" in _reason_from(response).lower()
        ):
            raise ExtensionNotFoundError(key, status, _reason_from(response))
        raise error_for_status(key, status, _reason_from(response))
    try:
        data = json.loads(response.body)
    except ValueError:
        raise ResponseValidationError(key, status, "body is not valid JSON") from None
    if not isinstance(data, dict) or "result" not in data:
        raise ResponseValidationError(key, status, "missing field 'result'")
    try:
        return endpoint.result.validate_python(data["result"])
    except ValidationError as exc:
        raise ResponseValidationError(key, status, _validation_detail(exc)) from None
