"""Authentication of management API requests: HTTP Basic (every release), a fixed bearer
token, or OAuth2 client credentials with a signed JWT assertion (newer releases).

The OAuth2 flow is the one Pexip's own command-line client uses: an ES256 JWT signed with
the API client's private key (`iss` = `sub` = client id, `aud` = the token URL, `iat`,
`exp`, `jti`) is posted form-encoded to the manager's `/oauth/token/` with
`grant_type=client_credentials` and the JWT-bearer assertion type; the answer carries
`access_token` and `expires_in`. A token is reused until five minutes (or half its life)
before it expires. The v26 document has Basic only, so OAuth2 is opt-in.

No credential ever appears in a `repr`, a log line or an error message.
"""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Protocol
from urllib.parse import urlencode

from ._errors import ManagementAuthError, ManagementResponseError
from ._transport import AdminRequest, AdminResponse

Send = Callable[[AdminRequest], Awaitable[AdminResponse]]

JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
TOKEN_PATH = "/oauth/token/"


class Auth(Protocol):
    """Gives each request its `Authorization` header value."""

    async def authorization(self, send: Send, base_url: str) -> str: ...

    def invalidate(self) -> None:
        """Forget a cached token (the manager answered 401 to it)."""
        ...


class BasicAuth:
    """HTTP Basic: the manager's web admin user (or an LDAP account for the API)."""

    def __init__(self, username: str, password: str) -> None:
        self.username = username
        self._header = "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()

    def __repr__(self) -> str:
        return f"BasicAuth(username={self.username!r}, password=***)"

    async def authorization(self, send: Send, base_url: str) -> str:
        return self._header

    def invalidate(self) -> None:
        return None


class BearerAuth:
    """A bearer token obtained elsewhere (`token` may be a string or an async callable
    that returns a fresh one)."""

    def __init__(self, token: str | Callable[[], Awaitable[str]]) -> None:
        self._token = token

    def __repr__(self) -> str:
        return "BearerAuth(token=***)"

    async def authorization(self, send: Send, base_url: str) -> str:
        token = self._token if isinstance(self._token, str) else await self._token()
        return f"Bearer {token}"

    def invalidate(self) -> None:
        return None


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def es256_assertion(
    client_id: str, private_key_pem: bytes, audience: str, *, now: float, lifetime: float
) -> str:
    """A compact ES256 JWT client assertion (RFC 7523) signed with a P-256 private key."""
    # Imported here: only OAuth2 users pay for the crypto import.
    from cryptography.hazmat.primitives import hashes, serialization  # noqa: PLC0415
    from cryptography.hazmat.primitives.asymmetric import ec  # noqa: PLC0415
    from cryptography.hazmat.primitives.asymmetric.utils import (  # noqa: PLC0415
        decode_dss_signature,
    )

    try:
        key = serialization.load_pem_private_key(private_key_pem, password=None)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"OAuth2 client {client_id!r}: unreadable private key") from exc
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
        raise ValueError(f"OAuth2 client {client_id!r}: the key must be an EC P-256 (ES256) key")
    header = {"alg": "ES256", "typ": "JWT"}
    claims = {
        "iss": client_id,
        "sub": client_id,
        "aud": audience,
        "iat": int(now),
        "exp": int(now + lifetime),
        "jti": secrets.token_hex(18),
    }
    signing_input = (
        _b64url(json.dumps(header, separators=(",", ":")).encode())
        + "."
        + _b64url(json.dumps(claims, separators=(",", ":")).encode())
    )
    der = key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256()))
    r, s = decode_dss_signature(der)
    return signing_input + "." + _b64url(r.to_bytes(32, "big") + s.to_bytes(32, "big"))


class OAuth2ClientCredentials:
    """OAuth2 client credentials with a private-key JWT assertion (see the module doc).

    `token_url` defaults to `<base_url>/oauth/token/`. `clock` is injectable for tests.
    """

    def __init__(
        self,
        client_id: str,
        private_key_pem: str | bytes,
        *,
        token_url: str | None = None,
        assertion_lifetime: float = 3600.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.client_id = client_id
        self._key = (
            private_key_pem.encode() if isinstance(private_key_pem, str) else private_key_pem
        )
        self.token_url = token_url
        self.assertion_lifetime = assertion_lifetime
        self._clock = clock
        self._token: str | None = None
        self._expires_at = 0.0
        self._refresh_at = 0.0
        self._lock = asyncio.Lock()
        self.tokens_fetched = 0

    def __repr__(self) -> str:
        return f"OAuth2ClientCredentials(client_id={self.client_id!r}, key=***)"

    def invalidate(self) -> None:
        self._token = None

    async def authorization(self, send: Send, base_url: str) -> str:
        async with self._lock:
            if self._token is None or self._clock() >= self._refresh_at:
                await self._fetch(send, base_url)
            assert self._token is not None
            return f"Bearer {self._token}"

    async def _fetch(self, send: Send, base_url: str) -> None:
        url = self.token_url or base_url.rstrip("/") + TOKEN_PATH
        now = self._clock()
        assertion = es256_assertion(
            self.client_id, self._key, url, now=now, lifetime=self.assertion_lifetime
        )
        body = urlencode(
            {
                "grant_type": "client_credentials",
                "client_assertion_type": JWT_BEARER,
                "client_assertion": assertion,
            }
        ).encode()
        response = await send(
            AdminRequest(
                "POST",
                url,
                {"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"},
                body,
            )
        )
        try:
            answer = response.json()
        except ValueError:
            answer = None
        if response.status != 200:
            reason = None
            if isinstance(answer, dict):
                parts = [answer.get("error"), answer.get("error_description")]
                reason = ": ".join(str(p) for p in parts if p)
            raise ManagementAuthError(
                response.status,
                f"OAuth2 token request refused ({reason or 'no reason given'})",
                path=TOKEN_PATH,
                body=answer if isinstance(answer, dict) else None,
            )
        if not isinstance(answer, dict) or not isinstance(answer.get("access_token"), str):
            raise ManagementResponseError(f"{TOKEN_PATH}: the answer has no access_token")
        try:
            lifetime = float(answer.get("expires_in", 3600))
        except (TypeError, ValueError):
            raise ManagementResponseError(f"{TOKEN_PATH}: expires_in is not a number") from None
        if not 0 < lifetime < 10 * 365 * 86400:
            raise ManagementResponseError(f"{TOKEN_PATH}: expires_in {lifetime:g} is not usable")
        self._token = answer["access_token"]
        self._expires_at = now + lifetime
        self._refresh_at = self._expires_at - min(300.0, lifetime / 2)
        self.tokens_fetched += 1
