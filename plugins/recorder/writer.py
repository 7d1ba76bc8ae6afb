"""The recorder's writer thread: clock mapping, the two tracks, the timeline, the summary.

Everything that touches the disk or PyAV runs here; the plugin's hooks (on the event
loop) only `put()` typed items (`items.py`). Each received frame is placed on the bot's
clock through its stream's `StreamClock` (`clock.py`) and handed to its track
(`track.py`): the main recording, or the presentation when the bot receives someone's
slides in a second call. The presentation's frames have their own stream clock onto the
same bot clock, so its files' `start` in `summary.json` is on the timeline's axis (next to
the `presentation_start` / `presentation_stop` lines). A `presentation_stop` closes the
presentation file; presentation frames that arrived before it (still queued behind it) are
dropped so they cannot open a stray file.

With object storage, the session folder is a spool: each finished file is handed to the
`Uploader` (`upload.py`), which also has the last word on the summary (what went up).
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from agent import EncodedFrame

from .chart import draw_speakers
from .clock import StreamClock
from .items import Close, Control, Event, Item, Media, Sync
from .mux import Container
from .resume import EarlierSession, FolderClaim, scan
from .storage import Reserve, StorageError
from .summary import save_summary, summary
from .timeline import Timeline
from .track import KeyframeRequests, Track, TrackSpec
from .upload import Uploader

log = logging.getLogger(__name__)


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
    #: Room kept for the session's end (see `storage.Reserve`); 0: none.
    reserve_bytes: int = 1 << 20
    #: The thread takes what is queued at most this often (s): a wake-up per frame (GIL
    #: hand-over, cold caches) costs ten times the muxing of the frame; 0: at once.
    batch_seconds: float = 0.25


@dataclass(frozen=True)
class Session:
    """What is recorded, and when: the timeline's `t = 0` is `origin` (the bot joined)."""

    origin: float  # on the bot's monotonic clock
    start_utc: datetime  # the same instant
    alias: str = ""
    conference: str = ""


@dataclass
class WriterStats:
    dropped_backlog: int = 0  # media dropped on the loop side: the writer fell behind
    ignored: int = 0  # frames of a codec (or kind) the recording does not keep
    presentation_dropped_after_stop: int = 0


class Writer:
    def __init__(
        self,
        settings: WriterSettings,
        *,
        request_keyframe: Callable[[], None] | None = None,
        request_presentation_keyframe: Callable[[], None] | None = None,
        on_error: Callable[[StorageError], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
        session: Session | None = None,
        uploader: Uploader | None = None,
    ) -> None:
        self.s = settings
        self.uploader = uploader
        self.session = session or Session(clock(), datetime.now(UTC))
        self.on_error = on_error
        self.clock = clock
        self.error: StorageError | None = None
        self.stats = WriterStats()
        self.summary: dict[str, Any] | None = None
        #: Where `summary.json` went (the session folder, or elsewhere when it was full).
        self.summary_path: Path | None = None
        self._reserve = Reserve(settings.folder, settings.reserve_bytes)
        self.recording = False
        self.paused = False
        self._paused_at: float | None = None
        self._keyframes = KeyframeRequests(request_keyframe)
        self._slide_keyframes = KeyframeRequests(request_presentation_keyframe)
        self._queue: queue.SimpleQueue[Item] = queue.SimpleQueue()
        self._clocks: dict[str, StreamClock] = {}
        self._timeline: Timeline | None = None
        self._main: Track | None = None
        self._slides: Track | None = None
        self._slides_stopped_at: float | None = None
        self._claim = FolderClaim(settings.folder) if settings.claim_folder else None
        self._let_go = False  # the claim was lost: this process writes the folder no more
        self._thread = threading.Thread(target=self._run, name="recorder-writer", daemon=True)

    # -- loop side ---------------------------------------------------------------------

    def start(self) -> None:
        """Create the session folder and the timeline (raises StorageError), start the thread.

        With `continue_session`, what an earlier process left in the folder is read first
        (file I/O: call it off the event loop, as the plugin does)."""
        s = self.s
        try:
            s.folder.mkdir(parents=True, exist_ok=True)
            probe = s.folder / ".write-test"
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as exc:
            raise StorageError(f"recording folder {s.folder} is not writable: {exc}") from exc
        if self._claim is not None:
            # Claimed before the scan: a predecessor still writing stops within
            # `FolderClaim.EVERY` s, and what it wrote up to now is in the scan.
            self._claim.take()
        self._reserve.claim()
        remote = None
        if self.uploader is not None:  # claims the stored session, brings its timeline
            remote = self.uploader.open(continuing=s.continue_session)
        earlier = None
        if s.continue_session:
            earlier = scan(s.folder, s.file_prefix, s.presentation_prefix, remote)
        if earlier is not None and earlier.origin_utc is not None:
            # One time axis for the whole session: t = 0 stays the earlier process's.
            shift = (self.session.start_utc - earlier.origin_utc).total_seconds()
            self.session = replace(
                self.session, origin=self.session.origin - shift, start_utc=earlier.origin_utc
            )
        session = self.session
        try:
            timeline = Timeline(s.folder / "timeline.jsonl", session.origin, session.start_utc)
        except StorageError:
            if self.uploader is not None:
                self.uploader.abandon()
            raise
        self._timeline = timeline
        common: dict[str, Any] = {
            "folder": s.folder,
            "container": s.container,
            "cluster_ms": s.cluster_ms,
            "segment_seconds": s.segment_seconds,
        }
        main = TrackSpec(
            prefix=s.file_prefix,
            audio=True,
            video=not s.audio_only,
            started_line="file_started",
            segment_bytes=s.segment_bytes,
            video_wait=s.video_wait,
            gaps=True,
            **common,
        )
        slides = TrackSpec(
            prefix=s.presentation_prefix,
            audio=False,
            video=True,
            started_line="presentation_file_started",
            new_file_on_size_change=True,
            **common,
        )
        self._main = Track(main, timeline, self._keyframes, self._file_closed)
        self._slides = Track(slides, timeline, self._slide_keyframes, self._file_closed)
        if earlier is not None:
            self._continue(earlier)
        self._thread.start()

    def _continue(self, earlier: EarlierSession) -> None:
        """Take in what an earlier process recorded; the resume gap starts at its end."""
        main, slides = self._tracks()
        assert self._timeline is not None
        for line in earlier.lines:
            self._timeline.replay(line)
        session = self.session
        since = session.origin + (earlier.last_utc - session.start_utc.timestamp())
        self._timeline.interrupt(since)
        main.continue_after(earlier.files, earlier.gaps, since)
        slides.continue_after(earlier.presentation_files, [])

    def put(self, item: Item) -> None:
        if isinstance(item, Media) and self._queue.qsize() > self.s.max_backlog:
            self.stats.dropped_backlog += 1
            return
        self._queue.put(item)

    def close(self) -> None:
        """Finalize everything (on the thread); `join()` waits for it."""
        self._queue.put(Close())

    def flush(self, timeout: float | None = None) -> bool:
        """Block until everything put so far was handled (False on timeout or if dead)."""
        if not self._thread.is_alive():
            return False
        done = threading.Event()
        self._queue.put(Sync(done))
        return done.wait(timeout)

    def join(self, timeout: float | None = None) -> bool:
        self._thread.join(timeout)
        return not self._thread.is_alive()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    @property
    def files(self) -> list[dict[str, Any]]:
        """The main recording's files (summary entries)."""
        return self._main.entries if self._main is not None else []

    # -- writer thread -------------------------------------------------------------------

    def _run(self) -> None:
        batch = self.s.batch_seconds
        while True:
            if batch > 0 and self._queue.empty():
                time.sleep(batch)  # let a batch gather (see `WriterSettings.batch_seconds`)
            item = self._queue.get()
            if isinstance(item, Close):
                self._close()
                return
            if isinstance(item, Sync):
                item.done.set()
                continue
            if self.error is not None or self._lost():
                continue
            try:
                if isinstance(item, Media):
                    self._media(item)
                elif isinstance(item, Event):
                    self._event(item.record)
                else:
                    self._control(item)
            except StorageError as exc:
                self._fail(exc)
            except Exception:
                log.exception("recorder writer: %s failed", type(item).__name__)

    def _file_closed(self, path: Path) -> None:
        if self.uploader is not None:
            self.uploader.add(path.name)

    def _tracks(self) -> tuple[Track, Track]:
        assert self._main is not None and self._slides is not None
        return self._main, self._slides

    def _fail(self, exc: StorageError) -> None:
        """The one line a storage failure logs. The reserve is given back first, so the files
        get their ends, the timeline its `recording_failed` line and the summary its room."""
        log.error("recording failed: %s (what was written is kept)", exc)
        self.error = exc
        self._reserve.release()
        for track in self._tracks():
            track.abandon()
        assert self._timeline is not None
        try:
            self._timeline.add({"type": "recording_failed", "at": self.clock(), "error": str(exc)})
        except StorageError as again:
            log.debug("no recording_failed line: %s", again)
        if self.on_error is not None:
            self.on_error(exc)

    def _line(self, kind: str, at: float) -> None:
        assert self._timeline is not None
        self._timeline.add({"type": kind, "at": at})

    def _event(self, record: dict[str, Any]) -> None:
        assert self._timeline is not None
        self._timeline.add(record)
        kind = record.get("type")
        if kind == "presentation_stop":
            self._slides_stopped_at = float(record["at"])
            self._tracks()[1].close()
        elif kind == "moved":
            # The bot followed a move (breakout room, back, transfer): the media comes from
            # new calls now, so the files end here and new ones start with that media, whose
            # streams are mapped onto the bot's clock afresh.
            self._slides_stopped_at = float(record["at"])
            for track in self._tracks():
                track.close()
            self._clocks.clear()

    def _control(self, control: Control) -> None:
        main, slides = self._tracks()
        what, at = control.action, control.at
        if what == "start" and not self.recording:
            self.recording, self.paused = True, False
            self._line("recording_started", at)
        elif what == "stop" and self.recording:
            self.recording = False
            main.close()
            slides.close()
            self._line("recording_stopped", at)
        elif what == "pause" and self.recording and not self.paused:
            self.paused, self._paused_at = True, at
            self._line("recording_paused", at)
        elif what == "resume" and self.recording and self.paused:
            self.paused = False
            start = self._paused_at if self._paused_at is not None else at
            assert self._timeline is not None
            # The pause, marked: on the timeline (its start and length) and in the files
            # open across it (a `paused` chapter over the gap).
            self._timeline.add(
                {
                    "type": "recording_resumed",
                    "at": at,
                    "paused_at": self._timeline.t(start),
                    "seconds": round(at - start, 3),
                }
            )
            for track in (main, slides):
                track.mark("paused", start, at)
                track.resume(at)

    def _time(self, stream: str, f: EncodedFrame) -> float:
        """The frame's time on the bot's clock (every stream is mapped, recording or not)."""
        clock = self._clocks.get(stream)
        if clock is None:
            clock = self._clocks[stream] = StreamClock(f.clock_rate)
        return clock.map(f.timestamp, f.arrival)

    def _media(self, item: Media) -> None:
        f = item.frame
        main, slides = self._tracks()
        if item.presentation:
            if f.codec != "vp8" or self.s.audio_only:
                self.stats.ignored += 1
                return
            t = self._time("presentation", f)
            stopped = self._slides_stopped_at
            if stopped is not None and f.arrival <= stopped:
                self.stats.presentation_dropped_after_stop += 1
                return
            if self.recording and not self.paused:
                slides.write("video", t, f.data)
            return
        if (f.kind, f.codec) not in (("audio", "opus"), ("video", "vp8")) or (
            f.kind == "video" and self.s.audio_only
        ):
            self.stats.ignored += 1
            return
        t = self._time(f.kind, f)
        if self.recording and not self.paused:
            main.write(f.kind, t, f.data)

    # -- the end -------------------------------------------------------------------------

    def _lost(self, *, now: bool = False) -> bool:
        """A successor claimed the folder: close this process's own files, write no more
        (no timeline line, no summary)."""
        if self._let_go:
            return True
        if self._claim is None or not self._claim.lost(now=now):
            return False
        self._let_go = True
        for track in self._tracks():
            try:
                track.close()
            except StorageError as exc:
                log.warning("recorder: closing after losing the folder: %s", exc)
        if self._timeline is not None:
            self._timeline.detach()
        return True

    def _close(self) -> None:
        end = self.clock()
        timeline = self._timeline
        if timeline is None or self._lost(now=True):
            if self.uploader is not None:
                self.uploader.abandon()
            return
        self._reserve.release()  # what is left to write is what the room was kept for
        main, slides = self._tracks()
        closing = (
            main.close,
            slides.close,
            lambda: main.end_resume_gap(end),  # continued, but no media came this time
            lambda: timeline.close(end),
        )
        for finish in closing:
            if self.error is None:
                try:
                    finish()
                except StorageError as exc:
                    self._fail(exc)
        with contextlib.suppress(StorageError):
            timeline.close(end)  # after a failure: close the file, whatever it says
        if self.error is None:  # the chart is the least of it: not on a full disk
            try:
                draw_speakers(
                    self.s.folder / "speakers.png",
                    timeline,
                    end,
                    alias=self.session.alias,
                    conference=self.session.conference,
                )
            except StorageError as exc:
                self._fail(exc)
            except Exception as exc:  # a chart that cannot be drawn must not cost the summary
                log.warning("speakers.png not drawn: %r", exc)
        self.summary = summary(timeline, end, self._figures(main, slides))
        if self.uploader is not None:
            self.summary, self.summary_path = self.uploader.finish(self.summary)
        else:
            self.summary_path = save_summary(self.s.folder, self.summary)

    def _figures(self, main: Track, slides: Track) -> dict[str, Any]:
        """The recording's own part of `summary.json`."""
        files = main.entries
        # The recorded span: the first file's start to the last packet's end.
        media_start = files[0]["start"] if files else 0.0
        media_end = max([f["start"] + f.get("end_ms", 0) / 1000 for f in files], default=0.0)
        session = self.session
        return {
            "alias": session.alias,
            "conference": session.conference,
            "start_utc": session.start_utc.isoformat(timespec="milliseconds"),
            "duration": round(max(media_end - media_start, 0.0), 3),
            "files": files,
            "bytes": sum(f.get("bytes", 0) for f in files),
            "gaps": main.gaps,
            "frames": main.stats.frames,
            "dropped_before_keyframe": main.stats.dropped_before_keyframe,
            "dropped_backlog": self.stats.dropped_backlog,
            "keyframe_requests": self._keyframes.count,
            "clock_resyncs": {k: c.resyncs for k, c in self._clocks.items()},
            "presentation_files": slides.entries,
            "presentation_frames": slides.stats.frames["video"],
            "presentation_dropped_before_keyframe": slides.stats.dropped_before_keyframe,
            "presentation_keyframe_requests": self._slide_keyframes.count,
            "presentation_dropped_after_stop": self.stats.presentation_dropped_after_stop,
            "error": None if self.error is None else str(self.error),
        }
