"""Continuing a session another process started (`continue_session`): what is already in
the session folder, and which process writes it now.

A service job taken over by another worker (its first worker died, froze or drained)
records into the same folder. The new process needs: the timeline's axis (the wall-clock
time of `t = 0`, from any line: `utc - t`), the files so far (their numbering goes on),
the earlier lines (for the summary's talk times), and the last trace of the earlier
process (its last timeline line or file write): the resume gap starts there.

With object storage, the session's files may be in the store and not in this machine's
spool (the earlier process ran elsewhere, or deleted what it had uploaded): `scan` takes the
store's list too (the uploader has already brought the timeline so far into the folder).

Everything here reads or writes files: it runs on the writer thread.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from .remote import RemoteFile

log = logging.getLogger(__name__)

#: Timeline line types that name a file as it starts (`file`), with its `t`.
_STARTED = ("file_started", "presentation_file_started")


@dataclass
class EarlierSession:
    """What earlier processes left in a session folder."""

    #: Wall-clock time of the timeline's t = 0 (None: no earlier timeline line survived).
    origin_utc: datetime | None
    #: Wall-clock time of the earlier process's last trace in the folder.
    last_utc: float
    #: Summary entries of the main and the presentation files (`start` on the timeline's
    #: axis, `"earlier": true`), in numbering order.
    files: list[dict[str, Any]] = field(default_factory=list)
    presentation_files: list[dict[str, Any]] = field(default_factory=list)
    #: Gaps of the main recording so far (the summary's `gaps`, on the timeline's axis).
    gaps: list[dict[str, Any]] = field(default_factory=list)
    #: The earlier timeline lines, as written.
    lines: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class _File:
    """A media file of the session: in the spool folder or only in the store."""

    name: str
    size: int
    mtime: float | None  # its last write (in the store: when it was uploaded)

    @property
    def lost(self) -> bool:
        """Only named on the timeline: it was being written on a machine that died before
        uploading it."""
        return self.mtime is None


def _numbered(folder: Path, prefix: str, remote: list[RemoteFile], named: list[str]) -> list[_File]:
    pattern = re.compile(rf"^{re.escape(prefix)}-(\d{{3,}})\.\w+$")
    found = {name: _File(name, 0, None) for name in named if pattern.match(name)}
    for f in remote:
        if pattern.match(f.name):
            found[f.name] = _File(f.name, f.size, f.modified.timestamp())
    for path in folder.iterdir():
        if pattern.match(path.name):  # the spool's copy is as long or longer, its time exact
            stat = path.stat()
            found[path.name] = _File(path.name, stat.st_size, stat.st_mtime)
    number = {name: int(m.group(1)) for name in found if (m := pattern.match(name))}
    return sorted(found.values(), key=lambda f: number[f.name])


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
        if isinstance(line, dict) and "type" in line and "t" in line and "utc" in line:
            lines.append(line)
    return lines


def _earlier_summary(path: Path) -> dict[str, Any]:
    """An earlier process's `summary.json` (one that drained wrote it), or {}."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return doc if isinstance(doc, dict) else {}


def _utc(line: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(str(line["utc"])).astimezone(UTC)


def _entries(
    files: list[_File],
    starts: dict[str, float],
    known: dict[str, dict[str, Any]],
    origin: float | None,
) -> list[dict[str, Any]]:
    """Summary entries: as the earlier summary has them, else estimated from the file."""
    entries = []
    for file in files:
        entry = dict(known.get(file.name) or {})
        if not entry:
            entry = {"file": file.name, "start": starts.get(file.name, 0.0), "bytes": file.size}
            if file.mtime is None:
                entry["lost"] = True  # the numbering goes on after it all the same
            elif origin is not None:  # its last write, as far as the file's time says
                entry["end_ms"] = max(round((file.mtime - origin - entry["start"]) * 1000), 0)
        entry["earlier"] = True
        entries.append(entry)
    return entries


def scan(
    folder: Path,
    file_prefix: str,
    presentation_prefix: str,
    remote: list[RemoteFile] | None = None,
) -> EarlierSession | None:
    """What earlier processes left in `folder` (and in the store: `remote`); None when they
    left nothing."""
    if not folder.is_dir():
        return None
    lines = _lines(folder / "timeline.jsonl")
    named = [str(ln.get("file")) for ln in lines if ln["type"] in _STARTED]
    media = _numbered(folder, file_prefix, remote or [], named)
    slides = _numbered(folder, presentation_prefix, remote or [], named)
    if not media and not slides and not lines:
        return None
    origin_utc = _utc(lines[0]) - timedelta(seconds=float(lines[0]["t"])) if lines else None
    origin = None if origin_utc is None else origin_utc.timestamp()
    traces = [f.mtime for f in media + slides if f.mtime is not None]
    traces += [_utc(line).timestamp() for line in lines[-1:]]
    starts = {str(ln.get("file")): float(ln["t"]) for ln in lines if ln["type"] in _STARTED}
    done = _earlier_summary(folder / "summary.json")
    known = {
        str(e.get("file")): e
        for key in ("files", "presentation_files")
        for e in done.get(key) or []
        if isinstance(e, dict)
    }
    gaps = [g for g in done.get("gaps") or [] if isinstance(g, dict)]
    for line in lines:  # resumes after that summary was written
        if line["type"] == "gap" and line.get("kind") == "resume":
            gap = {"kind": "resume", "start": line["start"], "end": line["end"]}
            if gap not in gaps:
                gaps.append(gap)
    log.info("continuing the session in %s (%d earlier files)", folder, len(media))
    return EarlierSession(
        origin_utc=origin_utc,
        last_utc=max(traces),
        files=_entries(media, starts, known, origin),
        presentation_files=_entries(slides, starts, known, origin),
        gaps=gaps,
        lines=lines,
    )


class FolderClaim:
    """The newest process to start on a named session folder writes it (`.owner`).

    An older one that comes back (it was frozen while its job was taken over) finds the
    claim gone and stops writing there: it closes its own files and adds no timeline line,
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
        """Whether another process claimed the folder since (read at most every `EVERY`
        s unless `now`; once lost, always lost)."""
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
