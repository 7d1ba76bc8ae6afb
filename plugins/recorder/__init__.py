"""The recording bot: received Opus + VP8 muxed into WebM/Matroska without transcoding.

The plugin's hooks only hand items to a writer thread (`writer.py`), which maps every
track onto the bot's monotonic clock (`clock.py`), starts video at a keyframe, writes the
media files (`mux.py`), `timeline.jsonl` (`timeline.py`) and, at the end, `summary.json`
and `speakers.png` (`summary.py`). Output: `<output_dir>/<alias>-<UTC start>/`.

Presentation: with `record_presentation` (the default, not in audio-only mode) the plugin
sets `wants_presentation`, so the bot places a receive-only presentation call while
someone else presents; its VP8 frames (`PresentationMedia`) go to their own files,
`presentation-NNN.webm`, listed with their start offsets in `summary.json`.

Control: `autostart`/`start_paused` in the config; `start_recording()`, `stop_recording()`,
`pause()`, `resume()` on the plugin. A storage failure raises `StorageError` (from the next
hook and from `stop()`), and is reported through `context.fail(FailureReason.STORAGE, ...)`
when the runtime's context offers it.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from agent.media.tap import EncodedFrame
from agent.runtime.plugins import Plugin
from agent.runtime.presentation import PresentationMedia
from agent.runtime.states import FailureReason

from .mux import StorageError
from .records import record_for
from .writer import Writer, WriterSettings

__all__ = ["Recorder", "RecorderConfig", "StorageError"]

log = logging.getLogger(__name__)


class RecorderConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    output_dir: str = "recordings"
    #: Folder name inside `output_dir`; default `<alias>-<UTC start>`.
    session_folder: str | None = None
    container: Literal["webm", "matroska"] = "webm"
    #: No video at all (cheap transcription pipelines).
    audio_only: bool = False
    #: Start a new file at the first keyframe after this many seconds (names sort).
    segment_seconds: float | None = Field(default=None, gt=0)
    #: Start a new file once the current one holds this many bytes (with segment_seconds:
    #: whichever comes first).
    segment_bytes: int | None = Field(default=None, ge=10_000)
    autostart: bool = True
    start_paused: bool = False
    #: Seconds of audio to hold while waiting for the first video keyframe.
    video_wait: float = Field(default=2.0, ge=0)
    #: Matroska cluster length: also how much a crash can lose at most.
    cluster_ms: int = Field(default=1000, ge=100, le=30_000)
    stop_timeout: float = Field(default=30.0, gt=0)
    #: Record the presentation (slides) to its own files; ignored in audio-only mode.
    record_presentation: bool = True
    #: Continue a session an earlier process recorded in `session_folder` (a service job
    #: taken over by another worker): files go on numbering, times go on on its timeline,
    #: and the stretch in between is one `gap` line of kind `resume`. (A named folder is
    #: claimed: an earlier process that comes back stops writing to it.)
    continue_session: bool = False


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
        self.writer: Writer | None = None
        self._last_writer: Writer | None = None
        self.error: StorageError | None = None
        self._raised = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: set[asyncio.Task[Any]] = set()

    # -- lifecycle -----------------------------------------------------------------------

    def _session_folder(self) -> Path:
        cfg = self.config
        if cfg.session_folder:
            return Path(cfg.output_dir) / cfg.session_folder
        alias = self._alias or getattr(self.context, "alias", None) or "session"
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        return Path(cfg.output_dir) / f"{_safe(str(alias))}-{stamp}"

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        cfg = self.config
        self.folder = self._session_folder()
        writer = Writer(
            WriterSettings(
                folder=self.folder,
                container=cfg.container,
                audio_only=cfg.audio_only,
                segment_seconds=cfg.segment_seconds,
                segment_bytes=cfg.segment_bytes,
                video_wait=cfg.video_wait,
                cluster_ms=cfg.cluster_ms,
                continue_session=cfg.continue_session,
                claim_folder=cfg.session_folder is not None,
            ),
            request_keyframe=self._keyframe_from_thread,
            request_presentation_keyframe=self._presentation_keyframe_from_thread,
            on_error=self._error_from_thread,
            clock=self._clock,
        )
        try:
            writer.start()
        except StorageError as exc:
            self._storage_failed(exc)
            self._raised = True
            raise
        self.writer = writer
        log.info("recording to %s", self.folder)
        if cfg.autostart:
            self.start_recording()
            if cfg.start_paused:
                self.pause()

    async def stop(self) -> None:
        writer, self.writer = self.writer, None
        if writer is not None:
            writer.put(("close", None))
            if not await asyncio.to_thread(writer.join, self.config.stop_timeout):
                log.error("recorder writer did not finish in %.0f s", self.config.stop_timeout)
            self._last_writer = writer
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

    # -- control -------------------------------------------------------------------------

    def _control(self, what: str) -> None:
        if self.writer is not None:
            self.writer.put(("control", what, self._clock()))

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

    # -- items -----------------------------------------------------------------------------

    async def handle(self, item: object) -> None:
        writer = self.writer
        if self.error is not None and not self._raised:
            self._raised = True
            raise self.error
        if writer is None or self.error is not None:
            return
        if isinstance(item, EncodedFrame):
            writer.put(item)
            return
        if isinstance(item, PresentationMedia):
            if self.record_presentation:
                writer.put(("presentation", item.frame))
            return
        record = record_for(item, self._clock())
        if record is not None:
            writer.put(("event", record))

    # -- from the writer thread --------------------------------------------------------------

    def _keyframe_from_thread(self) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._ask_keyframe)

    def _presentation_keyframe_from_thread(self) -> None:
        # The runtime has no presentation keyframe request (yet): without one given to the
        # constructor or offered by the context, the writer just waits for a keyframe.
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._ask_keyframe, True)

    def _ask_keyframe(self, presentation: bool = False) -> None:
        if presentation:
            request = self._request_presentation_keyframe or getattr(
                self.context, "request_presentation_keyframe", None
            )
        else:
            request = self._request_keyframe or getattr(self.context, "request_keyframe", None)
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
        fail = getattr(self.context, "fail", None)
        if callable(fail):
            try:
                fail(FailureReason.STORAGE, str(exc))
            except Exception:
                log.exception("reporting the storage failure failed")
