"""The recorder's writer thread: clock mapping, keyframe gate, segments, files, timeline.

Everything that touches the disk or PyAV runs here; the plugin's hooks (on the event
loop) only `put()` items. Items are `EncodedFrame`s, `("presentation", EncodedFrame)`,
`("event", record)`, `("control", "start" | "stop" | "pause" | "resume", at)`,
`("sync", threading.Event)` and `("close", None)`.

A file holds Opus (always) and VP8 (unless audio-only). Video is written from a keyframe
on (earlier frames are dropped and a keyframe requested), so the file must be created when
the first keyframe arrives: until then (at most `video_wait` seconds) audio is buffered,
then the file is created anyway with a default picture size and video still waits for a
keyframe. Packet times are media times: the frame's time on the bot's clock (see
`clock.py`) minus the file's start.

The presentation (the slides call's VP8) goes to its own files, `presentation-NNN.webm`:
one per presentation, and a new one at a keyframe when the picture size changes or after
`segment_seconds`. Its frames are mapped through their own stream clock onto the same bot
clock, so a file's `start` in `summary.json` is on the timeline's axis (next to the
`presentation_start` / `presentation_stop` lines). A file starts at a keyframe; the
frames before it are dropped (a keyframe is asked for only when the runtime offers a way
to). A `presentation_stop` closes the file; presentation frames that arrived before it
(still queued behind it) are dropped so they cannot open a stray file.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent.media.tap import EncodedFrame

from .clock import StreamClock
from .mux import (
    DEFAULT_SIZE,
    EXTENSIONS,
    Container,
    MediaFile,
    StorageError,
    opus_duration,
    vp8_is_keyframe,
    vp8_size,
)
from .resume import FolderClaim, scan
from .summary import draw_speakers, summary, write_json
from .timeline import Timeline

log = logging.getLogger(__name__)

KEYFRAME_REQUEST_INTERVAL = 1.0
GAP_THRESHOLD = 1.0  # seconds without any packet written that count as a gap


@dataclass
class WriterSettings:
    folder: Path
    container: Container = "webm"
    audio_only: bool = False
    segment_seconds: float | None = None
    segment_bytes: int | None = None
    video_wait: float = 2.0
    cluster_ms: int = 1000
    max_backlog: int = 3000
    file_prefix: str = "recording"
    presentation_prefix: str = "presentation"
    #: Continue what an earlier process recorded in `folder` (see `resume.py`).
    continue_session: bool = False
    #: The folder may be shared with a successor process: write it only while the claim
    #: holds (`resume.FolderClaim`).
    claim_folder: bool = False


@dataclass
class _Buffered:
    t: float
    data: bytes
    duration_ms: int


@dataclass
class WriterStats:
    frames: dict[str, int] = field(default_factory=lambda: {"audio": 0, "video": 0})
    dropped_before_keyframe: int = 0
    dropped_backlog: int = 0
    ignored: int = 0
    keyframe_requests: int = 0
    presentation_frames: int = 0
    presentation_dropped_before_keyframe: int = 0
    presentation_dropped_after_stop: int = 0
    presentation_keyframe_requests: int = 0


@dataclass
class _PresentationFile:
    file: MediaFile
    start: float  # bot clock
    size: tuple[int, int]
    entry: dict[str, Any]


class Writer:
    def __init__(
        self,
        settings: WriterSettings,
        *,
        request_keyframe: Callable[[], None] | None = None,
        request_presentation_keyframe: Callable[[], None] | None = None,
        on_error: Callable[[StorageError], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.s = settings
        self.request_keyframe = request_keyframe
        self.request_presentation_keyframe = request_presentation_keyframe
        self.on_error = on_error
        self.clock = clock
        self.error: StorageError | None = None
        self.stats = WriterStats()
        self.files: list[dict[str, Any]] = []
        #: Presentation files; `start` is filled in (timeline time) when the session closes.
        self.presentation_files: list[dict[str, Any]] = []
        self.media_gaps: list[dict[str, Any]] = []
        self.summary: dict[str, Any] | None = None
        self.recording = False
        self.paused = False
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._clocks: dict[str, StreamClock] = {}
        self._file: MediaFile | None = None
        self._file_start = 0.0
        self._due_at: float | None = None  # when the current file became due to roll over
        self._video_on = False  # video written in this file since its keyframe
        self._video_seen = False
        self._audio_buffer: list[_Buffered] = []
        self._last_request = -1e9
        self._last_written: float | None = None
        self._resumed = False
        self._timeline: Timeline | None = None
        self._pres: _PresentationFile | None = None
        self._pres_on = False  # presentation written in this file since a keyframe
        self._pres_starts: list[float] = []  # bot-clock start of each presentation file
        self._pres_stopped_at: float | None = None
        self._last_pres_request = -1e9
        self._pres_base = 0  # presentation files of an earlier process (continue_session)
        self._resume_gap_from: float | None = None  # bot clock: the earlier process's end
        self._claim = FolderClaim(settings.folder) if settings.claim_folder else None
        self._thread = threading.Thread(target=self._run, name="recorder-writer", daemon=True)

    # -- loop side ---------------------------------------------------------------------

    def start(self) -> None:
        """Create the session folder and the timeline (raises StorageError), start the thread."""
        try:
            self.s.folder.mkdir(parents=True, exist_ok=True)
            probe = self.s.folder / ".write-test"
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as exc:
            raise StorageError(f"recording folder {self.s.folder} is not writable: {exc}") from exc
        earlier = None
        if self.s.continue_session:
            earlier = scan(self.s.folder, self.s.file_prefix, self.s.presentation_prefix)
        if self._claim is not None:
            self._claim.take()
        origin = earlier.origin_utc if earlier is not None else None
        self._timeline = Timeline(self.s.folder / "timeline.jsonl", origin_utc=origin)
        if earlier is not None:
            # The new files go on from the earlier ones; one gap from its last trace.
            self.files = earlier.files
            self._pres_base = earlier.presentation_files
            for line in earlier.lines:
                self._timeline.replay(line)
            self._resume_gap_from = self._timeline.mono(earlier.last_utc)
            self._timeline.stop_all_talking(self._resume_gap_from)
        self._thread.start()

    def put(self, item: object) -> None:
        media = isinstance(item, EncodedFrame) or (
            isinstance(item, tuple) and item[0] == "presentation"
        )
        if media and self._queue.qsize() > self.s.max_backlog:
            self.stats.dropped_backlog += 1
            return
        self._queue.put(item)

    def flush(self, timeout: float | None = None) -> bool:
        """Block until everything put so far was handled (False on timeout or if dead)."""
        if not self._thread.is_alive():
            return False
        done = threading.Event()
        self._queue.put(("sync", done))
        return done.wait(timeout)

    def join(self, timeout: float | None = None) -> bool:
        self._thread.join(timeout)
        return not self._thread.is_alive()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    # -- writer thread -------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if isinstance(item, tuple) and item[0] == "close":
                self._close()
                return
            if isinstance(item, tuple) and item[0] == "sync":
                item[1].set()
                continue
            if self.error is not None or self._let_go():
                continue
            try:
                if isinstance(item, EncodedFrame):
                    self._frame(item)
                elif item[0] == "presentation":
                    self._presentation_frame(item[1])
                elif item[0] == "event":
                    assert self._timeline is not None
                    self._timeline.add(item[1])
                    if item[1].get("type") == "presentation_stop":
                        self._presentation_stopped(float(item[1]["at"]))
                elif item[0] == "control":
                    self._control(item[1], item[2])
            except StorageError as exc:
                self._fail(exc)
            except Exception:
                log.exception("recorder writer: %r failed", type(item).__name__)

    def _fail(self, exc: StorageError) -> None:
        log.error("recording failed: %s", exc)
        self.error = exc
        if self._file is not None:
            self._file.abandon()
            self._file_done()
        if self._pres is not None:
            self._pres.file.abandon()
            self._presentation_done()
        if self.on_error is not None:
            self.on_error(exc)

    def _event(self, kind: str, at: float) -> None:
        if self._timeline is not None:
            self._timeline.add({"type": kind, "at": at})

    def _control(self, what: str, at: float) -> None:
        if what == "start" and not self.recording:
            self.recording, self.paused = True, False
            self._event("recording_started", at)
        elif what == "stop" and self.recording:
            self.recording = False
            self._close_file()
            self._close_presentation()
            self._event("recording_stopped", at)
        elif what == "pause" and self.recording and not self.paused:
            self.paused = True
            self._event("recording_paused", at)
        elif what == "resume" and self.recording and self.paused:
            self.paused, self._video_on, self._resumed = False, False, True
            self._pres_on = False
            self._event("recording_resumed", at)
            self._ask_keyframe(force=True)

    def _ask_keyframe(self, force: bool = False) -> None:
        now = time.monotonic()
        if self.request_keyframe is None or (
            not force and now - self._last_request < KEYFRAME_REQUEST_INTERVAL
        ):
            return
        self._last_request = now
        self.stats.keyframe_requests += 1
        self.request_keyframe()

    def _frame(self, f: EncodedFrame) -> None:
        kind = f.kind
        if (kind, f.codec) not in (("audio", "opus"), ("video", "vp8")) or (
            kind == "video" and self.s.audio_only
        ):
            self.stats.ignored += 1
            return
        clock = self._clocks.get(kind)
        if clock is None:
            clock = self._clocks[kind] = StreamClock(f.clock_rate)
        t = clock.map(f.timestamp, f.arrival)
        if not self.recording or self.paused:
            return
        if kind == "video":
            self._video_seen = True
        duration_ms = round(opus_duration(f.data) / 48) if kind == "audio" else 0
        key = kind == "video" and vp8_is_keyframe(f.data)
        if self._file is None:
            self._open_when_ready(kind, t, f.data, duration_ms, key)
            return
        if self._segment_due(t):
            due_at = self._due_at = t if self._due_at is None else self._due_at
            has_video = "video" in self._file.kinds
            # Wait for a keyframe to start the next file with; give up waiting after 5 s.
            late = t - due_at >= 5
            if not has_video or key or late:
                size = vp8_size(f.data) if key else None
                self._close_file()
                self._open(t, size)
            else:
                self._ask_keyframe()
        self._write(kind, t, f.data, duration_ms, key)

    def _segment_due(self, t: float) -> bool:
        assert self._file is not None
        seconds, size = self.s.segment_seconds, self.s.segment_bytes
        return bool(
            (seconds and t - self._file_start >= seconds) or (size and self._file.bytes >= size)
        )

    def _open_when_ready(self, kind: str, t: float, data: bytes, dur: int, key: bool) -> None:
        if self.s.audio_only:
            self._open(t, None)
            self._write(kind, t, data, dur, key)
            return
        if kind == "audio":
            self._audio_buffer.append(_Buffered(t, data, dur))
            if t - self._audio_buffer[0].t < self.s.video_wait:
                self._ask_keyframe()
                return
            self._open(self._audio_buffer[0].t, None)
        elif key:
            first = min([t] + [b.t for b in self._audio_buffer[:1]])
            self._open(first, vp8_size(data))
        else:
            self.stats.dropped_before_keyframe += 1
            self._ask_keyframe()
            return
        buffered, self._audio_buffer = self._audio_buffer, []
        for b in buffered:
            self._write("audio", b.t, b.data, b.duration_ms, False)
        if kind == "video":
            self._write(kind, t, data, dur, key)

    def _resume_gap(self, end: float) -> None:
        start, self._resume_gap_from = self._resume_gap_from, None
        if start is None or self._timeline is None:
            return
        start = min(start, end)
        self._timeline.add({"type": "gap", "kind": "resume", "at": end, "start": start, "end": end})
        gap = {"kind": "resume", "start": self._timeline.t(start), "end": self._timeline.t(end)}
        self.media_gaps.append(gap)

    def _open(self, t: float, size: tuple[int, int] | None) -> None:
        self._resume_gap(t)
        index = len(self.files)
        name = f"{self.s.file_prefix}-{index:03d}.{EXTENSIONS[self.s.container]}"
        video = None if self.s.audio_only else (size or DEFAULT_SIZE)
        self._file = MediaFile(
            self.s.folder / name, self.s.container, video_size=video, cluster_ms=self.s.cluster_ms
        )
        self._file_start = t
        self._due_at = None
        self._video_on = False
        assert self._timeline is not None
        self._timeline.set_origin(t)
        self.files.append({"file": name, "start": self._timeline.t(t)})
        self._timeline.add({"type": "file_started", "at": t, "file": name})

    def _write(self, kind: str, t: float, data: bytes, duration_ms: int, key: bool) -> None:
        assert self._file is not None
        if kind == "video" and not self._video_on:
            if not key:
                self.stats.dropped_before_keyframe += 1
                self._ask_keyframe()
                return
            self._video_on = True
        if self._last_written is not None and t - self._last_written >= GAP_THRESHOLD:
            assert self._timeline is not None
            self.media_gaps.append(
                {
                    "kind": "paused" if self._resumed else "media",
                    "start": self._timeline.t(self._last_written),
                    "end": self._timeline.t(t),
                }
            )
        self._resumed = False
        self._last_written = max(t, self._last_written or t)
        self._file.write(kind, data, round((t - self._file_start) * 1000), duration_ms)
        self.stats.frames[kind] += 1

    def _close_file(self) -> None:
        self._audio_buffer.clear()
        if self._file is None:
            return
        try:
            self._file.close()
        finally:
            self._file_done()

    def _file_done(self) -> None:
        f, self._file = self._file, None
        if f is None or not self.files:
            return
        _finish_entry(self.files[-1], f)
        if self._last_written is not None:
            self._last_written = None  # a new file starts without a gap

    # -- presentation ------------------------------------------------------------------

    def _ask_presentation_keyframe(self) -> None:
        now = time.monotonic()
        request = self.request_presentation_keyframe
        if request is None or now - self._last_pres_request < KEYFRAME_REQUEST_INTERVAL:
            return
        self._last_pres_request = now
        self.stats.presentation_keyframe_requests += 1
        request()

    def _presentation_frame(self, f: EncodedFrame) -> None:
        if f.codec != "vp8" or self.s.audio_only:
            self.stats.ignored += 1
            return
        clock = self._clocks.get("presentation")
        if clock is None:
            clock = self._clocks["presentation"] = StreamClock(f.clock_rate)
        t = clock.map(f.timestamp, f.arrival)
        if self._pres_stopped_at is not None and f.arrival <= self._pres_stopped_at:
            self.stats.presentation_dropped_after_stop += 1
            return
        if not self.recording or self.paused:
            return
        key = vp8_is_keyframe(f.data)
        size = vp8_size(f.data) if key else None
        pres = self._pres
        if pres is not None and key:
            segment = self.s.segment_seconds
            if (size is not None and size != pres.size) or (segment and t - pres.start >= segment):
                self._close_presentation()
                pres = None
        if pres is None or not self._pres_on:
            if not key:
                self.stats.presentation_dropped_before_keyframe += 1
                self._ask_presentation_keyframe()
                return
            if pres is None:
                pres = self._open_presentation(t, size or DEFAULT_SIZE)
            self._pres_on = True
        pres.file.write("video", f.data, round((t - pres.start) * 1000))
        self.stats.presentation_frames += 1

    def _open_presentation(self, t: float, size: tuple[int, int]) -> _PresentationFile:
        index = self._pres_base + len(self.presentation_files)
        name = f"{self.s.presentation_prefix}-{index:03d}.{EXTENSIONS[self.s.container]}"
        media = MediaFile(
            self.s.folder / name,
            self.s.container,
            video_size=size,
            audio=False,
            cluster_ms=self.s.cluster_ms,
        )
        entry: dict[str, Any] = {"file": name, "start": None, "width": size[0], "height": size[1]}
        self.presentation_files.append(entry)
        self._pres_starts.append(t)
        self._pres = _PresentationFile(media, t, size, entry)
        self._pres_on = False
        self._event_record({"type": "presentation_file_started", "at": t, "file": name})
        return self._pres

    def _event_record(self, record: dict[str, Any]) -> None:
        if self._timeline is not None:
            self._timeline.add(record)

    def _presentation_stopped(self, at: float) -> None:
        self._pres_stopped_at = at
        self._close_presentation()

    def _close_presentation(self) -> None:
        if self._pres is None:
            return
        try:
            self._pres.file.close()
        finally:
            self._presentation_done()

    def _presentation_done(self) -> None:
        pres, self._pres = self._pres, None
        self._pres_on = False
        if pres is None:
            return
        _finish_entry(pres.entry, pres.file)

    # -- the end -------------------------------------------------------------------------

    def _let_go(self, now: bool = False) -> bool:
        """A successor claimed the folder: close this process's own files, write no more."""
        if self._claim is None or not self._claim.lost(now=now):
            return False
        for close in (self._close_file, self._close_presentation):
            try:
                close()
            except StorageError as exc:
                log.warning("recorder: closing after losing the folder: %s", exc)
        return True

    def _close(self) -> None:
        if self._let_go(now=True):
            if self._timeline is not None:
                self._timeline.detach()
            return
        end = self.clock()
        self._resume_gap(end)  # continued, but no media came this time
        if self.error is None:
            try:
                self._close_file()
            except StorageError as exc:
                self._fail(exc)
        if self.error is None:
            try:
                self._close_presentation()
            except StorageError as exc:
                self._fail(exc)
        timeline = self._timeline
        if timeline is None:
            return
        try:
            timeline.close(end)
            # Start offsets on the timeline's axis (its origin may have come after the file).
            for entry, start in zip(self.presentation_files, self._pres_starts, strict=True):
                entry["start"] = timeline.t(start)
            media_end = max(
                [f["start"] + f.get("end_ms", 0) / 1000 for f in self.files], default=0.0
            )
            self.summary = summary(
                timeline,
                end,
                {
                    "duration": round(max(media_end, 0.0), 3),
                    "files": self.files,
                    "bytes": sum(f.get("bytes", 0) for f in self.files),
                    "gaps": self.media_gaps,
                    "frames": self.stats.frames,
                    "dropped_before_keyframe": self.stats.dropped_before_keyframe,
                    "dropped_backlog": self.stats.dropped_backlog,
                    "keyframe_requests": self.stats.keyframe_requests,
                    "clock_resyncs": {k: c.resyncs for k, c in self._clocks.items()},
                    "presentation_files": self.presentation_files,
                    "presentation_frames": self.stats.presentation_frames,
                    "presentation_dropped_before_keyframe": (
                        self.stats.presentation_dropped_before_keyframe
                    ),
                    "presentation_keyframe_requests": self.stats.presentation_keyframe_requests,
                    "presentation_dropped_after_stop": self.stats.presentation_dropped_after_stop,
                    "error": None if self.error is None else str(self.error),
                },
            )
            write_json(self.s.folder / "summary.json", self.summary)
            draw_speakers(self.s.folder / "speakers.png", timeline, end)
        except StorageError as exc:
            if self.error is None:
                self._fail(exc)
        except Exception:
            log.exception("recorder: writing the session summary failed")


def _finish_entry(entry: dict[str, Any], f: MediaFile) -> None:
    """Fill a closed file's summary entry (the size on disk, or what was handed to it)."""
    entry["duration"] = round(max(f.end_ms - (f.first_ms or 0), 0) / 1000, 3)
    entry["end_ms"] = f.end_ms
    entry["packets"] = f.packets
    try:
        entry["bytes"] = f.path.stat().st_size
    except OSError:
        entry["bytes"] = f.bytes
