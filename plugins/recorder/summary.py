"""`summary.json`, written when a session closes."""

from __future__ import annotations

import contextlib
import json
import logging
import tempfile
from pathlib import Path
from typing import Any

from .storage import StorageError, failed
from .timeline import Timeline

log = logging.getLogger(__name__)


def summary(timeline: Timeline, end: float, extra: dict[str, Any]) -> dict[str, Any]:
    t = timeline.t
    people = [
        {
            "uuid": p.uuid,
            "name": p.name,
            "role": p.role,
            "joined": None if p.joined is None else t(p.joined),
            "left": None if p.left is None else t(p.left),
            "talk_time": round(p.talk_time, 3),
            "talk": [[t(a), t(b)] for a, b in p.talk],
        }
        for p in timeline.people.values()
    ]
    return {
        **extra,
        "participants": people,
        "talk_time": {p["name"] or p["uuid"]: p["talk_time"] for p in people},
        "chat_messages": len(timeline.chats),
        "presentations": [
            [t(a) if a is not None else None, t(b) if b is not None else None]
            for a, b in timeline.presentations
        ],
        "event_gaps": [{**g, "start": t(g["start"]), "end": t(g["end"])} for g in timeline.gaps],
        "timeline_lines": timeline.lines,
    }


def write_json(path: Path, doc: dict[str, Any]) -> None:
    """Write `doc` whole or not at all (through a temporary file, removed on failure)."""
    tmp = path.with_suffix(".tmp")
    try:
        tmp.write_text(json.dumps(doc, indent=2, default=str) + "\n", encoding="utf-8")
        tmp.replace(path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise failed(f"writing {path}", exc) from exc


def save_summary(folder: Path, doc: dict[str, Any]) -> Path | None:
    """`summary.json` in `folder`; when that fails (a full disk), in the system's temporary
    folder, saying where. Returns where it went (None: nowhere; said why)."""
    path = folder / "summary.json"
    try:
        write_json(path, doc)
        return path
    except StorageError as exc:
        problem = exc
    fallback = Path(tempfile.gettempdir()) / f"pexbot-{folder.name}-summary.json"
    try:
        write_json(fallback, doc)
    except StorageError:
        log.error("summary.json not written: %s", problem)
        return None
    log.error("summary.json written to %s instead: %s", fallback, problem)
    return fallback
