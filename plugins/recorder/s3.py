"""The S3 `RemoteStore`, on boto3 (imported only when S3 storage is configured).

boto3 because it is the reference S3 client that every S3-compatible server is tested
against, and it has each knob the settings name (endpoint, region, path or virtual-host
addressing, TLS verification or a CA bundle, per-request retries) plus s3transfer's
multipart uploads (parts in parallel, each retried alone, checksummed). Its failures are
sorted here into `TransientError` and `PermanentError`, as one line without secrets.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
from boto3.s3.transfer import TransferConfig, create_transfer_manager
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    NoCredentialsError,
    ParamValidationError,
    PartialCredentialsError,
    SSLError,
)

from .config import S3Storage
from .remote import Credentials, PermanentError, RemoteError, RemoteFile, TransientError

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

#: Error codes worth another try even under a 4xx status.
_TRANSIENT_CODES = frozenset(
    {"RequestTimeout", "SlowDown", "Throttling", "ThrottlingException", "RequestTimeTooSkewed"}
)
#: What a bodiless answer (HEAD) means.
_STATUS_TEXT = {
    301: "the bucket is in another region (set region)",
    400: "bad request",
    403: "access denied (check the credentials and the bucket's policy)",
    404: "not found",
}


class S3Store:
    """Objects under `settings.bucket` / `settings.prefix` (see `remote.RemoteStore`)."""

    def __init__(self, settings: S3Storage, credentials: Credentials) -> None:
        self.settings = settings
        self._secrets = credentials.values()
        session = boto3.session.Session(
            aws_access_key_id=credentials.access_key_id,
            aws_secret_access_key=credentials.secret_access_key,
            aws_session_token=credentials.session_token,
        )
        config = Config(
            s3={"addressing_style": settings.addressing_style},
            retries={"mode": "standard", "total_max_attempts": settings.request_attempts},
            connect_timeout=10,
            read_timeout=60,
            user_agent_extra="pexbot-recorder",
        )
        verify: bool | str = settings.ca_bundle or settings.verify_tls
        self._client: S3Client = session.client(
            "s3",
            endpoint_url=settings.endpoint_url,
            region_name=settings.region,
            verify=verify,
            config=config,
        )
        self._transfer = TransferConfig(
            multipart_threshold=settings.multipart_threshold,
            multipart_chunksize=settings.multipart_chunk_size,
            max_concurrency=4,
        )

    @property
    def url(self) -> str:
        return self.settings.url

    def _key(self, name: str) -> str:
        return f"{self.settings.prefix}{name}"

    def check(self) -> None:
        try:
            self._client.head_bucket(Bucket=self.settings.bucket)
        except Exception as exc:
            where = self.url + (
                f" at {self.settings.endpoint_url}" if self.settings.endpoint_url else ""
            )
            raise self._error(exc, where, bucket=True) from None

    def put_file(self, path: Path, name: str) -> int:
        key = self._key(name)
        try:
            with create_transfer_manager(self._client, self._transfer) as manager:
                manager.upload(str(path), self.settings.bucket, key).result()
        except OSError:
            raise  # the local file: not the store's
        except Exception as exc:
            raise self._error(exc, f"uploading {path.name} to {self.url}{name}") from None
        return self._stored(name)

    def put_bytes(self, data: bytes, name: str) -> int:
        try:
            self._client.put_object(Bucket=self.settings.bucket, Key=self._key(name), Body=data)
        except Exception as exc:
            raise self._error(exc, f"uploading {self.url}{name}") from None
        return self._stored(name)

    def _stored(self, name: str) -> int:
        size = self.size(name)
        if size is None:
            raise TransientError(f"{self.url}{name} is not there after its upload")
        return size

    def size(self, name: str) -> int | None:
        try:
            head = self._client.head_object(Bucket=self.settings.bucket, Key=self._key(name))
        except ClientError as exc:
            if _status(exc) == 404:
                return None
            raise self._error(exc, f"reading {self.url}{name}") from None
        except Exception as exc:
            raise self._error(exc, f"reading {self.url}{name}") from None
        return int(head["ContentLength"])

    def get_bytes(self, name: str) -> bytes | None:
        try:
            got = self._client.get_object(Bucket=self.settings.bucket, Key=self._key(name))
            return got["Body"].read()
        except ClientError as exc:
            if _status(exc) == 404 and _code(exc) != "NoSuchBucket":
                return None
            raise self._error(exc, f"reading {self.url}{name}") from None
        except Exception as exc:
            raise self._error(exc, f"reading {self.url}{name}") from None

    def list(self, folder: str) -> list[RemoteFile]:
        prefix = self._key(f"{folder}/")
        found: list[RemoteFile] = []
        try:
            pages = self._client.get_paginator("list_objects_v2").paginate(
                Bucket=self.settings.bucket, Prefix=prefix, Delimiter="/"
            )
            for page in pages:
                for item in page.get("Contents", []):
                    name = item["Key"][len(prefix) :]
                    found.append(RemoteFile(name, int(item["Size"]), item["LastModified"]))
        except Exception as exc:
            raise self._error(exc, f"listing {self.url}{folder}/") from None
        return found

    def close(self) -> None:
        self._client.close()

    # -- failures ------------------------------------------------------------------------

    def _error(self, exc: Exception, what: str, *, bucket: bool = False) -> RemoteError:
        """`what` failed: transient or permanent, in one line, credentials scrubbed."""
        permanent, why = _classify(exc, bucket=bucket)
        text = " ".join(f"{what}: {why}".split())
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return PermanentError(text) if permanent else TransientError(text)


def _status(exc: ClientError) -> int | None:
    meta: dict[str, Any] = dict(exc.response.get("ResponseMetadata") or {})
    status = meta.get("HTTPStatusCode")
    return int(status) if status is not None else None


def _code(exc: ClientError) -> str:
    return str((exc.response.get("Error") or {}).get("Code") or "")


def _classify(exc: Exception, *, bucket: bool) -> tuple[bool, str]:
    """(permanent, why) for a failed request."""
    if isinstance(exc, ClientError):
        status, code = _status(exc), _code(exc)
        message = str((exc.response.get("Error") or {}).get("Message") or "")
        if code.isdigit() or not code:  # a HEAD answer: no body, only the status
            why = _STATUS_TEXT.get(status or 0, f"HTTP {status}")
            if bucket and status == 404:
                why = "no such bucket"
            why = f"{why} ({status})"
        else:
            why = f"{message} ({code})" if message else code
        transient = status is None or status >= 500 or status in (408, 429)
        return not (transient or code in _TRANSIENT_CODES), why
    if isinstance(exc, SSLError):
        return True, f"TLS: {exc}"
    if isinstance(exc, NoCredentialsError | PartialCredentialsError):
        return True, f"no credentials: {exc}"
    if isinstance(exc, ParamValidationError):
        return True, str(exc)
    if isinstance(exc, BotoCoreError):  # connections refused or cut, timeouts
        return False, str(exc)
    return False, f"{type(exc).__name__}: {exc}"
