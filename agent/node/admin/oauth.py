"""OAuth2 for the node's management API: `POST /oauth/token/` with a client-credentials
grant and an ES256 JWT client assertion (RFC 7523), as newer Management Nodes take it;
the access token it hands out is accepted as `Authorization: Bearer` next to Basic.

The assertion must be signed by a configured client's key, name that client in `iss` and
`sub`, be addressed (`aud`) to this token URL, be unexpired, and not be replayed (`jti`).
"""

from __future__ import annotations

import base64
import binascii
import json
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from .settings import OAuth2ClientConfig

TOKEN_PATH = "/oauth/token/"
JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
MAX_ASSERTION = 8192  # bytes: a JWT is a few hundred
CLOCK_SKEW = 60.0


class OAuthError(Exception):
    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.status = status

    def response(self) -> web.Response:
        body = {"error": self.error, "error_description": self.description}
        return web.json_response(body, status=self.status)


def _b64decode(part: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
    except (binascii.Error, ValueError):
        raise OAuthError("invalid_client", "malformed client assertion") from None


def _verify_es256(public_pem: str, signing_input: bytes, signature: bytes) -> bool:
    from cryptography.exceptions import InvalidSignature  # noqa: PLC0415
    from cryptography.hazmat.primitives import hashes, serialization  # noqa: PLC0415
    from cryptography.hazmat.primitives.asymmetric import ec  # noqa: PLC0415
    from cryptography.hazmat.primitives.asymmetric.utils import (  # noqa: PLC0415
        encode_dss_signature,
    )

    key = serialization.load_pem_public_key(public_pem.encode())
    if not isinstance(key, ec.EllipticCurvePublicKey) or len(signature) != 64:
        return False
    der = encode_dss_signature(
        int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
    )
    try:
        key.verify(der, signing_input, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        return False
    return True


@dataclass
class OAuthTokens:
    """Access tokens handed out, and assertion ids already used."""

    lifetime: float
    tokens: dict[str, float] = field(default_factory=dict)  # token -> expiry
    used_jti: dict[str, float] = field(default_factory=dict)  # jti -> assertion expiry

    def valid(self, token: str) -> bool:
        expiry = self.tokens.get(token)
        if expiry is None:
            return False
        if expiry <= time.time():
            del self.tokens[token]
            return False
        return True

    def _prune(self, now: float) -> None:
        self.tokens = {t: e for t, e in self.tokens.items() if e > now}
        self.used_jti = {j: e for j, e in self.used_jti.items() if e > now}

    def grant(
        self, clients: list[OAuth2ClientConfig], form: dict[str, str], audience: str
    ) -> dict[str, Any]:
        """A token answer for a valid grant; raises `OAuthError` otherwise."""
        if form.get("grant_type") != "client_credentials":
            raise OAuthError("unsupported_grant_type", "grant_type must be client_credentials")
        if form.get("client_assertion_type") != JWT_BEARER:
            raise OAuthError("invalid_client", "client_assertion_type must be jwt-bearer")
        assertion = form.get("client_assertion", "")
        if not assertion or len(assertion) > MAX_ASSERTION or assertion.count(".") != 2:
            raise OAuthError("invalid_client", "malformed client assertion")
        head_b64, claims_b64, sig_b64 = assertion.split(".")
        try:
            header = json.loads(_b64decode(head_b64))
            claims = json.loads(_b64decode(claims_b64))
        except (ValueError, UnicodeDecodeError):
            raise OAuthError("invalid_client", "malformed client assertion") from None
        if not isinstance(header, dict) or not isinstance(claims, dict):
            raise OAuthError("invalid_client", "malformed client assertion")
        if header.get("alg") != "ES256":
            raise OAuthError("invalid_client", "the assertion must be signed with ES256")
        client_id = claims.get("iss")
        client = next((c for c in clients if c.client_id == client_id), None)
        if client is None or claims.get("sub") != client_id:
            raise OAuthError("invalid_client", "unknown client", 401)
        signing_input = f"{head_b64}.{claims_b64}".encode()
        if not _verify_es256(client.public_key, signing_input, _b64decode(sig_b64)):
            raise OAuthError("invalid_client", "bad assertion signature", 401)
        now = time.time()
        self._prune(now)
        exp, iat, jti = claims.get("exp"), claims.get("iat"), claims.get("jti")
        if not isinstance(exp, int | float) or exp <= now:
            raise OAuthError("invalid_grant", "the assertion has expired")
        if isinstance(iat, int | float) and iat > now + CLOCK_SKEW:
            raise OAuthError("invalid_grant", "the assertion is issued in the future")
        if claims.get("aud") != audience:
            raise OAuthError("invalid_grant", "the assertion is for another audience")
        if not isinstance(jti, str) or not jti or jti in self.used_jti:
            raise OAuthError("invalid_grant", "the assertion has no jti or was used before")
        self.used_jti[jti] = float(exp)
        token = secrets.token_urlsafe(32)
        self.tokens[token] = now + self.lifetime
        return {"access_token": token, "token_type": "Bearer", "expires_in": int(self.lifetime)}
