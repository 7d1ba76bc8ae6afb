"""The recorder's settings, and where its recordings go (`storage`): the local folder, or
S3-compatible object storage with the local folder as a spool."""

import re
from typing import Annotated, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from agent import SecretReference

MiB = 1 << 20
#: S3's smallest part (but the last); also its largest: 5 GiB.
MIN_PART = 5 * MiB
MAX_PART = 5 << 30

_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")

EnvName = Annotated[str | None, SecretReference("env"), Field(min_length=1)]
FilePath = Annotated[str | None, SecretReference("file"), Field(min_length=1)]


class LocalStorage(BaseModel):
    """Recordings stay in `output_dir` (the default)."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["local"] = "local"


class S3Storage(BaseModel):
    """S3-compatible object storage (AWS S3, MinIO, Ceph, R2, ...): the session is recorded
    into `output_dir` first (the spool), each file uploaded as soon as it closes, the
    timeline, chart and summary when the session ends, under
    `s3://<bucket>/<prefix><session folder>/`.

    Credentials are named, never given: environment variables (`*_env`) or files holding
    the value (`*_file`, e.g. a mounted Kubernetes Secret). Without any, the library's own
    chain applies (`AWS_ACCESS_KEY_ID`..., `~/.aws`, an instance or pod role)."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["s3"]
    bucket: str
    #: Key prefix of every session (`recordings/`); a trailing `/` is added.
    prefix: str = ""
    #: The service's URL (`https://minio.example.com:9000`); none: AWS S3 in `region`.
    endpoint_url: str | None = None
    region: str | None = None
    #: `path` (`https://host/bucket/key`, what most S3-compatible servers want), `virtual`
    #: (`https://bucket.host/key`) or `auto` (the library's choice).
    addressing_style: Literal["auto", "path", "virtual"] = "auto"
    verify_tls: bool = True
    #: A PEM file of the CA certificates to trust (a private CA) instead of the system's.
    ca_bundle: str | None = None
    access_key_id_env: EnvName = None
    access_key_id_file: FilePath = None
    secret_access_key_env: EnvName = None
    secret_access_key_file: FilePath = None
    session_token_env: EnvName = None
    session_token_file: FilePath = None
    #: Delete each local file once its upload is verified (the object's size read back),
    #: and the session folder once everything is up. Off: the spool stays a full copy.
    delete_uploaded: bool = False
    #: Files from this size on go up in parts of `multipart_chunk_size` (several at once).
    multipart_threshold: int = Field(default=16 * MiB, ge=1)
    multipart_chunk_size: int = Field(default=16 * MiB, ge=MIN_PART, le=MAX_PART)
    #: Tries per outage (transient errors: refused connections, timeouts, 5xx, throttling),
    #: with a backoff from 0.5 s doubling up to `upload_max_delay`; then the recording fails
    #: (reason `storage`) with the spool kept. Bad credentials or bucket: no retry.
    upload_attempts: int = Field(default=8, ge=1, le=100)
    upload_max_delay: float = Field(default=30.0, gt=0, le=600)
    #: Tries of each request inside the library (a part of a multipart upload fails alone).
    request_attempts: int = Field(default=3, ge=1, le=10)
    #: Seconds the session's end waits for the last uploads before the bot is done.
    finish_timeout: float = Field(default=300.0, gt=0)

    @field_validator("bucket")
    @classmethod
    def _bucket(cls, value: str) -> str:
        if not _BUCKET.match(value) or ".." in value:
            raise ValueError("must be 3 to 63 lowercase letters, digits, dots and hyphens")
        return value

    @field_validator("prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        value = value.strip("/")
        if any(part in ("", ".", "..") for part in value.split("/")) and value:
            raise ValueError("must be key names separated by single slashes, no . or ..")
        return f"{value}/" if value else ""

    @field_validator("endpoint_url")
    @classmethod
    def _endpoint(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^https?://[^/\s?#]+(/[^\s?#]*)?$", value):
            raise ValueError("must be an http:// or https:// URL")
        return value

    @model_validator(mode="after")
    def _credentials(self) -> Self:
        for name in ("access_key_id", "secret_access_key", "session_token"):
            if getattr(self, f"{name}_env") and getattr(self, f"{name}_file"):
                raise ValueError(f"{name}: give {name}_env or {name}_file, not both")
        has_id = bool(self.access_key_id_env or self.access_key_id_file)
        has_secret = bool(self.secret_access_key_env or self.secret_access_key_file)
        if has_id != has_secret:
            raise ValueError(
                "access_key_id and secret_access_key come together "
                "(or neither: the default credential chain)"
            )
        if (self.session_token_env or self.session_token_file) and not has_id:
            raise ValueError("session_token needs access_key_id and secret_access_key")
        if self.ca_bundle is not None and not self.verify_tls:
            raise ValueError("ca_bundle is for verifying TLS: not with verify_tls = false")
        return self

    @property
    def url(self) -> str:
        """`s3://bucket/prefix` (no credentials: fine for logs)."""
        return f"s3://{self.bucket}/{self.prefix}"


Storage = Annotated[LocalStorage | S3Storage, Field(discriminator="kind")]


class RecorderConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    #: The session folders (with S3 storage: the spool they are uploaded from).
    output_dir: str = "recordings"
    #: Folder name inside `output_dir`; default `<alias>-<UTC start>`.
    session_folder: str | None = None
    container: Literal["webm", "matroska"] = "webm"
    #: No video at all (cheap transcription pipelines).
    audio_only: bool = False
    #: Start a new file at the first keyframe after this many seconds (names sort).
    segment_seconds: float | None = Field(default=None, gt=0)
    #: Start a new file once the current one holds this many bytes (with segment_seconds:
    #: whichever comes first).
    segment_bytes: int | None = Field(default=None, ge=10_000)
    autostart: bool = True
    start_paused: bool = False
    #: Seconds of audio to hold while waiting for the first video keyframe.
    video_wait: float = Field(default=2.0, ge=0)
    #: Matroska cluster length: also how much a crash can lose at most.
    cluster_ms: int = Field(default=1000, ge=100, le=30_000)
    stop_timeout: float = Field(default=30.0, gt=0)
    #: Record the presentation (slides) to its own files; ignored in audio-only mode.
    record_presentation: bool = True
    #: Continue a session an earlier process recorded in `session_folder` (a service job
    #: taken over by another worker): files go on numbering, times go on on its timeline,
    #: and the stretch in between is one `gap` line of kind `resume`. (A named folder is
    #: claimed: an earlier process that comes back stops writing to it.)
    continue_session: bool = False
    #: Bytes of disk kept free from the session's start for its end: when the disk fills
    #: up they are given back, so the files' ends, the timeline's `recording_failed` line
    #: and `summary.json` are still written (0: keep none).
    reserve_bytes: int = Field(default=1 << 20, ge=0)
    #: Where the recordings go: `{kind = "local"}` (the default) or `{kind = "s3", ...}`.
    storage: Storage = Field(default_factory=LocalStorage)
