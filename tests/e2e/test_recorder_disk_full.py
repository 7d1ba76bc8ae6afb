"""`pexbot run` with the recorder on a disk that fills up (issue 12, point 10), as a user meets
it: exit 22 with one line, one error line in the log and no traceback, and in the session
folder what was written, `summary.json` and the failure on the timeline."""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from agent.config import parse_config
from agent.media.clips import RATE
from agent.node import LocalNode
from agent.runtime.bot import Bot
from tests.support.full_disk import fill, small_filesystem
from tests.support.pexbot_cmd import pexbot
from tests.support.recording import decode_audio

from .conftest import fast_config

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(shutil.which("ffprobe") is None, reason="needs ffprobe"),
]

RESERVE = 256 * 1024


@pytest.fixture
async def node() -> AsyncIterator[LocalNode]:
    config = fast_config(media={"video_width": 320, "video_height": 240, "video_fps": 10})
    async with LocalNode(config) as n:
        yield n


async def test_pexbot_recording_onto_a_disk_that_fills_up(node: LocalNode, tmp_path: Path) -> None:
    talker = Bot(
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
            }
        )
    )
    talking = asyncio.create_task(talker.run())
    try:
        with small_filesystem(tmp_path / "disk", 1 << 20) as disk:
            fill(disk, leave=RESERVE + 48 * 1024)  # a few seconds of media
            ran = await pexbot(
                "run", "--node", node.base_url, "--alias", "meet", "--name", "Rec",
                "--audio", "none", "--duration", "60",
                "--plugin", "recorder",
                "--plugin-config", f"recorder.output_dir={disk}",
                "--plugin-config", "recorder.session_folder=s",
                "--plugin-config", f"recorder.reserve_bytes={RESERVE}",
                timeout=90,
            )  # fmt: skip
            folder = disk / "s"
            error = f"writing {folder / 'recording-000.webm'} failed: No space left on device"
            assert ran.code == 22, ran.err
            assert ran.last_line == f"pexbot: failed (storage): {error}"
            assert "Traceback" not in ran.err
            errors = [line for line in ran.err.splitlines() if " ERROR " in line]
            assert len(errors) == 1 and errors[0].endswith(
                f"recording failed: {error} (what was written is kept)"
            )
            # What reached the disk plays (its last cluster may be cut short).
            samples, _ = decode_audio(folder / "recording-000.webm")
            assert len(samples) / RATE > 0.5
            timeline = (folder / "timeline.jsonl").read_text().splitlines()
            failed = [json.loads(line) for line in timeline if "recording_failed" in line]
            assert [line["error"] for line in failed] == [error]
            assert json.loads((folder / "summary.json").read_text())["error"] == error
            assert not (folder / "summary.tmp").exists()
    finally:
        talker.request_leave()
        await asyncio.wait_for(talking, 20)
