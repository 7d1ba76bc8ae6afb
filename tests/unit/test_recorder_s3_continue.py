"""A session recorded to S3 and continued by another process (a service job taken over):
on another machine (another spool), the new files land in the same session prefix and the
timeline and summary uploaded at the end cover the whole session (the killed process's
open file, lost with its machine, is listed as lost); on the same machine, that file goes
up too."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.media.clips import feed, opus_clip
from plugins.recorder import Recorder, RecorderConfig
from tests.support.recording import ffprobe
from tests.support.s3 import CREDENTIALS_ENV, LocalS3, local_s3, storage

pytestmark = pytest.mark.skipif(shutil.which("ffprobe") is None, reason="needs ffprobe")

ROOT = Path(__file__).resolve().parents[2]

#: The first process: 3 s of paced audio in 1 s files, then it waits to be killed.
CHILD = textwrap.dedent(
    """
    import asyncio, json, sys, time
    from agent.media.clips import feed, opus_clip
    from plugins.recorder import Recorder, RecorderConfig

    async def main():
        cfg = RecorderConfig.model_validate(json.loads(sys.argv[1]))
        rec = Recorder(None, cfg, alias="meet")
        await rec.start()
        for f in feed([opus_clip(3.0)], time.monotonic()):
            await asyncio.sleep(max(f.arrival - time.monotonic(), 0))
            await rec.handle(f)
        await rec.flush()
        print("READY", flush=True)
        await asyncio.sleep(600)

    asyncio.run(main())
    """
)


@pytest.fixture(scope="module")
def s3() -> Iterator[LocalS3]:
    with local_s3() as server:
        yield server


def config(spool: Path, s3: LocalS3, bucket: str, *, resume: bool) -> RecorderConfig:
    return RecorderConfig(
        output_dir=str(spool),
        session_folder="job-1",
        audio_only=True,
        cluster_ms=200,
        segment_seconds=1.0,
        continue_session=resume,
        storage=storage(s3, bucket, prefix="rec"),
    )


async def until(check: object, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.1)


@pytest.mark.parametrize("same_machine", [False, True], ids=["elsewhere", "same-machine"])
async def test_a_session_continued_after_a_kill_is_whole_in_the_store(
    s3: LocalS3, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, same_machine: bool
) -> None:
    for name, value in CREDENTIALS_ENV.items():
        monkeypatch.setenv(name, value)
    bucket = s3.bucket(f"cont-{int(same_machine)}")
    first_spool = tmp_path / "machine-a"
    second_spool = first_spool if same_machine else tmp_path / "machine-b"
    cfg = config(first_spool, s3, bucket, resume=False)
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-c", CHILD, cfg.model_dump_json(),
        cwd=ROOT, stdout=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    prefix = "rec/job-1/"
    try:
        assert child.stdout is not None
        assert (await asyncio.wait_for(child.stdout.readline(), 60)).strip() == b"READY"
        # Two files closed and up, the timeline after them (naming the open third file).
        await until(
            lambda: (
                f"{prefix}recording-001.webm" in s3.keys(bucket, prefix)
                and b"recording-002.webm" in s3.get(bucket, f"{prefix}timeline.jsonl")
            )
        )
    finally:
        child.send_signal(signal.SIGKILL)
        await child.wait()

    def media_keys() -> list[str]:
        return sorted(k.rsplit("/", 1)[1] for k in s3.keys(bucket, prefix) if k.endswith(".webm"))

    uploaded = media_keys()  # by the killed process: its closed files
    spool = sorted(p.name for p in (first_spool / "job-1").glob("*.webm"))
    open_file = [n for n in spool if n not in uploaded]
    assert len(uploaded) >= 2 and len(open_file) == 1

    rec = Recorder(None, config(second_spool, s3, bucket, resume=True), alias="meet")
    await rec.start()
    for f in feed([opus_clip(1.5)], time.monotonic()):
        await asyncio.sleep(max(f.arrival - time.monotonic(), 0))
        await rec.handle(f)
    await rec.stop()

    n = len(spool)
    new = [f"recording-{i:03d}.webm" for i in (n, n + 1)]  # 1.5 s: two files
    # Elsewhere, the file the killed process had open is lost with its machine (listed as
    # lost; its number is not taken again); on the same machine it goes up now.
    assert media_keys() == uploaded + (open_file if same_machine else []) + new
    lines = [json.loads(x) for x in s3.get(bucket, f"{prefix}timeline.jsonl").splitlines()]
    started = [x["file"] for x in lines if x["type"] == "file_started"]
    assert started == spool + new  # both processes' files on one timeline
    assert [x["kind"] for x in lines if x["type"] == "gap"] == ["resume"]
    origins = {round(_utc(x) - x["t"], 1) for x in lines}
    assert len(origins) == 1  # one time axis
    summary = json.loads(s3.get(bucket, f"{prefix}summary.json"))
    assert [f["file"] for f in summary["files"]] == spool + new
    lost = [f["file"] for f in summary["files"] if f.get("lost")]
    assert lost == ([] if same_machine else open_file)
    assert summary["storage"]["not_uploaded"] == []
    assert summary["timeline_lines"] == len(lines)
    if same_machine:  # the killed process's file went up as it was left
        (name,) = open_file
        assert s3.get(bucket, f"{prefix}{name}") == (first_spool / "job-1" / name).read_bytes()
    copy = tmp_path / "copy.webm"  # what landed plays
    copy.write_bytes(s3.get(bucket, f"{prefix}{new[0]}"))
    assert float(ffprobe(copy)["format"]["duration"]) > 0.8


def _utc(line: dict[str, object]) -> float:
    from datetime import datetime

    return datetime.fromisoformat(str(line["utc"])).timestamp()
