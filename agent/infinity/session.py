"""Join a conference and keep the participant's token alive.

`join_token` runs the `request_token` dance of Pexip's web SDK: first without a PIN, then
with the configured PIN (or the literal `none` to enter as a guest where guests need no
PIN), and for a Virtual Reception once more with `conference_extension`. Every step adds
information, so the dance ends after at most four requests: a wrong or missing PIN is a
typed failure, never a retry storm.

`InfinitySession` owns the token from then on: it refreshes it every `expires/3` seconds
(the interval Pexip's SDK uses, from the `expires` of `request_token`), retries network
errors with jittered backoff while the token is still valid, reports a typed `TokenLost`
when the node refuses the token or it expires, and releases the token on close (also
after the node sent `disconnect`). It is an async context manager; its only task is the
refresh loop, which never outlives it.

`expires` is not taken as given: a value outside `ExpiresBounds` (3 s to 24 h by default) is
clamped and logged once per session (`"0.001"` made a bot refresh 370 times a second), and a
non-number (`"nan"`, `"inf"`, `"soon"`) is refused as an invalid response. Refreshes that the
node asks for with `refresh_token` events are coalesced to at most one per
`event_refresh_interval` seconds.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from types import TracebackType

from ..backoff import Backoff
from ..clock import Clock, SystemClock, sleep_or_event
from ._http import ApiClient
from ._ratelimit import LimitedLog
from ._retry import RetryPolicy
from ._sse import MAX_EVENT, MAX_LINE
from ._transport import Transport, TransportError
from .client import ConferenceClient, ParticipantClient
from .endpoints import REFRESH_TOKEN, RELEASE_TOKEN, REQUEST_TOKEN
from .errors import (
    ExtensionRequiredError,
    ForbiddenError,
    InfinityError,
    PinRequiredError,
    ServerError,
)
from .events import EventStream, StreamItem
from .expires import ExpiresBounds
from .models.events import Disconnect, RefreshToken
from .models.token import ReleaseTokenBody, RequestTokenBody, RequestTokenResult, Role
from .reasons import ReasonCode, reason_code

log = logging.getLogger(__name__)

#: What Pexip's SDK sends when the user leaves.
LEAVE_REASON = "User initiated disconnect"
#: The reason (#pex113) given when a token expires before a refresh got through.
EXPIRED_REASON = "Timer expired awaiting token refresh"
#: Leaving is best effort and must stay quick: one retry (the token dies on its own anyway).
_RELEASE_RETRY = RetryPolicy(attempts=2, total=2.0, base_delay=0.5, max_delay=0.5)


@dataclass(frozen=True)
class JoinOptions:
    """Who the bot is and what it knows to get in."""

    display_name: str
    #: Host or guest PIN. Without one the bot enters as a guest where guests need no PIN.
    pin: str | None = field(default=None, repr=False)
    #: Virtual Reception: the alias of the conference to be forwarded to.
    extension: str | None = None
    call_tag: str | None = None
    #: The node FQDN the bot connects to (the `node` body field; helps SSO flows).
    node_name: str | None = None
    direct_media: bool | None = None
    supports_direct_chat: bool | None = None
    client_id: str | None = None
    #: A one-time join token (from a `refer`, or a breakout room's guest token).
    token: str | None = field(default=None, repr=False)

    def body(self, extension: str | None) -> RequestTokenBody:
        return RequestTokenBody(
            display_name=self.display_name,
            token=self.token,
            call_tag=self.call_tag,
            node=self.node_name,
            conference_extension=extension,
            direct_media=self.direct_media,
            supports_direct_chat=self.supports_direct_chat,
            client_id=self.client_id,
        )


@dataclass(frozen=True)
class TokenLost:
    """The token is gone: the node refused a refresh or it expired. Rejoin to go on."""

    reason: str
    code: ReasonCode


async def join_token(api: ApiClient, alias: str, options: JoinOptions) -> RequestTokenResult:
    """`request_token` through the PIN and Virtual Reception steps.

    Raises `PinRequiredError` (the conference needs a PIN the bot does not have),
    `InvalidPinError`, `PinRetriesExceededError`, `ExtensionRequiredError` (a Virtual
    Reception and no extension configured), `ExtensionNotFoundError`, `NotFoundError`
    (unknown alias) or `ServerError`.
    """
    result, _forwarded = await _join_token(api, alias, options)
    return result


async def _join_token(
    api: ApiClient, alias: str, options: JoinOptions
) -> tuple[RequestTokenResult, bool]:
    """`join_token`, also saying whether a Virtual Reception forwarded the bot."""
    pin: str | None = None
    extension: str | None = None
    while True:
        try:
            result = await api.call(REQUEST_TOKEN, alias, pin=pin, body=options.body(extension))
        except PinRequiredError as exc:
            if pin is not None:
                # The node asked again although a PIN was sent: it will not take it.
                raise
            if options.pin is not None:
                pin = options.pin
            elif not exc.guest_pin:
                pin = "none"  # Pexip's convention for "guest, no PIN"
            else:
                raise
        except ExtensionRequiredError:
            if extension is not None or options.extension is None:
                raise
            extension = options.extension
        else:
            return result, extension is not None


class InfinitySession:
    """One participant in one conference: its token, refreshed until it leaves."""

    def __init__(
        self,
        api: ApiClient,
        alias: str,
        options: JoinOptions,
        *,
        clock: Clock | None = None,
        rng: random.Random | None = None,
        owns_api: bool = False,
        expires_bounds: ExpiresBounds | None = None,
        event_refresh_interval: float = 5.0,
        on_token: Callable[[str], None] | None = None,
    ) -> None:
        self.api = api
        # Told every token the session receives (join, each refresh): e.g. a log scrubber.
        self._on_token = on_token or (lambda _token: None)
        self.alias = alias
        self.options = options
        self._clock = clock or SystemClock()
        self._rng = rng or random.Random()
        self._owns_api = owns_api
        self._joined: RequestTokenResult | None = None
        self._token: str | None = None
        self._role: Role | None = None
        self._service_type: str | None = None
        self._valid_until = 0.0
        self._refresh_requested = asyncio.Event()
        self._keepalive: asyncio.Task[None] | None = None
        self._lost: asyncio.Future[TokenLost] | None = None
        self._server_reason: str | None = None
        self._closed = False
        self._forwarded = False
        self._bounds = expires_bounds or ExpiresBounds()
        self._clamp_logged = False
        self._event_refresh_interval = event_refresh_interval
        self._last_refresh_at: float | None = None
        self.refreshes = 0
        #: `refresh_token` events merged into a refresh already pending or just done.
        self.refresh_requests_coalesced = 0
        self._log = LimitedLog(log, burst=1, window=60.0, now=self._clock.monotonic)

    @classmethod
    def connect(
        cls,
        node_url: str,
        alias: str,
        options: JoinOptions,
        *,
        transport: Transport | None = None,
        clock: Clock | None = None,
        rng: random.Random | None = None,
        expires_bounds: ExpiresBounds | None = None,
        event_refresh_interval: float = 5.0,
    ) -> InfinitySession:
        """A session with its own `ApiClient` (closed with the session)."""
        api = ApiClient(node_url, transport=transport, clock=clock, rng=rng)
        return cls(
            api,
            alias,
            options,
            clock=clock,
            rng=rng,
            owns_api=True,
            expires_bounds=expires_bounds,
            event_refresh_interval=event_refresh_interval,
        )

    # -- state -----------------------------------------------------------------------

    @property
    def joined(self) -> RequestTokenResult:
        if self._joined is None:
            raise RuntimeError("the session has not joined yet")
        return self._joined

    @property
    def token(self) -> str:
        if self._token is None:
            raise RuntimeError("the session has no token")
        return self._token

    @property
    def participant_uuid(self) -> str:
        return self.joined.participant_uuid

    @property
    def role(self) -> Role:
        return self._role or self.joined.role

    @property
    def service_type(self) -> str:
        return self._service_type or self.joined.current_service_type

    @property
    def forwarded(self) -> bool:
        """A Virtual Reception forwarded the session (by `JoinOptions.extension`)."""
        return self._forwarded

    @property
    def conference_name(self) -> str:
        """The conference joined: after a Virtual Reception forward, the target, not the
        reception's alias (requests still go through that alias)."""
        joined = self.joined
        if joined.conference_name:
            return joined.conference_name
        return self.options.extension if self._forwarded and self.options.extension else self.alias

    @property
    def in_waiting_room(self) -> bool:
        return self.service_type == "waiting_room"

    @property
    def lost(self) -> TokenLost | None:
        if self._lost is None or not self._lost.done():
            return None
        return self._lost.result()

    @property
    def server_disconnect_reason(self) -> str | None:
        return self._server_reason

    def token_provider(self) -> Callable[[], str]:
        return lambda: self.token

    @property
    def conference(self) -> ConferenceClient:
        """Conference functions (lock, mute guests, message, ...) under this token."""
        return ConferenceClient(self.api, self.alias, self.token_provider())

    @property
    def me(self) -> ParticipantClient:
        """Functions on this participant itself (calls, dtmf, take_floor, ...)."""
        return self.conference.participant(self.participant_uuid)

    async def events(
        self,
        *,
        max_attempts: int | None = 8,
        sleep: Callable[[float], Awaitable[None]] | None = None,
        max_line: int = MAX_LINE,
        max_event: int = MAX_EVENT,
    ) -> AsyncIterator[StreamItem]:
        """The conference's events, across reconnects, with the newest token.

        The session reacts on the way: `refresh_token` triggers a refresh, `disconnect`
        stops the refresh loop (the token is still released, with the node's reason).
        """
        stream = EventStream(
            self.api,
            self.alias,
            self.token_provider(),
            max_attempts=max_attempts,
            rng=self._rng,
            sleep=sleep or self._clock.sleep,
            now=self._clock.monotonic,
            max_line=max_line,
            max_event=max_event,
        )
        async with stream:
            async for item in stream:
                if isinstance(item, RefreshToken):
                    self.request_refresh()
                elif isinstance(item, Disconnect):
                    self.server_disconnected(item.reason)
                yield item

    # -- lifecycle -------------------------------------------------------------------

    async def __aenter__(self) -> InfinitySession:
        await self.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def open(self) -> None:
        """Join and start the refresh loop."""
        if self._joined is not None:
            raise RuntimeError("the session is already open")
        try:
            result, self._forwarded = await _join_token(self.api, self.alias, self.options)
        except BaseException:
            if self._owns_api:
                await self.api.aclose()
            raise
        self._joined = result
        self._token = result.token
        self._on_token(result.token)
        expires = self._lifetime("request_token", result.expires, result.expires_seconds)
        self._valid_until = self._clock.monotonic() + expires
        self._lost = asyncio.get_running_loop().create_future()
        self._keepalive = asyncio.create_task(
            self._keepalive_loop(expires / 3), name=f"keepalive:{self.alias}"
        )
        via = f" (via {self.alias})" if self._forwarded else ""
        log.info(
            "joined %s%s as %s (%s)",
            self.conference_name,
            via,
            result.role,
            result.current_service_type,
        )

    async def wait_lost(self) -> TokenLost:
        """Block until the token is lost (never returns while it stays alive)."""
        if self._lost is None:
            raise RuntimeError("the session has not joined yet")
        return await asyncio.shield(self._lost)

    def request_refresh(self) -> None:
        """Refresh now (the node's `refresh_token` event asks for this). Requests are
        coalesced: at most one refresh per `event_refresh_interval` seconds follows them."""
        if self._refresh_requested.is_set():
            self.refresh_requests_coalesced += 1
            self._log.log(
                "refresh requests arrive faster than one per %g s; coalescing them",
                self._event_refresh_interval,
            )
        self._refresh_requested.set()

    def _lifetime(self, endpoint: str, stated: str, seconds: float) -> float:
        clamped = self._bounds.clamp(seconds)
        if clamped != seconds and not self._clamp_logged:
            self._clamp_logged = True  # once per session: a node saying it every time is noise
            log.warning(
                "%s: the node's token lifetime expires=%r is out of bounds; using %g s "
                "(bounds %g s to %g s)",
                endpoint,
                stated[:40],
                clamped,
                self._bounds.floor,
                self._bounds.ceiling,
            )
        return clamped

    def set_service_type(self, service_type: str) -> None:
        """The runtime saw this participant move (e.g. out of the waiting room)."""
        self._service_type = service_type

    def server_disconnected(self, reason: str) -> None:
        """The node sent `disconnect`: stop refreshing, release with its reason on close."""
        self._server_reason = reason
        if self._keepalive is not None:
            self._keepalive.cancel()

    async def close(self, reason: str = LEAVE_REASON) -> None:
        """Stop refreshing and release the token. Safe to call more than once."""
        if self._closed:
            return
        self._closed = True
        self._log.flush()
        if self._keepalive is not None:
            self._keepalive.cancel()
            await asyncio.gather(self._keepalive, return_exceptions=True)
        if self._lost is not None and not self._lost.done():
            self._lost.cancel()
        try:
            if self._token is not None:
                await self._release(self._server_reason or reason)
        finally:
            if self._owns_api:
                await self.api.aclose()

    async def _release(self, reason: str) -> None:
        try:
            await self.api.call(
                RELEASE_TOKEN,
                self.alias,
                token=self._token,
                body=ReleaseTokenBody(reason=reason),
                retry=_RELEASE_RETRY,
            )
        except (InfinityError, TransportError) as exc:
            # Best effort: the token dies on its own when it expires.
            log.info("release_token failed: %s", exc)

    # -- refresh loop ----------------------------------------------------------------

    async def _keepalive_loop(self, interval: float) -> None:
        while True:
            await sleep_or_event(self._clock, interval, self._refresh_requested)
            if self._refresh_requested.is_set() and self._last_refresh_at is not None:
                # Asked for by the node (or a renegotiation): not more often than this.
                wait = self._last_refresh_at + self._event_refresh_interval
                if wait > self._clock.monotonic():
                    await self._clock.sleep(wait - self._clock.monotonic())
            self._refresh_requested.clear()
            try:
                lost = await self._refresh_until_done(interval)
            except Exception as exc:
                # A bug here must not silently stop the keepalive: say so, and let the
                # owner rejoin.
                log.exception("token refresh failed unexpectedly")
                lost = TokenLost(f"token refresh failed: {type(exc).__name__}", ReasonCode.UNKNOWN)
            if lost is not None:
                log.warning("token lost: %s (%s)", lost.reason, lost.code)
                if self._lost is not None and not self._lost.done():
                    self._lost.set_result(lost)
                return

    async def _refresh_until_done(self, interval: float) -> TokenLost | None:
        backoff = Backoff(base=0.5, max_delay=max(1.0, interval), rng=self._rng)
        while True:
            # Transient failures are retried by the client for as long as the token is
            # valid, timeouts included (as Pexip's SDK does: a refresh only rotates a token).
            retry = RetryPolicy(
                attempts=None,
                total=max(0.0, self._valid_until - self._clock.monotonic()),
                base_delay=0.5,
                max_delay=max(1.0, interval),
                retry_unsafe=True,
            )
            try:
                result = await self.api.call(
                    REFRESH_TOKEN, self.alias, token=self._token, retry=retry
                )
            except ForbiddenError as exc:
                # Pexip's SDK retries a 403 in a hot loop; a refused token stays refused.
                reason = exc.reason or "Invalid token"
                return TokenLost(reason, reason_code(reason))
            except (ServerError, TransportError) as exc:
                log.warning("refresh_token failed until the token expired: %s", exc)
                return TokenLost(EXPIRED_REASON, ReasonCode.INVALID_TOKEN)
            except InfinityError as exc:
                # An answer that is neither a token nor a transient failure (a malformed
                # 200, a 404): try again while the token lasts.
                delay = backoff.next_delay()
                if self._clock.monotonic() + delay >= self._valid_until:
                    return TokenLost(EXPIRED_REASON, ReasonCode.INVALID_TOKEN)
                log.warning("refresh_token failed (%s); retrying in %.2f s", exc, delay)
                await self._clock.sleep(delay)
                continue
            self._token = result.token
            self._on_token(result.token)
            expires = self._lifetime("refresh_token", result.expires, result.expires_seconds)
            self._valid_until = self._clock.monotonic() + expires
            self._last_refresh_at = self._clock.monotonic()
            if result.role is not None:
                self._role = result.role
            self.refreshes += 1
            return None
