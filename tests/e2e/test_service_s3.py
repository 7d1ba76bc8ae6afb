"""A `pexbot serve` job carries the recorder's S3 storage settings: the worker records the
meeting on the local node into the local S3 endpoint, under the job's id, and the API
lists where it went; the credentials travel as environment variable names only."""

from __future__ import annotations

import asyncio
import json
import shutil
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from agent.config import parse_config
from agent.node import LocalNode
from agent.runtime.bot import Bot
from tests.e2e.service_harness import Process, spawn
from tests.support.recording import ffprobe
from tests.support.s3 import CREDENTIALS_ENV, KEY_ID, SECRET, LocalS3, local_s3, storage

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(shutil.which("ffprobe") is None, reason="needs ffprobe"),
]

KEY = "serve-s3-key-0123456789"


@pytest.fixture(scope="module")
def s3() -> Iterator[LocalS3]:
    with local_s3() as server:
        yield server


async def _url(proc: Process) -> str:
    for _ in range(600):
        first = proc.text().split("\n", 1)[0]
        if first.startswith("http://"):
            return first.strip()
        await asyncio.sleep(0.05)
    raise AssertionError(proc.text())


async def test_a_job_records_into_object_storage(s3: LocalS3, tmp_path: Path) -> None:
    bucket = s3.bucket("jobs")
    proc: Process | None = None
    async with LocalNode() as node, aiohttp.ClientSession() as http:
        talker = Bot(
            parse_config(
                {
                    "node": node.base_url,
                    "alias": "meet",
                    "display_name": "Talker",
                    "media": {"audio": "tone:440", "receive_audio": False},
                    "leave": {"alone_seconds": None},
                }
            )
        )
        talking = asyncio.create_task(talker.run())
        try:
            proc = await spawn(
                ["serve", "--port", "0", "--capacity", "1", "--output-dir", str(tmp_path)],
                tmp_path / "serve.log",
                env={"PEXBOT_API_KEYS": KEY, **CREDENTIALS_ENV},
            )
            url = await _url(proc)
            auth = {"Authorization": f"Bearer {KEY}"}
            config = {
                "audio_only": True,
                "segment_seconds": 1.5,
                "storage": storage(s3, bucket, prefix="pexbot"),
            }
            body = {
                "meeting": {"node": node.base_url, "alias": "meet", "display_name": "Rec"},
                "plugins": [{"name": "recorder", "config": config}],
                "leave": {"duration": 4},
            }
            async with http.post(f"{url}/v1/bots", json=body, headers=auth) as r:
                assert r.status == 201, await r.text()
                bot_id = (await r.json())["id"]
            bot: dict[str, Any] = {}
            for _ in range(300):
                async with http.get(f"{url}/v1/bots/{bot_id}", headers=auth) as r:
                    bot = await r.json()
                if bot["state"] in ("left", "failed"):
                    break
                await asyncio.sleep(0.1)
            assert (bot["state"], bot["exit_code"]) == ("left", 0), bot
            location = f"s3://{bucket}/pexbot/{bot_id}/"
            assert {"plugin": "recorder", "kind": "object_storage", "path": location} in bot[
                "artifacts"
            ]
            proc.signal(signal.SIGTERM)
            assert await proc.wait(20) == 0
        finally:
            talker.request_leave()
            await asyncio.wait_for(talking, 20)
            if proc is not None:
                await proc.stop()
    keys = s3.keys(bucket, f"pexbot/{bot_id}/")
    media = sorted(k for k in keys if k.endswith(".webm"))
    assert len(media) >= 2
    summary = json.loads(s3.get(bucket, f"pexbot/{bot_id}/summary.json"))
    assert summary["storage"]["location"] == location
    assert summary["storage"]["not_uploaded"] == []
    copy = tmp_path / "copy.webm"
    copy.write_bytes(s3.get(bucket, media[0]))
    assert float(ffprobe(copy)["format"]["duration"]) > 1.0
    log = proc.text()
    assert SECRET not in log and KEY_ID not in log and KEY not in log
