"""The recorder's S3 storage against a local S3 endpoint (moto's server on 127.0.0.1):
segments go up as they close, large files in parts, transient failures retried within a
budget, a permanent one reported once with the spool kept, and the settings checked."""

from __future__ import annotations

import asyncio
import json
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from agent import EncodedFrame, FailureReason
from agent.media.clips import feed, opus_clip, vp8_clip
from plugins.recorder import Recorder, RecorderConfig, S3Storage, StorageError
from plugins.recorder.remote import open_store, read_credentials
from plugins.recorder.upload import Uploader
from tests.support.recording import ffprobe
from tests.support.s3 import (
    CREDENTIALS_ENV,
    SECRET,
    FaultProxy,
    LocalS3,
    fault_proxy,
    local_s3,
    storage,
)

pytestmark = pytest.mark.skipif(shutil.which("ffprobe") is None, reason="needs ffprobe")

T0 = 1000.0


@pytest.fixture(scope="module")
def s3() -> Iterator[LocalS3]:
    with local_s3() as server:
        yield server


@pytest.fixture
def proxy(s3: LocalS3) -> Iterator[FaultProxy]:
    with fault_proxy(s3) as p:
        yield p


@pytest.fixture(autouse=True)
def credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in CREDENTIALS_ENV.items():
        monkeypatch.setenv(name, value)


_buckets = iter(range(1_000_000))


def new_bucket(s3: LocalS3) -> str:
    return s3.bucket(f"rec-{next(_buckets)}")


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


class Context:
    alias = "meet"
    conference_name = "Weekly"

    def __init__(self) -> None:
        self.failures: list[tuple[FailureReason, str]] = []

    def fail(self, reason: FailureReason, detail: str) -> None:
        self.failures.append((reason, detail))


def recorder(tmp_path: Path, s3: LocalS3 | FaultProxy, bucket: str, **config: Any) -> Recorder:
    extra = config.pop("storage", {})
    cfg = RecorderConfig(
        output_dir=str(tmp_path / "spool"),
        session_folder="s",
        storage=storage(s3, bucket, prefix="calls", **extra),
        **config,
    )
    return Recorder(Context(), cfg, alias="meet", clock=Clock())


async def hand(rec: Recorder, items: list[object]) -> None:
    clock = rec._clock
    assert isinstance(clock, Clock)
    for item in items:
        if isinstance(item, EncodedFrame):
            clock.now = max(clock.now, item.arrival)
        await rec.handle(item)


async def until(check: Any, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


def clip(seconds: float) -> list[object]:
    return list(feed([vp8_clip(int(seconds * 15), gop=15), opus_clip(seconds)], T0))


# -- uploads as the recording goes ----------------------------------------------------------


async def test_each_segment_goes_up_when_it_closes_and_the_session_reads_back(
    s3: LocalS3, tmp_path: Path
) -> None:
    bucket = new_bucket(s3)
    rec = recorder(tmp_path, s3, bucket, segment_seconds=1.0, storage={"multipart_threshold": 1})
    items = clip(4.0)
    await rec.start()
    early = [i for i in items if not isinstance(i, EncodedFrame) or i.arrival < T0 + 2.5]
    await hand(rec, early)
    assert await rec.flush()
    prefix = "calls/s/"
    first_two = {f"{prefix}recording-000.webm", f"{prefix}recording-001.webm"}
    await until(lambda: first_two <= set(s3.keys(bucket, prefix)))
    # Mid-session: the closed files are up, byte for byte, with the timeline so far.
    assert rec.writer is not None and rec.writer.alive
    spool = tmp_path / "spool" / "s"
    stored = s3.get(bucket, f"{prefix}recording-000.webm")
    assert stored == (spool / "recording-000.webm").read_bytes()
    await until(lambda: f"{prefix}timeline.jsonl" in s3.keys(bucket, prefix))
    assert b'"file_started"' in s3.get(bucket, f"{prefix}timeline.jsonl")
    # Over the (tiny) multipart threshold: uploaded in parts.
    head = s3.client().head_object(Bucket=bucket, Key=f"{prefix}recording-000.webm")
    assert head["ETag"].strip('"').endswith("-1")

    await hand(rec, items[len(early) :])
    await rec.stop()
    keys = s3.keys(bucket, prefix)
    media = sorted(k for k in keys if k.endswith(".webm"))
    assert len(media) == 4
    assert {f"{prefix}{n}" for n in ("timeline.jsonl", "summary.json", "speakers.png")} <= set(keys)
    # Nothing else but the session's claim (a named session folder: see upload.py).
    names = {k.rsplit("/", 1)[1] for k in keys}
    assert names - {m.rsplit("/", 1)[1] for m in media} == {
        "timeline.jsonl",
        "summary.json",
        "speakers.png",
        ".owner",
    }
    for key in media:  # every object is the spool's file
        assert keys[key] == (spool / key.rsplit("/", 1)[1]).stat().st_size
    summary = json.loads(s3.get(bucket, f"{prefix}summary.json"))
    assert summary["storage"]["location"] == f"s3://{bucket}/calls/s/"
    assert summary["storage"]["not_uploaded"] == [] and summary["error"] is None
    assert set(summary["storage"]["uploaded"]) >= {k.rsplit("/", 1)[1] for k in media}
    assert s3.get(bucket, f"{prefix}timeline.jsonl") == (spool / "timeline.jsonl").read_bytes()
    # Downloaded, it plays: VP8 + Opus, the segment's length.
    copy = tmp_path / "copy.webm"
    copy.write_bytes(s3.get(bucket, media[1]))
    probe = ffprobe(copy)
    assert {s["codec_name"] for s in probe["streams"]} == {"vp8", "opus"}
    assert 0.8 <= float(probe["format"]["duration"]) <= 1.3
    assert rec.location == f"s3://{bucket}/calls/s/"


async def test_a_large_file_goes_up_in_parts(s3: LocalS3, tmp_path: Path) -> None:
    bucket = new_bucket(s3)
    settings = S3Storage.model_validate(
        storage(s3, bucket, multipart_threshold=5 << 20, multipart_chunk_size=5 << 20)
    )
    folder = tmp_path / "s"
    folder.mkdir()
    data = bytes(range(256)) * (11 * 4096)  # 11 MiB: 3 parts of at least 5 MiB
    (folder / "recording-000.webm").write_bytes(data)
    up = Uploader(open_store(settings, read_credentials(settings)), settings, folder)
    up.open(continuing=False)
    up.add("recording-000.webm")
    doc, _ = await asyncio.to_thread(up.finish, {"error": None})
    assert up.join(5)
    up.store.close()
    head = s3.client().head_object(Bucket=bucket, Key="s/recording-000.webm")
    assert head["ETag"].strip('"').endswith("-3")
    assert s3.get(bucket, "s/recording-000.webm") == data
    assert doc["storage"]["uploaded"] == ["recording-000.webm"]
    assert json.loads(s3.get(bucket, "s/summary.json"))["storage"]["not_uploaded"] == []


def uploader(s3: LocalS3 | FaultProxy, bucket: str, folder: Path, **extra: Any) -> Uploader:
    settings = S3Storage.model_validate(storage(s3, bucket, **extra))
    errors: list[StorageError] = []
    up = Uploader(
        open_store(settings, read_credentials(settings)), settings, folder, on_error=errors.append
    )
    up.errors = errors  # type: ignore[attr-defined]
    return up


async def test_transient_errors_are_retried_with_backoff(
    s3: LocalS3, proxy: FaultProxy, tmp_path: Path
) -> None:
    bucket = new_bucket(s3)
    folder = tmp_path / "s"
    folder.mkdir()
    (folder / "recording-000.webm").write_bytes(b"x" * 50_000)
    up = uploader(proxy, bucket, folder, request_attempts=1)
    up.open(continuing=False)
    proxy.fail(2, "PUT")  # two 500s: the file goes up at the third try
    started = time.monotonic()
    up.add_final("recording-000.webm")
    doc, _ = await asyncio.to_thread(up.finish, {"error": None})
    up.store.close()
    assert proxy.failed == 2 and up.status.retries == 2
    assert time.monotonic() - started >= 0.5 * 0.8 + 1.0 * 0.8  # the backoff: 0.5 s, 1 s
    assert doc["storage"]["not_uploaded"] == [] and up.errors == []  # type: ignore[attr-defined]
    assert s3.get(bucket, "s/recording-000.webm") == b"x" * 50_000


async def test_the_library_retries_a_lone_failed_request_itself(
    s3: LocalS3, proxy: FaultProxy, tmp_path: Path
) -> None:
    bucket = new_bucket(s3)
    folder = tmp_path / "s"
    folder.mkdir()
    (folder / "recording-000.webm").write_bytes(b"y" * 1000)
    up = uploader(proxy, bucket, folder)  # request_attempts = 3
    up.open(continuing=False)
    proxy.fail(1, "PUT")
    up.add_final("recording-000.webm")
    await asyncio.to_thread(up.finish, {"error": None})
    up.store.close()
    assert proxy.failed == 1 and up.status.retries == 0
    assert "s/recording-000.webm" in s3.keys(bucket)


async def test_an_outage_longer_than_the_budget_fails_once_and_keeps_the_spool(
    s3: LocalS3, proxy: FaultProxy, tmp_path: Path
) -> None:
    bucket = new_bucket(s3)
    folder = tmp_path / "s"
    folder.mkdir()
    (folder / "recording-000.webm").write_bytes(b"z" * 1000)
    up = uploader(proxy, bucket, folder, request_attempts=1, upload_attempts=2)
    up.open(continuing=False)
    proxy.fail(1000, "PUT")
    up.add_final("recording-000.webm")
    doc, path = await asyncio.to_thread(up.finish, {"error": None})
    up.store.close()
    why = (
        f"uploading recording-000.webm to s3://{bucket}/s/recording-000.webm: We encountered "
        "an internal error. Please try again. (InternalError) (after 2 tries)"
    )
    assert [str(e) for e in up.errors] == [why]  # type: ignore[attr-defined]
    assert doc["storage"]["error"] == why == doc["error"]
    assert doc["storage"]["not_uploaded"] == ["recording-000.webm", "summary.json"]
    assert path == folder / "summary.json"
    assert json.loads(path.read_text())["storage"]["not_uploaded"] == doc["storage"]["not_uploaded"]
    assert (folder / "recording-000.webm").read_bytes() == b"z" * 1000


async def test_refused_uploads_mid_session_fail_the_recording_with_the_spool_kept(
    s3: LocalS3, proxy: FaultProxy, tmp_path: Path
) -> None:
    bucket = new_bucket(s3)
    rec = recorder(tmp_path, proxy, bucket, segment_seconds=1.0)
    items = clip(3.0)
    await rec.start()
    early = [i for i in items if not isinstance(i, EncodedFrame) or i.arrival < T0 + 1.5]
    await hand(rec, early)
    # The first file is up, and the timeline after it: nothing more until the next file.
    first = {"calls/s/recording-000.webm", "calls/s/timeline.jsonl"}
    await until(lambda: first <= set(s3.keys(bucket)))
    proxy.fail(1000, "PUT", status=403)  # the credentials were revoked
    await hand(rec, items[len(early) :])
    await until(lambda: rec.error is not None)
    await rec.stop()
    ctx = rec.context
    assert isinstance(ctx, Context)
    why = (
        f"uploading recording-001.webm to s3://{bucket}/calls/s/recording-001.webm: "
        "Access Denied (AccessDenied)"
    )
    assert ctx.failures == [(FailureReason.STORAGE, why)]
    spool = tmp_path / "spool" / "s"
    summary = json.loads((spool / "summary.json").read_text())
    assert summary["error"] == why
    assert "recording-001.webm" in summary["storage"]["not_uploaded"]
    assert "summary.json" in summary["storage"]["not_uploaded"]
    assert summary["storage"]["uploaded"] == ["recording-000.webm"]
    for f in summary["files"]:  # the spool plays
        assert float(ffprobe(spool / f["file"])["format"]["duration"]) > 0.3
    assert SECRET not in json.dumps(summary)


async def test_delete_uploaded_empties_the_spool_once_everything_is_up(
    s3: LocalS3, tmp_path: Path
) -> None:
    bucket = new_bucket(s3)
    rec = recorder(tmp_path, s3, bucket, segment_seconds=1.0, storage={"delete_uploaded": True})
    await rec.start()
    await hand(rec, clip(2.5))
    await rec.stop()
    assert not (tmp_path / "spool" / "s").exists()
    assert rec.summary_path is None
    keys = s3.keys(bucket, "calls/s/")
    assert len([k for k in keys if k.endswith(".webm")]) == 3
    assert "calls/s/summary.json" in keys


# -- before the session -------------------------------------------------------------------


async def test_a_missing_bucket_fails_before_joining(s3: LocalS3, tmp_path: Path) -> None:
    rec = recorder(tmp_path, s3, "no-such-bucket")
    with pytest.raises(StorageError) as raised:
        await rec.prepare()
    why = f"recorder storage s3://no-such-bucket/calls/ at {s3.url}: no such bucket (404)"
    assert str(raised.value) == why
    assert rec.context.failures == [(FailureReason.STORAGE, why)]  # type: ignore[attr-defined]
    assert not (tmp_path / "spool").exists()


async def test_an_unset_credential_variable_is_a_config_failure(
    s3: LocalS3, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PEXBOT_SECRET_S3_KEY")
    rec = recorder(tmp_path, s3, new_bucket(s3))
    await rec.prepare()
    assert rec.context.failures == [  # type: ignore[attr-defined]
        (
            FailureReason.CONFIG,
            "recorder: storage.secret_access_key_env: "
            "environment variable PEXBOT_SECRET_S3_KEY is not set",
        )
    ]


def test_credentials_from_files(tmp_path: Path) -> None:
    (tmp_path / "id").write_text("AKIAFROMFILE\n")
    (tmp_path / "key").write_text("secret-from-file\n")
    settings = S3Storage(
        kind="s3",
        bucket="rec",
        access_key_id_file=str(tmp_path / "id"),
        secret_access_key_file=str(tmp_path / "key"),
    )
    creds = read_credentials(settings)
    assert (creds.access_key_id, creds.secret_access_key) == ("AKIAFROMFILE", "secret-from-file")
    missing = settings.model_copy(update={"secret_access_key_file": str(tmp_path / "nope")})
    with pytest.raises(ValueError, match=r"storage.secret_access_key_file: cannot read .*nope"):
        read_credentials(missing)


@pytest.mark.parametrize(
    ("storage_config", "problem"),
    [
        ({"kind": "s3"}, "storage.s3.bucket: Field required"),
        ({"kind": "gcs"}, "storage: Input tag 'gcs' found using 'kind' does not match"),
        ({"kind": "s3", "bucket": "Bad_Bucket"}, "storage.s3.bucket: Value error, must be 3"),
        ({"kind": "s3", "bucket": "rec", "endpoint_url": "minio:9000"}, "must be an http://"),
        ({"kind": "s3", "bucket": "rec", "access_key_id_env": "K"}, "come together"),
        ({"kind": "s3", "bucket": "rec", "prefix": "a//b"}, "storage.s3.prefix: Value error"),
        ({"kind": "s3", "bucket": "rec", "multipart_chunk_size": 1000}, "multipart_chunk_size"),
        (
            {
                "kind": "s3",
                "bucket": "rec",
                "access_key_id_env": "K",
                "access_key_id_file": "k",
                "secret_access_key_env": "S",
            },
            "give access_key_id_env or access_key_id_file, not both",
        ),
        ({"kind": "local", "bucket": "rec"}, "storage.local.bucket: Extra inputs"),
    ],
)
def test_bad_storage_settings_name_the_field(storage_config: dict[str, Any], problem: str) -> None:
    with pytest.raises(ValidationError) as raised:
        RecorderConfig.model_validate({"storage": storage_config})
    text = "; ".join(
        f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in raised.value.errors()
    )
    assert problem in text


def test_local_is_the_default_and_prefixes_are_normalized() -> None:
    assert RecorderConfig().storage.kind == "local"
    cfg = RecorderConfig.model_validate(
        {"storage": {"kind": "s3", "bucket": "rec", "prefix": "/a/b"}}
    )
    assert isinstance(cfg.storage, S3Storage) and cfg.storage.prefix == "a/b/"


def test_the_readme_example_is_a_valid_config() -> None:
    import tomllib

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme.split("### Store recordings in S3-compatible object storage", 1)[1]
    example = section.split("```toml\n", 1)[1].split("```", 1)[0]
    (plugin,) = tomllib.loads(example)["plugins"]
    cfg = RecorderConfig.model_validate(plugin["config"])
    assert isinstance(cfg.storage, S3Storage) and cfg.storage.prefix == "pexbot/"
