"""One recorded stream as a sequence of files: the state machine shared by the main
recording (`recording-NNN`: Opus + VP8, or Opus alone) and the presentation
(`presentation-NNN`: VP8).

A file with video starts at a keyframe: earlier video is dropped and a keyframe asked for.
The main recording holds its audio up to `video_wait` s for that keyframe, then opens the
file anyway (default picture size) and video waits on. A new file starts when one is due
(`segment_seconds`, `segment_bytes`, or, for the presentation, a new picture size) at the
next keyframe (asked for), or, in a file with audio, without one after `KEYFRAME_WAIT` s:
the new file then carries audio until video can start. Packet times are media times: the
frame's time on the bot's clock minus the file's start. All of it runs on the writer thread.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent import opus_duration_ms, vp8_is_keyframe, vp8_size

from .mux import DEFAULT_SIZE, EXTENSIONS, Container, MediaFile
from .timeline import Timeline

KEYFRAME_REQUEST_INTERVAL = 1.0  # s between keyframe requests (unless forced)
KEYFRAME_WAIT = 5.0  # s a due file waits for a keyframe before starting without one
GAP_THRESHOLD = 1.0  # s without any packet written that count as a gap


class KeyframeRequests:
    """Asks a sender for a keyframe, at most once per `interval` s unless forced.

    Time is the media's (the frame being handled, on the bot's clock), so the throttle does
    not depend on how far the writer thread lags behind."""

    def __init__(
        self, request: Callable[[], None] | None, interval: float = KEYFRAME_REQUEST_INTERVAL
    ) -> None:
        self._request = request
        self._interval = interval
        self._last = -math.inf
        self.count = 0

    def ask(self, at: float, *, force: bool = False) -> None:
        if self._request is None or (not force and abs(at - self._last) < self._interval):
            return
        self._last = at
        self.count += 1
        self._request()


@dataclass(frozen=True)
class TrackSpec:
    folder: Path
    prefix: str  # file names: <prefix>-NNN.<ext>
    audio: bool  # the files carry Opus
    video: bool  # the files carry VP8
    started_line: str  # timeline line type when a file starts
    container: Container = "webm"
    cluster_ms: int = 1000
    segment_seconds: float | None = None
    segment_bytes: int | None = None
    new_file_on_size_change: bool = False
    video_wait: float = 0.0  # s of audio held for the first keyframe
    gaps: bool = False  # list stretches without packets (`gaps` in the summary)


@dataclass
class TrackStats:
    frames: dict[str, int] = field(default_factory=lambda: {"audio": 0, "video": 0})
    dropped_before_keyframe: int = 0


@dataclass
class _Held:
    t: float
    data: bytes


class Track:
    def __init__(
        self,
        spec: TrackSpec,
        timeline: Timeline,
        keyframes: KeyframeRequests,
        on_closed: Callable[[Path], None] | None = None,
    ) -> None:
        """`on_closed`: told each file that is finished (closed, or abandoned)."""
        self.spec = spec
        self.keyframes = keyframes
        self._on_closed = on_closed
        self.stats = TrackStats()
        #: One summary entry per file (`start` on the timeline's axis); filled in at close.
        self.entries: list[dict[str, Any]] = []
        #: Stretches without packets (with `spec.gaps`), on the timeline's axis.
        self.gaps: list[dict[str, Any]] = []
        self._timeline = timeline
        self._file: MediaFile | None = None
        self._start = 0.0  # bot-clock time of the current file's media time 0
        self._size: tuple[int, int] | None = None  # the current file's picture size
        self._due_at: float | None = None  # when the current file became due to end
        self._video_on = False  # video written to the current file since a keyframe
        self._held: list[_Held] = []  # audio waiting for the first keyframe
        self._last_written: float | None = None
        self._resumed = False
        self._resume_from: float | None = None  # an earlier process's end (bot clock)

    def write(self, kind: str, t: float, data: bytes) -> None:
        """One frame (`audio` Opus or `video` VP8) at time `t` on the bot's clock."""
        key = kind == "video" and vp8_is_keyframe(data)
        size = vp8_size(data) if key else None
        if self._file is None:
            self._first(kind, t, data, key, size)
            return
        if self._due(t, size):
            if self._due_at is None:
                self._due_at = t
            # Without a keyframe a new file can only carry audio: video-only files wait.
            late = self.spec.audio and t - self._due_at >= KEYFRAME_WAIT
            if not self.spec.video or key or late:
                self.close()
                self._open(t, size or self._size)
            else:
                self.keyframes.ask(t)
        self._put(kind, t, data, key)

    def continue_after(
        self,
        entries: list[dict[str, Any]],
        gaps: list[dict[str, Any]],
        since: float | None = None,
    ) -> None:
        """Continue an earlier process's files (`continue_session`): their entries and gaps
        come first and the numbering goes on; with `since` (bot clock: the earlier
        process's last trace) the stretch up to this process's first file is a `resume` gap.
        """
        self.entries[:0] = entries
        self.gaps[:0] = gaps
        self._resume_from = since

    def end_resume_gap(self, at: float) -> None:
        """The `resume` gap (see `continue_after`), if still open, ends at `at`."""
        start, self._resume_from = self._resume_from, None
        if start is None:
            return
        start = min(start, at)
        self._timeline.add(
            {
                "type": "gap",
                "kind": "resume",
                "at": at,
                "start": start,
                "end": at,
                "seconds": round(at - start, 3),
            }
        )
        t = self._timeline.t
        self.gaps.append({"kind": "resume", "start": t(start), "end": t(at)})

    def resume(self, at: float) -> None:
        """After a pause: video waits for a keyframe again; the pause shows as a gap."""
        self._video_on, self._resumed = False, True
        if self._file is not None:
            self.keyframes.ask(at, force=True)

    def mark(self, title: str, start: float, end: float) -> None:
        """A chapter called `title` over `start`..`end` (bot clock) in the open file, if any."""
        if self._file is not None:
            self._file.add_chapter(title, (start - self._start) * 1000, (end - self._start) * 1000)

    def close(self) -> None:
        """Finalize the current file (raises StorageError); the next frame opens a new one."""
        self._held.clear()
        file, self._file = self._file, None
        if file is not None:
            try:
                file.close()
            finally:
                self._finished(file)

    def abandon(self) -> None:
        """After a storage failure: close ignoring errors; what reached the disk stays."""
        self._held.clear()
        file, self._file = self._file, None
        if file is not None:
            file.abandon()
            self._finished(file)

    # -- files -------------------------------------------------------------------------

    def _first(
        self, kind: str, t: float, data: bytes, key: bool, size: tuple[int, int] | None
    ) -> None:
        """No file open: open one when this frame may start it (see the module docstring)."""
        if not self.spec.video:
            self._open(t, None)
            self._put(kind, t, data, key)
            return
        if kind == "audio":
            self._held.append(_Held(t, data))
            if t - self._held[0].t < self.spec.video_wait:
                self.keyframes.ask(t)
                return
            self._open(self._held[0].t, None)
        elif key:
            self._open(min([t] + [h.t for h in self._held[:1]]), size)
        else:
            self.stats.dropped_before_keyframe += 1
            self.keyframes.ask(t)
            return
        held, self._held = self._held, []
        for h in held:
            self._put("audio", h.t, h.data, False)
        if kind == "video":
            self._put(kind, t, data, key)

    def _due(self, t: float, size: tuple[int, int] | None) -> bool:
        assert self._file is not None
        spec = self.spec
        seconds, limit = spec.segment_seconds, spec.segment_bytes
        if (seconds and t - self._start >= seconds) or (limit and self._file.bytes >= limit):
            return True
        return spec.new_file_on_size_change and size is not None and size != self._size

    def _open(self, t: float, size: tuple[int, int] | None) -> None:
        self.end_resume_gap(t)
        spec = self.spec
        name = f"{spec.prefix}-{len(self.entries):03d}.{EXTENSIONS[spec.container]}"
        video = (size or DEFAULT_SIZE) if spec.video else None
        self._file = MediaFile(
            spec.folder / name,
            spec.container,
            video_size=video,
            audio=spec.audio,
            cluster_ms=spec.cluster_ms,
        )
        self._start, self._size, self._due_at, self._video_on = t, video, None, False
        entry: dict[str, Any] = {"file": name, "start": self._timeline.t(t)}
        if video is not None:
            entry["width"], entry["height"] = video
        self.entries.append(entry)
        self._timeline.add({"type": spec.started_line, "at": t, "file": name})

    def _put(self, kind: str, t: float, data: bytes, key: bool) -> None:
        """Into the open file, through the keyframe gate."""
        assert self._file is not None
        if kind == "video" and not self._video_on:
            if not key:
                self.stats.dropped_before_keyframe += 1
                self.keyframes.ask(t)
                return
            self._video_on = True
        if self.spec.gaps:
            self._note_gap(t)
        duration = opus_duration_ms(data) if kind == "audio" else 0
        self._file.write(kind, data, round((t - self._start) * 1000), duration)
        self.stats.frames[kind] += 1

    def _note_gap(self, t: float) -> None:
        last = self._last_written
        if last is not None and t - last >= GAP_THRESHOLD:
            timeline = self._timeline
            kind = "paused" if self._resumed else "media"
            # Why: the bot's own report of this stretch (a re-call, a rejoin), which comes
            # before the media after it; else nothing said why (`no_media`).
            cause = "paused" if self._resumed else timeline.media_gap_cause(last, t)
            self.gaps.append(
                {"kind": kind, "cause": cause, "start": timeline.t(last), "end": timeline.t(t)}
            )
            if cause == "no_media":  # no report put it on the timeline: this does
                timeline.add(
                    {
                        "type": "gap",
                        "at": last,
                        "kind": "media",
                        "cause": cause,
                        "start": last,
                        "end": t,
                        "seconds": round(t - last, 3),
                    }
                )
        self._resumed = False
        self._last_written = t if last is None else max(t, last)

    def _finished(self, file: MediaFile) -> None:
        """Fill the closed file's entry (its size on disk, or what was handed to it)."""
        entry = self.entries[-1]
        entry["duration"] = round(max(file.end_ms - (file.first_ms or 0), 0) / 1000, 3)
        entry["end_ms"] = file.end_ms
        entry["packets"] = file.packets
        try:
            entry["bytes"] = file.path.stat().st_size
        except OSError:
            entry["bytes"] = file.bytes
        self._last_written = None  # the next file starts without a gap
        if self._on_closed is not None:
            self._on_closed(file.path)
