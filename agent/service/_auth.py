"""API keys: bearer tokens from the environment or a file, compared in constant time.

`PEXBOT_API_KEYS="key1,key2:read"` or a file with one `KEY [write|read]` per line (`#`
comments). A `read` key may only read (403 on anything else). Only digests are kept;
a key never reaches a log line or an error message.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from ..config import ConfigError

ENV = "PEXBOT_API_KEYS"
MIN_LENGTH = 16
Scope = Literal["write", "read"]


@dataclass(frozen=True)
class ApiKey:
    digest: bytes
    scope: Scope

    @property
    def id(self) -> str:
        """Names the key (e.g. as a job's owner) without revealing it."""
        return self.digest.hex()[:12]


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


class ApiKeys:
    """The accepted keys (digests only); `check` finds the key of a request."""

    def __init__(self, keys: list[ApiKey]) -> None:
        self._keys = keys

    def __len__(self) -> int:
        return len(self._keys)

    @classmethod
    def parse(cls, env_value: str | None, file: Path | None) -> ApiKeys:
        """Keys from `$PEXBOT_API_KEYS` and/or a file; `ConfigError` names the bad entry by
        its position, never by its text."""
        keys: list[ApiKey] = []
        problems: list[str] = []
        if env_value:
            for i, raw in enumerate(env_value.split(",")):
                key, _, scope = raw.strip().partition(":")
                keys += cls._one(key, scope or "write", f"{ENV}: entry {i + 1}", problems)
        if file is not None:
            try:
                lines = file.read_text().splitlines()
            except OSError as exc:
                raise ConfigError(f"{file}: cannot read: {exc.strerror}") from None
            for n, line in enumerate(lines, 1):
                text = line.split("#", 1)[0].split()
                if not text:
                    continue
                scope = text[1] if len(text) > 1 else "write"
                if len(text) > 2:
                    problems.append(f"{file}: line {n}: expected KEY [write|read]")
                    continue
                keys += cls._one(text[0], scope, f"{file}: line {n}", problems)
        if problems:
            raise ConfigError("\n".join(problems))
        if not keys:
            raise ConfigError(f"no API keys: set {ENV} or give --api-keys-file")
        return cls(keys)

    @staticmethod
    def _one(key: str, scope: str, where: str, problems: list[str]) -> list[ApiKey]:
        if scope not in ("write", "read"):
            problems.append(f"{where}: scope must be write or read")
            return []
        if len(key) < MIN_LENGTH:
            problems.append(f"{where}: a key needs at least {MIN_LENGTH} characters")
            return []
        return [ApiKey(_digest(key), "write" if scope == "write" else "read")]

    def check(self, authorization: str | None) -> ApiKey | None:
        """The key of an `Authorization: Bearer <key>` header, if it is one of ours."""
        if not authorization:
            return None
        kind, _, token = authorization.partition(" ")
        if kind.lower() != "bearer" or not token.strip():
            return None
        digest = _digest(token.strip())
        found = None
        for key in self._keys:  # every key compared: the time says nothing about which
            if hmac.compare_digest(key.digest, digest):
                found = key
        return found
