"""`timeline.jsonl`: what happened in the session, each line stamped with media time.

Records come in with `at` on the bot's monotonic clock (the clock the media is mapped
onto); a line's `t` is `at` minus the session's origin: the moment the bot joined (`utc`
gives the wall time too). Every media file's `start` in `summary.json` is on the same axis,
so a line is at `t - start` in that file. The timeline also keeps what the summary and the
speaker chart need: who was there, talk intervals from stage changes, chat and
presentation marks, gaps.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

from .storage import StorageError, failed

#: How far apart a gap the recording measured (packets) and one the bot reported (a
#: re-call's, a rejoin's) may be and still be the same stretch.
GAP_SLACK = 0.5


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
    def __init__(self, path: Path, origin: float, start_utc: datetime) -> None:
        """`origin`: the session's start on the bot's clock; `start_utc`: the same instant
        in UTC (for the lines' `utc`)."""
        self.path = path
        self.origin = origin
        self.start_utc = start_utc
        self.people: dict[str, Person] = {}
        self.chats: list[tuple[float, str]] = []  # (t, sender uuid or "")
        self.presentations: list[list[float | None]] = []  # [start, end]
        self.gaps: list[dict[str, Any]] = []
        self.lines = 0
        self._speaking: dict[str, float] = {}
        self._file: TextIO | None = None
        try:
            self._file = path.open("a", encoding="utf-8", buffering=1)
        except OSError as exc:
            raise StorageError(f"cannot write {path}: {exc}") from exc

    def t(self, at: float) -> float:
        """Seconds since the session started."""
        return round(at - self.origin, 3)

    def utc(self, at: float) -> datetime:
        return self.start_utc + timedelta(seconds=at - self.origin)

    def add(self, record: dict[str, Any]) -> None:
        """A record with `type` and `at` (monotonic); kept for the summary and written."""
        if self._track(record):
            self._write(record)

    def replay(self, line: dict[str, Any]) -> None:
        """An earlier process's line (`continue_session`, same axis): kept for the summary
        and counted, not written again."""
        record = {k: v for k, v in line.items() if k not in ("t", "utc")}
        record["at"] = self.origin + float(line["t"])
        for key in ("start", "end"):
            if isinstance(record.get(key), int | float):
                record[key] = self.origin + float(record[key])
        if record["type"] == "stage":
            record["speaking"] = [s["uuid"] for s in record.get("speaking", []) if "uuid" in s]
        self._track(record)
        self.lines += 1

    def interrupt(self, at: float) -> None:
        """Nobody was heard and nothing presented from `at` on (an earlier process's end):
        talk intervals and presentations still open end there."""
        for uuid in list(self._speaking):
            self._stop_talking(uuid, at)
        for span in self.presentations:
            if span[1] is None:
                span[1] = at

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
                # Listed again after a resume: there since the earlier join.
                if p.joined is None or p.left is not None:
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
            self.gaps.append({k: r[k] for k in ("kind", "cause", "start", "end") if k in r})
        return True

    def media_gap_cause(self, start: float, end: float) -> str:
        """The cause of a reported media gap overlapping `start`..`end` (bot clock; within
        `GAP_SLACK` s), or `no_media` when none was reported."""
        for gap in reversed(self.gaps):
            if (
                gap["kind"] == "media"
                and gap["start"] <= end + GAP_SLACK
                and start <= gap["end"] + GAP_SLACK
            ):
                return str(gap.get("cause") or "no_media")
        return "no_media"

    def _stop_talking(self, uuid: str, at: float) -> None:
        start = self._speaking.pop(uuid, None)
        if start is not None and at > start:
            self._person(uuid).talk.append((start, at))

    def _write(self, record: dict[str, Any]) -> None:
        at = float(record["at"])
        line: dict[str, Any] = {
            "t": self.t(at),
            "utc": self.utc(at).isoformat(timespec="milliseconds"),
        }
        for key, value in record.items():
            if key == "at":
                continue
            line[key] = self.t(value) if key in ("start", "end", "since") else value
        if self._file is None:
            return
        try:
            self._file.write(json.dumps(line, default=str) + "\n")
        except OSError as exc:
            raise failed(f"writing {self.path}", exc) from exc
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
        file, self._file = self._file, None
        if file is not None:
            try:
                file.close()
            except OSError as exc:
                raise failed(f"writing {self.path}", exc) from exc
