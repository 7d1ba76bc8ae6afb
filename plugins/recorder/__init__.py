"""The recording bot: received Opus + VP8 muxed into WebM/Matroska without transcoding.

The plugin's hooks only hand typed items (`items.py`) to a writer thread (`writer.py`),
which maps every stream onto the bot's monotonic clock (`clock.py`), hands the frames to
the main and the presentation track (`track.py`: files start at a keyframe, segments),
which write the media files (`mux.py`), and keeps `timeline.jsonl` (`timeline.py`); at the
end it writes `summary.json` (`summary.py`) and `speakers.png` (`chart.py`). Output:
`<output_dir>/<alias>-<UTC start>/`.

Presentation: with `record_presentation` (the default, not in audio-only mode) the plugin
sets `wants_presentation`, so the bot places a receive-only presentation call while
someone else presents; its VP8 frames (`PresentationMedia`) go to their own files,
`presentation-NNN.webm`, listed with their start offsets in `summary.json`.

Control: `autostart`/`start_paused` in the config; `start_recording()`, `stop_recording()`,
`pause()`, `resume()` on the plugin; and, for other plugins (the chat's `record ...`
command), `Controllable`: `control("start"|"stop"|"pause"|"resume", [])` and `status()`.
A pause leaves a gap in the file (marked with a `paused` chapter) and in `timeline.jsonl`
(`recording_paused`, then `recording_resumed` with the pause's start and length).

Continuing: with `continue_session` a new process goes on with the session an earlier one
left in `session_folder` (`resume.py`: numbering, time axis, one `resume` gap); a named
folder is claimed, so an earlier process that comes back stops writing it.

A storage failure raises `StorageError` (from the next hook and from `stop()`) unless it
could be reported through `context.fail(FailureReason.STORAGE, ...)` (the runtime's context
offers it): then the bot fails with reason `storage` and its one-line reason, and the log
has one error line. A full disk keeps what was written: a reserve file (`reserve_bytes`,
allocated when the session starts) is given back so the files are finalized,
`timeline.jsonl` gets a `recording_failed` line and `summary.json` is written (to the temp
folder, said in the log, if even that does not fit).

Object storage (`storage = {kind = "s3", ...}`, `config.py`): the session folder is a spool;
files go up as they close (`upload.py`, through the `RemoteStore` of `s3.py`, whose library
is imported only then). Before joining, the credentials are read (a missing one fails the
bot with reason `config`) and the bucket is checked (a missing bucket or refused
credentials: reason `storage`). A continued session takes what the store has of it.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import BaseModel

from agent import (
    BotState,
    EncodedFrame,
    FailureReason,
    Plugin,
    PresentationMedia,
    StateChanged,
)

from .config import LocalStorage, RecorderConfig, S3Storage
from .items import Action, Control, Event, Media
from .records import record_for
from .remote import CredentialsError, RemoteStore, TransientError, open_store, read_credentials
from .storage import StorageError, check_writable
from .upload import Uploader
from .writer import Session, Writer, WriterSettings

__all__ = [
    "LocalStorage",
    "Recorder",
    "RecorderConfig",
    "RecordingState",
    "S3Storage",
    "StorageError",
]

RecordingState = Literal["stopped", "recording", "paused"]

log = logging.getLogger(__name__)


#: States in which the bot is in the conference: the first change into one starts the session.
_JOINED = frozenset({BotState.CONNECTED, BotState.WAITING_ROOM, BotState.IN_CALL})


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._@+-]+", "_", name).strip("._") or "session"


class Recorder(Plugin[RecorderConfig]):
    name: ClassVar[str] = "recorder"
    Config: ClassVar[type[BaseModel]] = RecorderConfig
    wants_encoded: ClassVar[bool] = True
    #: Per instance: off with `record_presentation = false` or `audio_only` (see __init__).
    wants_presentation: ClassVar[bool] = True
    #: About 5 s of audio + 30 fps video: the loop may be busy for a moment.
    media_queue_size: ClassVar[int] = 512

    def __init__(
        self,
        context: Any = None,
        config: RecorderConfig | None = None,
        *,
        alias: str | None = None,
        request_keyframe: Callable[[], object] | None = None,
        request_presentation_keyframe: Callable[[], object] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(context, config)
        self.record_presentation = self.config.record_presentation and not self.config.audio_only
        # The host reads the flag from the instance: no presentation call when not recorded.
        vars(self)["wants_presentation"] = self.record_presentation
        self._alias = alias
        self._request_keyframe = request_keyframe
        self._request_presentation_keyframe = request_presentation_keyframe
        self._clock = clock
        self.folder: Path | None = None
        #: Where the session is uploaded (`s3://bucket/prefix/folder/`); None: not uploaded.
        self.location: str | None = None
        self.writer: Writer | None = None
        self._last_writer: Writer | None = None
        self.error: StorageError | None = None
        self._raised = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._early_controls: list[Action] = []
        self._stopped = False
        self._tasks: set[asyncio.Task[Any]] = set()
        # What the recording is doing as asked from the loop (the writer thread follows).
        self._state: RecordingState = "stopped"
        self._paused_at: float | None = None
        self._paused_total = 0.0
        self._store: RemoteStore | None = None

    @property
    def _ctx(self) -> object:
        # The recorder also runs without a bot (tests, benchmarks): no context then.
        return self.context if self.has_context else None

    # -- lifecycle -----------------------------------------------------------------------

    def _session_folder(self, session: Session) -> Path:
        cfg = self.config
        if cfg.session_folder:
            return Path(cfg.output_dir) / cfg.session_folder
        stamp = session.start_utc.strftime("%Y%m%dT%H%M%SZ")
        return Path(cfg.output_dir) / f"{_safe(session.alias or 'session')}-{stamp}"

    async def prepare(self) -> None:
        """Before joining: `output_dir` must be writable (nothing is created yet); with
        object storage, the credentials readable and the bucket there."""
        try:
            await asyncio.to_thread(check_writable, Path(self.config.output_dir))
        except StorageError as exc:
            self._storage_failed(exc)
            self._raised = True
            raise
        storage = self.config.storage
        if not isinstance(storage, S3Storage):
            return
        try:
            self._store = await asyncio.to_thread(self._open_store, storage)
        except CredentialsError as exc:
            fail = getattr(self._ctx, "fail", None)
            if not callable(fail):
                raise
            fail(FailureReason.CONFIG, f"recorder: {exc}")
            self._raised = True
        except StorageError as exc:
            self._storage_failed(exc)
            self._raised = True
            raise

    @staticmethod
    def _open_store(storage: S3Storage) -> RemoteStore:
        """The store, its bucket checked (blocking: network I/O; raises CredentialsError or
        StorageError; a store that does not answer now is no reason not to record)."""
        store = open_store(storage, read_credentials(storage))
        try:
            store.check()
        except TransientError as exc:
            log.warning("%s; the recording is uploaded when it answers", exc)
        except Exception as exc:
            raise StorageError(f"recorder storage {exc}") from None
        return store

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        if self.config.autostart:
            self.start_recording()
            if self.config.start_paused:
                self.pause()

    async def _start_session(self, first: object) -> None:
        """The bot joined: create the session folder, its timeline and the writer thread.

        The session's origin (the timeline's `t = 0`) is when the bot joined, or, without a
        bot, when the first item came."""
        cfg = self.config
        now = self._clock()
        origin = first.at if isinstance(first, StateChanged) else now
        session = Session(
            origin=origin,
            start_utc=datetime.now(UTC) - timedelta(seconds=now - origin),
            alias=str(self._alias or getattr(self._ctx, "alias", None) or ""),
            conference=str(getattr(self._ctx, "conference_name", None) or ""),
        )
        folder = self._session_folder(session)
        uploader = None
        storage = cfg.storage
        if isinstance(storage, S3Storage):
            try:
                if self._store is None:  # no prepare() (the recorder without a bot)
                    self._store = await asyncio.to_thread(self._open_store, storage)
            except (StorageError, CredentialsError) as exc:
                self._storage_failed(StorageError(str(exc)))
                return
            uploader = Uploader(
                self._store,
                storage,
                folder,
                on_error=self._error_from_thread,
                claim=cfg.session_folder is not None,
            )
        writer = Writer(
            WriterSettings(
                folder=folder,
                container=cfg.container,
                audio_only=cfg.audio_only,
                segment_seconds=cfg.segment_seconds,
                segment_bytes=cfg.segment_bytes,
                video_wait=cfg.video_wait,
                cluster_ms=cfg.cluster_ms,
                continue_session=cfg.continue_session,
                claim_folder=cfg.session_folder is not None,
                reserve_bytes=cfg.reserve_bytes,
            ),
            request_keyframe=self._keyframe_from_thread,
            request_presentation_keyframe=self._presentation_keyframe_from_thread,
            on_error=self._error_from_thread,
            clock=self._clock,
            session=session,
            uploader=uploader,
        )
        try:
            await asyncio.to_thread(writer.start)
        except StorageError as exc:
            self._storage_failed(exc)  # raised from the next hook, or from stop()
            return
        self.folder, self.writer = folder, writer
        if uploader is not None:
            self.location = uploader.location
            log.info("recording to %s (uploaded to %s)", folder, uploader.location)
        else:
            log.info("recording to %s", folder)
        controls, self._early_controls = self._early_controls, []
        for action in controls:  # asked for before the session: they apply from its start
            writer.put(Control(action, origin))

    async def stop(self) -> None:
        self._stopped = True
        writer, self.writer = self.writer, None
        if writer is not None:
            writer.close()
            timeout = self.config.stop_timeout
            storage = self.config.storage
            if isinstance(storage, S3Storage):  # the last uploads are part of the end
                timeout += storage.finish_timeout
            finished = await asyncio.to_thread(writer.join, timeout)
            if not finished:
                log.error("recorder writer did not finish in %.0f s", timeout)
            self._last_writer = writer
        store, self._store = self._store, None
        if store is not None and (writer is None or finished):  # else still uploading
            await asyncio.to_thread(store.close)
        for task in list(self._tasks):
            task.cancel()
        if self.error is not None and not self._raised:
            self._raised = True
            raise self.error

    async def flush(self, timeout: float = 10.0) -> bool:
        """Wait until the writer has handled everything handed to it so far."""
        writer = self.writer
        return writer is not None and await asyncio.to_thread(writer.flush, timeout)

    @property
    def summary(self) -> dict[str, Any] | None:
        writer = self._last_writer or self.writer
        return None if writer is None else writer.summary

    @property
    def summary_path(self) -> Path | None:
        """Where `summary.json` went: the session folder, or (disk full) the temp folder."""
        writer = self._last_writer or self.writer
        return None if writer is None else writer.summary_path

    # -- control -------------------------------------------------------------------------

    def _control(self, action: Action) -> None:
        now = self._clock()
        self._follow(action, now)
        if self.writer is not None:
            self.writer.put(Control(action, now))
        elif not self._stopped:  # applied when the session starts
            self._early_controls.append(action)

    def _follow(self, action: Action, now: float) -> None:
        """The loop side's copy of the writer's state machine (for `status()` and replies)."""
        state = self._state
        if action == "start" and state == "stopped":
            self._state = "recording"
        elif action == "stop" and state != "stopped":
            self._end_pause(now)
            self._state = "stopped"
        elif action == "pause" and state == "recording":
            self._state, self._paused_at = "paused", now
        elif action == "resume" and state == "paused":
            self._end_pause(now)
            self._state = "recording"

    def _end_pause(self, now: float) -> None:
        if self._paused_at is not None:
            self._paused_total += now - self._paused_at
            self._paused_at = None

    def start_recording(self) -> None:
        self._control("start")

    def stop_recording(self) -> None:
        """Finalize the current file; `start_recording()` later opens the next one."""
        self._control("stop")

    def pause(self) -> None:
        """Stop writing media (the file keeps the paused stretch as a gap)."""
        self._control("pause")

    def resume(self) -> None:
        self._control("resume")

    # -- Controllable: driven by other plugins (the chat's `record` command) ----------------

    async def control(self, command: str, args: list[str]) -> str:
        """`start`, `stop`, `pause` or `resume`; a one-line reply, or `ValueError` saying why
        not (already recording, not paused, ...)."""
        verb = command.strip().lower()
        if verb not in ("start", "stop", "pause", "resume"):
            raise ValueError(
                f"unknown recorder command {command!r}: use start, stop, pause or resume"
            )
        if args:
            raise ValueError(f"record {verb} takes no arguments")
        if self.error is not None:
            raise ValueError(f"the recording failed: {self.error}")
        if self._stopped:
            raise ValueError("the recorder has finished")
        state, now = self._state, self._clock()
        if verb == "start":
            if state != "stopped":
                raise ValueError(
                    "already recording" if state == "recording" else "paused: resume it"
                )
            self.start_recording()
            return "recording started"
        if state == "stopped":
            raise ValueError("not recording")
        if verb == "stop":
            self.stop_recording()
            return "recording stopped"
        if verb == "pause":
            if state == "paused":
                raise ValueError("already paused")
            self.pause()
            return f"recording paused at {self._at(now)}"
        if state != "paused":
            raise ValueError("not paused")
        paused = now - (self._paused_at if self._paused_at is not None else now)
        self.resume()
        return f"recording resumed after {paused:.1f} s paused"

    def status(self) -> dict[str, object]:
        """`state` (recording, paused, stopped, failed), `folder`, `paused_seconds`."""
        paused = self._paused_total
        if self._paused_at is not None:
            paused += self._clock() - self._paused_at
        return {
            "state": "failed" if self.error is not None else self._state,
            "folder": None if self.folder is None else str(self.folder),
            "paused_seconds": round(paused, 1),
        }

    def _at(self, now: float) -> str:
        """`now` as the session's h:mm:ss (the timeline's `t`), when there is a session."""
        writer = self.writer
        if writer is None:
            return "the start"
        seconds = max(int(now - writer.session.origin), 0)
        return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"

    # -- items -----------------------------------------------------------------------------

    async def handle(self, item: object) -> None:
        if self.error is not None and not self._raised:
            self._raised = True
            raise self.error
        if self.error is not None or self._stopped:
            return
        if self.writer is None:
            if isinstance(item, StateChanged) and item.new not in _JOINED:
                return  # not in the conference (yet): no session, no folder
            await self._start_session(item)
        writer = self.writer
        if writer is None:
            return
        if isinstance(item, EncodedFrame):
            writer.put(Media(item))
            return
        if isinstance(item, PresentationMedia):
            if self.record_presentation:
                writer.put(Media(item.frame, presentation=True))
            return
        record = record_for(item, self._clock())
        if record is not None:
            writer.put(Event(record))

    # -- from the writer thread --------------------------------------------------------------

    def _keyframe_from_thread(self) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._ask_keyframe)

    def _presentation_keyframe_from_thread(self) -> None:
        # Without one given to the constructor or offered by the context, the presentation
        # track just waits for the presenter's next keyframe.
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._ask_keyframe, True)

    def _ask_keyframe(self, presentation: bool = False) -> None:
        if presentation:
            request = self._request_presentation_keyframe or getattr(
                self._ctx, "request_presentation_keyframe", None
            )
        else:
            request = self._request_keyframe or getattr(self._ctx, "request_keyframe", None)
        if request is None:
            return
        try:
            result = request()
        except Exception:
            log.exception("keyframe request failed")
            return
        if inspect.isawaitable(result):
            task = asyncio.ensure_future(result)
            self._tasks.add(task)
            task.add_done_callback(self._keyframe_done)

    def _keyframe_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("keyframe request failed: %s", task.exception())

    def _error_from_thread(self, exc: StorageError) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._storage_failed, exc)

    def _storage_failed(self, exc: StorageError) -> None:
        self.error = exc
        fail = getattr(self._ctx, "fail", None)
        if callable(fail):
            try:
                fail(FailureReason.STORAGE, str(exc))
            except Exception:
                log.exception("reporting the storage failure failed")
            else:
                # Reported: the bot fails with `storage` and says why in one line; raising
                # it from the next hook as well would only add tracebacks to the log.
                self._raised = True
