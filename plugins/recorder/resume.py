"""Continuing a session another process started (`continue_session`): what is already in
the session folder, and which process writes it now.

A service job taken over by another worker (its first worker died or drained) records
into the same folder. The new process needs: the timeline's axis (the wall-clock time of
`t = 0`, from any line: `utc - t`), the files so far (their numbering goes on), the
earlier lines (for the summary's talk times), and the last trace of the earlier process
(its last timeline line or file write): the resume gap starts there.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


@dataclass
class EarlierSession:
    #: Wall-clock time of the timeline's t = 0 (None: the earlier process wrote no line).
    origin_utc: float | None
    #: Wall-clock time of the earlier process's last trace in the folder.
    last_utc: float
    #: Summary entries of its media files (start on the timeline axis, estimated end).
    files: list[dict[str, Any]] = field(default_factory=list)
    presentation_files: int = 0
    lines: list[dict[str, Any]] = field(default_factory=list)


def _numbered(folder: Path, prefix: str) -> list[Path]:
    pattern = re.compile(rf"^{re.escape(prefix)}-(\d{{3,}})\.\w+$")
    found = [(int(m.group(1)), p) for p in folder.iterdir() if (m := pattern.match(p.name))]
    return [p for _, p in sorted(found)]


def _lines(path: Path) -> list[dict[str, Any]]:
    lines: list[dict[str, Any]] = []
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return lines
    for raw in text.splitlines():
        try:
            line = json.loads(raw)
        except ValueError:
            continue  # a line cut short by a kill
        if isinstance(line, dict) and "t" in line and "utc" in line:
            lines.append(line)
    return lines


def _utc(line: dict[str, Any]) -> float:
    return datetime.fromisoformat(str(line["utc"])).timestamp()


def scan(folder: Path, file_prefix: str, presentation_prefix: str) -> EarlierSession | None:
    """What an earlier process left in `folder`; None when it left nothing."""
    if not folder.is_dir():
        return None
    media = _numbered(folder, file_prefix)
    slides = _numbered(folder, presentation_prefix)
    lines = _lines(folder / "timeline.jsonl")
    if not media and not slides and not lines:
        return None
    origin = _utc(lines[0]) - float(lines[0]["t"]) if lines else None
    traces = [p.stat().st_mtime for p in media + slides]
    traces += [_utc(line) for line in lines[-1:]]
    last = max(traces)
    starts = {ln.get("file"): float(ln["t"]) for ln in lines if ln.get("type") == "file_started"}
    files = []
    for path in media:
        start = starts.get(path.name, 0.0)
        entry: dict[str, Any] = {"file": path.name, "start": start, "earlier": True}
        entry["bytes"] = path.stat().st_size
        if origin is not None:
            entry["end_ms"] = max(round((path.stat().st_mtime - origin - start) * 1000), 0)
        files.append(entry)
    log.info("continuing the session in %s (%d earlier files)", folder, len(media))
    return EarlierSession(origin, last, files, len(slides), lines)


class FolderClaim:
    """The newest process to start on a named session folder writes it (`.owner`).

    An older one that comes back (it was frozen while its job was taken over) finds the
    claim gone and stops writing there: it closes its own file and adds no timeline line,
    file or summary into the session its successor is recording."""

    FILE = ".owner"
    #: Seconds between two reads of the claim (the writer asks on every item).
    EVERY = 0.5

    def __init__(self, folder: Path) -> None:
        self.path = folder / self.FILE
        self.token = secrets.token_hex(8)
        self._lost = False
        self._checked = float("-inf")

    def take(self) -> None:
        try:
            self.path.write_text(self.token)
        except OSError as exc:
            log.warning("cannot claim %s: %s", self.path.parent, exc)

    def lost(self, *, now: bool = False) -> bool:
        if self._lost:
            return True
        t = time.monotonic()
        if not now and t - self._checked < self.EVERY:
            return False
        self._checked = t
        try:
            held = self.path.read_text()
        except OSError:
            return False
        if held != self.token:
            self._lost = True
            log.warning("%s is being recorded by another process now", self.path.parent)
        return self._lost
