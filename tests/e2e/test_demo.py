"""`pexbot demo` in miniature: it must end cleanly and say where a real recording went."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

from agent.demo import run_demo


async def test_demo_records_two_talkers(tmp_path: Path) -> None:
    out = io.StringIO()
    assert await run_demo(seconds=5.0, output_dir=str(tmp_path), out=out) == 0
    text = out.getvalue()
    assert "Alice joined" in text and "Bob joined" in text
    assert "chat from Bob: Hello from Bob!" in text
    match = re.search(r"recording: (.+)/\n", text)
    assert match, text
    folder = Path(match.group(1))
    assert (folder / "recording-000.webm").stat().st_size > 10_000
    summary = json.loads((folder / "summary.json").read_text())
    assert set(summary["talk_time"]) >= {"Alice", "Bob"}
