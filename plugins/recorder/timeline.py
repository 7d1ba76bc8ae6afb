"""`timeline.jsonl`: what happened in the session, each line stamped with media time.

Records come in with `at` on the bot's monotonic clock (the clock the media is mapped
onto); a line's `t` is `at` minus the recording's origin (media time 0, the first packet
of the first file), so `t` is where to seek in the recording. Records that arrive before
the origin is known are held and written once it is (their `t` is then negative). The
timeline also keeps what the summary and the speaker chart need: who was there, talk
intervals from stage changes, chat and presentation marks, gaps.
"""

from __future__ import annotations

import contextlib
import json
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from .mux import StorageError


@dataclass
class Person:
    uuid: str
    name: str = ""
    role: str = ""
    joined: float | None = None
    left: float | None = None
    talk: list[tuple[float, float]] = field(default_factory=list)

    @property
    def talk_time(self) -> float:
        return sum(end - start for start, end in self.talk)


class Timeline:
    def __init__(self, path: Path, *, origin_utc: float | None = None) -> None:
        """`origin_utc`: continue an earlier process's axis (its t = 0 in wall-clock time)."""
        self.path = path
        self.origin: float | None = None
        self.people: dict[str, Person] = {}
        self.chats: list[tuple[float, str]] = []  # (t, sender uuid or "")
        self.presentations: list[list[float | None]] = []  # [start, end]
        self.gaps: list[dict[str, Any]] = []
        self.lines = 0
        self._speaking: dict[str, float] = {}
        self._pending: list[dict[str, Any]] = []
        self._file: TextIO | None = None
        self._wall0 = time.time()
        self._mono0 = time.monotonic()
        if origin_utc is not None:
            self.origin = self.mono(origin_utc)
        try:
            self._file = path.open("a", encoding="utf-8", buffering=1)
        except OSError as exc:
            raise StorageError(f"cannot write {path}: {exc}") from exc

    def mono(self, utc: float) -> float:
        """A wall-clock time on this process's monotonic clock."""
        return self._mono0 + (utc - self._wall0)

    def replay(self, line: dict[str, Any]) -> None:
        """An earlier process's line (continue_session): kept for the summary, not rewritten."""
        record = {k: v for k, v in line.items() if k not in ("t", "utc")}
        origin = self.origin if self.origin is not None else self._mono0
        record["at"] = origin + float(line["t"])
        for key in ("start", "end"):
            if isinstance(record.get(key), int | float):
                record[key] = origin + float(record[key])
        if record.get("type") == "stage":
            record["speaking"] = [s["uuid"] for s in record.get("speaking", []) if "uuid" in s]
        if "type" in record:
            self._track(record)

    def stop_all_talking(self, at: float) -> None:
        """End every open talk interval at `at` (nobody is heard across a gap)."""
        for uuid in list(self._speaking):
            self._stop_talking(uuid, at)

    def t(self, at: float) -> float:
        return round(at - (self.origin if self.origin is not None else self._mono0), 3)

    def set_origin(self, origin: float) -> None:
        if self.origin is not None:
            return
        self.origin = origin
        pending, self._pending = self._pending, []
        for record in pending:
            self._write(record)

    def add(self, record: dict[str, Any]) -> None:
        """A record with `type` and `at` (monotonic); kept for the summary and written."""
        if not self._track(record):
            return
        if self.origin is None:
            self._pending.append(record)
        else:
            self._write(record)

    def _person(self, uuid: str) -> Person:
        person = self.people.get(uuid)
        if person is None:
            person = self.people[uuid] = Person(uuid)
        return person

    def _track(self, r: dict[str, Any]) -> bool:
        """Keep what the summary needs; False for a record not worth a line."""
        kind, at = r["type"], float(r["at"])
        if kind in ("joined", "left", "changed"):
            p = self._person(r["uuid"])
            p.name = r.get("name") or p.name
            p.role = r.get("role") or p.role
            if kind == "joined":
                p.joined = at
            elif kind == "left":
                p.left = at
                self._stop_talking(r["uuid"], at)
        elif kind == "stage":
            now = set(r["speaking"])
            if now == set(self._speaking):
                return False  # same speakers: no stage change
            for uuid in list(self._speaking):
                if uuid not in now:
                    self._stop_talking(uuid, at)
            for uuid in now:
                self._speaking.setdefault(uuid, at)
                self._person(uuid)
            r["speaking"] = [{"uuid": u, "name": self._person(u).name} for u in r["speaking"]]
        elif kind == "chat":
            self.chats.append((at, r.get("uuid", "")))
        elif kind == "presentation_start":
            self.presentations.append([at, None])
        elif kind == "presentation_stop":
            if self.presentations and self.presentations[-1][1] is None:
                self.presentations[-1][1] = at
        elif kind == "gap":
            self.gaps.append({"kind": r["kind"], "start": r["start"], "end": r["end"]})
        return True

    def _stop_talking(self, uuid: str, at: float) -> None:
        start = self._speaking.pop(uuid, None)
        if start is not None and at > start:
            self._person(uuid).talk.append((start, at))

    def _write(self, record: dict[str, Any]) -> None:
        at = float(record["at"])
        line: dict[str, Any] = {
            "t": self.t(at),
            "utc": datetime.fromtimestamp(self._wall0 + at - self._mono0, UTC).isoformat(
                timespec="milliseconds"
            ),
        }
        for key, value in record.items():
            if key == "at":
                continue
            line[key] = self.t(value) if key in ("start", "end") else value
        if self._file is None:
            return
        try:
            self._file.write(json.dumps(line, default=str) + "\n")
        except OSError as exc:
            raise StorageError(f"writing {self.path} failed: {exc}") from exc
        self.lines += 1

    def detach(self) -> None:
        """Close the file without writing anything more (another process owns it now)."""
        file, self._file = self._file, None
        if file is not None:
            with contextlib.suppress(OSError):
                file.close()

    def close(self, end: float) -> None:
        """End open talk intervals and presentations at `end`; flush and close the file."""
        for uuid in list(self._speaking):
            self._stop_talking(uuid, end)
        for span in self.presentations:
            if span[1] is None:
                span[1] = end
        if self.origin is None:
            self.set_origin(self._mono0)
        file, self._file = self._file, None
        if file is not None:
            try:
                file.close()
            except OSError as exc:
                raise StorageError(f"writing {self.path} failed: {exc}") from exc
