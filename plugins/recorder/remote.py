"""Object storage as the recorder sees it: the `RemoteStore` seam (the S3 one is `s3.py`,
imported only when configured), its two kinds of failure, and the credentials it is given.

Nothing here imports the S3 library: a recorder writing to a local folder never loads it.
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol

from .config import S3Storage


class RemoteError(Exception):
    """An object storage request failed; the message is one line without secrets."""


class TransientError(RemoteError):
    """Worth another try: refused or cut connections, timeouts, 5xx, throttling."""


class PermanentError(RemoteError):
    """No retry helps: bad credentials, no such bucket, access denied, TLS not trusted."""


class CredentialsError(ValueError):
    """The store cannot be set up: a credential reference that cannot be read (names the
    setting, never the value), or the S3 library missing."""


@dataclass(frozen=True)
class RemoteFile:
    """An object of a session: its name inside the session's prefix, size, last write."""

    name: str
    size: int
    modified: datetime


class RemoteStore(Protocol):
    """Objects under one bucket and prefix; names are relative to the prefix. Every call
    blocks (network I/O): call from a thread. Raises `TransientError`/`PermanentError`."""

    @property
    def url(self) -> str:
        """`s3://bucket/prefix`."""
        ...

    def check(self) -> None:
        """The bucket exists and the credentials are accepted."""

    def put_file(self, path: Path, name: str) -> int:
        """Upload `path` (in parts when large); returns the stored object's size."""
        ...

    def put_bytes(self, data: bytes, name: str) -> int:
        """Store `data` as `name`; returns the stored object's size."""
        ...

    def size(self, name: str) -> int | None:
        """The object's size, or None when there is none."""
        ...

    def get_bytes(self, name: str) -> bytes | None:
        """The object's content, or None when there is none."""
        ...

    def list(self, folder: str) -> list[RemoteFile]:
        """The objects directly in `folder` (a session), names relative to it."""
        ...

    def close(self) -> None:
        """Close the connections (the store is not used afterwards)."""


@dataclass(frozen=True)
class Credentials:
    access_key_id: str | None = None
    secret_access_key: str | None = None
    session_token: str | None = None

    def values(self) -> list[str]:
        """Every value given (to scrub from anything a server says back)."""
        return [v for v in (self.access_key_id, self.secret_access_key, self.session_token) if v]


def _read(settings: S3Storage, name: str) -> str | None:
    env = getattr(settings, f"{name}_env")
    file = getattr(settings, f"{name}_file")
    if env is not None:
        value = os.environ.get(env)
        if not value:
            raise CredentialsError(f"storage.{name}_env: environment variable {env} is not set")
        return value
    if file is not None:
        try:
            value = Path(file).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise CredentialsError(
                f"storage.{name}_file: cannot read {file}: {exc.strerror or exc}"
            ) from None
        if not value:
            raise CredentialsError(f"storage.{name}_file: {file} is empty")
        return value
    return None


def read_credentials(settings: S3Storage) -> Credentials:
    """The credentials the settings name (all None: the library's default chain). Raises
    `CredentialsError` for a variable that is not set or a file that cannot be read."""
    return Credentials(
        access_key_id=_read(settings, "access_key_id"),
        secret_access_key=_read(settings, "secret_access_key"),
        session_token=_read(settings, "session_token"),
    )


def open_store(settings: S3Storage, credentials: Credentials) -> RemoteStore:
    """The S3 store (imports the S3 library: the first call costs about 0.3 s)."""
    try:
        module = importlib.import_module(f"{__package__}.s3")
    except ImportError as exc:
        raise CredentialsError(f"storage: S3 storage needs boto3 ({exc})") from None
    store: RemoteStore = module.S3Store(settings, credentials)
    return store
