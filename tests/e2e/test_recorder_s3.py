"""`pexbot run` with the recorder's S3 storage, as a user meets it: a meeting on the local
node recorded into a local S3 endpoint (moto's server on 127.0.0.1) and read back playable;
bad settings, an unset credential, a missing bucket and uploads refused mid-meeting, each
one line with its exit code, no traceback, no secret, the spool kept; and a recording bot
that stores locally never imports the S3 library."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sys
import textwrap
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from agent.config import parse_config
from agent.media.analysis import has_tone
from agent.media.clips import RATE
from agent.node import LocalNode
from agent.runtime.bot import Bot
from tests.support.pexbot_cmd import REPO, Ran, pexbot
from tests.support.recording import decode_audio, ffprobe
from tests.support.s3 import (
    CREDENTIALS_ENV,
    KEY_ID,
    SECRET,
    LocalS3,
    fault_proxy,
    local_s3,
)

from .conftest import fast_config

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(shutil.which("ffprobe") is None, reason="needs ffprobe"),
]


@pytest.fixture(scope="module")
def s3() -> Iterator[LocalS3]:
    with local_s3() as server:
        yield server


@pytest.fixture
async def node() -> AsyncIterator[LocalNode]:
    config = fast_config(media={"video_width": 320, "video_height": 240, "video_fps": 10})
    async with LocalNode(config) as n:
        yield n


@pytest.fixture
async def talker(node: LocalNode) -> AsyncIterator[Bot]:
    bot = Bot(
        parse_config(
            {
                "node": node.base_url,
                "alias": "meet",
                "display_name": "Talker",
                "media": {
                    "audio": "tone:440",
                    "video": "pattern",
                    "receive_audio": False,
                    "receive_video": False,
                    "ice_host_addresses": ["127.0.0.1"],
                },
                "leave": {"alone_seconds": None},
            }
        )
    )
    task = asyncio.create_task(bot.run())
    try:
        yield bot
    finally:
        bot.request_leave()
        await asyncio.wait_for(task, 20)


def s3_flags(url: str, bucket: str, *extra: str) -> list[str]:
    settings = {
        "kind": '"s3"',
        "endpoint_url": f'"{url}"',
        "bucket": f'"{bucket}"',
        "prefix": '"meetings"',
        "region": '"us-east-1"',
        "addressing_style": '"path"',
        "access_key_id_env": '"PEXBOT_SECRET_S3_KEY_ID"',
        "secret_access_key_env": '"PEXBOT_SECRET_S3_KEY"',
    }
    flags = ["--plugin", "recorder"]
    for key, value in settings.items():
        flags += ["--plugin-config", f"recorder.storage.{key}={value}"]
    for setting in extra:
        flags += ["--plugin-config", f"recorder.{setting}"]
    return flags


def no_secret(ran: Ran, *files: Path) -> None:
    for text in (ran.out, ran.err, *(f.read_text() for f in files)):
        assert SECRET not in text and KEY_ID not in text


async def recorder(node: LocalNode, *flags: str, seconds: float = 6) -> Ran:
    return await pexbot(
        "run", "--node", node.base_url, "--alias", "meet", "--name", "Rec",
        "--audio", "none", "--duration", str(seconds), *flags,
        env=CREDENTIALS_ENV, timeout=120,
    )  # fmt: skip


async def test_a_meeting_lands_in_s3_and_plays_back(
    node: LocalNode, talker: Bot, s3: LocalS3, tmp_path: Path
) -> None:
    bucket = s3.bucket("meetings-e2e")
    flags = s3_flags(s3.url, bucket, f"output_dir={tmp_path}", "session_folder=m1",
                     "segment_seconds=2")  # fmt: skip
    ran = await recorder(node, *flags)
    assert ran.code == 0, ran.err
    assert "Traceback" not in ran.err
    keys = s3.keys(bucket, "meetings/m1/")
    media = sorted(k for k in keys if k.endswith(".webm"))
    assert len(media) >= 2
    assert {"meetings/m1/timeline.jsonl", "meetings/m1/summary.json"} <= set(keys)
    assert "meetings/m1/speakers.png" in keys
    summary = json.loads(s3.get(bucket, "meetings/m1/summary.json"))
    assert summary["storage"]["location"] == f"s3://{bucket}/meetings/m1/"
    assert summary["storage"]["not_uploaded"] == [] and summary["error"] is None
    assert [f"meetings/m1/{f['file']}" for f in summary["files"]] == media
    # Read back from the store: Opus + VP8 that decode, the talker's tone in it.
    copy = tmp_path / "copy.webm"
    copy.write_bytes(s3.get(bucket, media[0]))
    probe = ffprobe(copy)
    assert {s["codec_name"] for s in probe["streams"]} == {"opus", "vp8"}
    samples, _ = decode_audio(copy)
    assert len(samples) / RATE > 1.0 and has_tone(samples, 440.0, sample_rate=RATE)
    assert f"s3://{bucket}/meetings/m1/" in ran.err  # the log says where it went
    no_secret(ran, tmp_path / "m1" / "summary.json", tmp_path / "m1" / "timeline.jsonl")


async def test_bad_storage_settings_are_one_line_and_exit_2() -> None:
    ran = await pexbot(
        "run", "--node", "http://127.0.0.1:9", "--alias", "meet", "--plugin", "recorder",
        "--plugin-config", 'recorder.storage.kind="s3"',
    )  # fmt: skip
    assert ran.code == 2
    assert ran.only_line == (
        "pexbot: invalid configuration: command line: plugin recorder: invalid config: "
        "storage.s3.bucket: Field required"
    )
    ran = await pexbot(
        "run", "--node", "http://127.0.0.1:9", "--alias", "meet",
        *s3_flags("minio:9000", "rec"),
    )  # fmt: skip
    assert ran.code == 2
    assert ran.only_line == (
        "pexbot: invalid configuration: command line: plugin recorder: invalid config: "
        "storage.s3.endpoint_url: Value error, must be an http:// or https:// URL"
    )


async def test_an_unset_credential_variable_is_exit_2_before_joining(
    node: LocalNode, s3: LocalS3, tmp_path: Path
) -> None:
    ran = await pexbot(
        "run", "--node", node.base_url, "--alias", "meet", "--audio", "none",
        *s3_flags(s3.url, "whatever", f"output_dir={tmp_path}"),
        env={"PEXBOT_SECRET_S3_KEY_ID": KEY_ID, "PEXBOT_SECRET_S3_KEY": ""},
    )  # fmt: skip
    assert ran.code == 2
    assert ran.last_line == (
        "pexbot: failed (config): recorder: storage.secret_access_key_env: "
        "environment variable PEXBOT_SECRET_S3_KEY is not set"
    )
    assert list(tmp_path.iterdir()) == []  # the session folder is made on joining


async def test_a_missing_bucket_is_exit_22_before_joining(
    node: LocalNode, s3: LocalS3, tmp_path: Path
) -> None:
    ran = await recorder(node, *s3_flags(s3.url, "no-such-bucket", f"output_dir={tmp_path}"))
    assert ran.code == 22
    assert ran.last_line == (
        f"pexbot: failed (storage): recorder storage s3://no-such-bucket/meetings/ at {s3.url}: "
        "no such bucket (404)"
    )
    assert list(tmp_path.iterdir()) == []  # never joined: nothing recorded
    no_secret(ran)


async def test_uploads_refused_mid_meeting_fail_as_storage_and_keep_the_spool(
    node: LocalNode, talker: Bot, s3: LocalS3, tmp_path: Path
) -> None:
    bucket = s3.bucket("revoked")
    with fault_proxy(s3) as proxy:
        flags = s3_flags(proxy.url, bucket, f"output_dir={tmp_path}", "session_folder=m2",
                         "segment_seconds=1.5")  # fmt: skip
        run = asyncio.create_task(recorder(node, *flags, seconds=30))
        await until_key(s3, bucket, "meetings/m2/recording-000.webm", run)
        await until_key(s3, bucket, "meetings/m2/timeline.jsonl", run)
        proxy.fail(10_000, "PUT", status=403)  # the key was revoked
        ran = await asyncio.wait_for(run, 90)
    why = (
        f"uploading recording-001.webm to s3://{bucket}/meetings/m2/recording-001.webm: "
        "Access Denied (AccessDenied)"
    )
    assert ran.code == 22, ran.err
    assert ran.last_line == f"pexbot: failed (storage): {why}"
    errors = [line for line in ran.err.splitlines() if " ERROR " in line]
    assert len(errors) == 1 and why in errors[0]
    spool = tmp_path / "m2"
    summary = json.loads((spool / "summary.json").read_text())
    assert summary["error"] == why
    assert summary["storage"]["uploaded"] == ["recording-000.webm"]
    assert {"recording-001.webm", "summary.json", "timeline.jsonl"} <= set(
        summary["storage"]["not_uploaded"]
    )
    # Everything recorded is in the spool: the uploaded file and the refused one play.
    assert [f["file"] for f in summary["files"]][:2] == ["recording-000.webm", "recording-001.webm"]
    for entry in summary["files"][:2]:
        assert float(ffprobe(spool / entry["file"])["format"]["duration"]) > 1.0
    assert all((spool / f["file"]).exists() for f in summary["files"])
    no_secret(ran, spool / "summary.json", spool / "timeline.jsonl")


async def until_key(s3: LocalS3, bucket: str, key: str, run: asyncio.Task[Ran]) -> None:
    for _ in range(600):
        if key in s3.keys(bucket):
            return
        assert not run.done(), run.result().err
        await asyncio.sleep(0.05)
    raise AssertionError(f"{key} never landed")


# -- the lean process: no S3 library unless S3 is configured ----------------------------------

#: `pexbot run` as the console script runs it, printing at exit which S3 modules it loaded.
LEAN = textwrap.dedent(
    """
    import atexit, sys
    S3 = ("boto3", "botocore", "s3transfer", "plugins.recorder.s3")
    atexit.register(lambda: print("S3 MODULES", sorted(
        m for m in sys.modules if m in S3 or m.startswith(("boto3.", "botocore.")))))
    from agent.cli import main
    sys.argv = ["pexbot", *sys.argv[1:]]
    sys.exit(main())
    """
)


@pytest.mark.parametrize("kind", ["local", "s3"])
async def test_a_recording_bot_imports_the_s3_library_only_for_s3(
    node: LocalNode, talker: Bot, s3: LocalS3, tmp_path: Path, kind: str
) -> None:
    flags = ["--plugin", "recorder", "--plugin-config", f"recorder.output_dir={tmp_path}"]
    if kind == "s3":
        flags = s3_flags(s3.url, s3.bucket("lean"), f"output_dir={tmp_path}")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", LEAN, "run", "--node", node.base_url, "--alias", "meet",
        "--name", "Rec", "--audio", "none", "--duration", "3", *flags,
        cwd=REPO, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env={**os.environ, **CREDENTIALS_ENV},
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err.decode()
    assert list(tmp_path.glob("*/recording-000.webm"))  # it did record
    (line,) = [x for x in out.decode().splitlines() if x.startswith("S3 MODULES")]
    loaded = line.removeprefix("S3 MODULES ")
    if kind == "local":
        assert loaded == "[]"
    else:
        assert "'boto3'" in loaded and "'plugins.recorder.s3'" in loaded
