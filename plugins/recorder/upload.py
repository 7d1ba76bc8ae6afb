"""Uploading a session from its spool folder to object storage, on a thread of its own.

The writer hands over each file as it closes (`add`), with a copy of `timeline.jsonl` as
it is at that moment (so that a process continuing the session elsewhere has the timeline
so far), and at the end (`finish`) the timeline, the chart and the summary, which says
what went up and what did not. Files go up in the order they were handed over; an upload
counts once the object's size, read back, is the file's (the library checksums the bytes
on the way). Transient failures are retried with a backoff, a bounded number of tries per
outage (`agent.Budget`); a permanent one, or the budget spent, stops the uploads and is
reported once through `on_error` (the recording fails with reason `storage`): the spool
keeps everything, playable, and the summary lists what was not uploaded.

A named session folder (a service job) is claimed in the store too (a `.owner` object):
an earlier process that comes back finds it taken and uploads nothing more, so it cannot
overwrite what its successor uploads.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from agent import Backoff, Budget

from .config import S3Storage
from .remote import PermanentError, RemoteError, RemoteFile, RemoteStore, TransientError
from .storage import StorageError
from .summary import save_summary

log = logging.getLogger(__name__)

T = TypeVar("T")

TIMELINE = "timeline.jsonl"
SUMMARY = "summary.json"
CHART = "speakers.png"
CLAIM = ".owner"
#: Seconds of health after which an outage's budget of tries is whole again.
RESET_AFTER = 60.0
#: Tries of what continuing a session needs from the store (the session's start waits).
PULL_TRIES = 2


@dataclass
class _Job:
    name: str
    #: Upload the complete lines the file has now (a file still being written).
    snapshot: bool = False
    #: Store this process's claim on the session.
    claim: bool = False
    done: threading.Event | None = None


@dataclass
class UploadStatus:
    """What this process uploaded, and what it could not."""

    uploaded: list[str] = field(default_factory=list)
    not_uploaded: list[str] = field(default_factory=list)
    retries: int = 0
    error: str | None = None
    #: The spool folder was deleted (`delete_uploaded`, everything up).
    deleted_local: bool = False


class Uploader:
    def __init__(
        self,
        store: RemoteStore,
        settings: S3Storage,
        folder: Path,
        *,
        on_error: Callable[[StorageError], None] | None = None,
        claim: bool = False,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.settings = settings
        self.folder = folder
        self.status = UploadStatus()
        self._on_error = on_error
        self._claim = secrets.token_hex(8) if claim else None
        self._clock = clock
        self._queue: queue.SimpleQueue[_Job] = queue.SimpleQueue()
        self._pending: list[str] = []  # handed over, not yet up (files only)
        self._lock = threading.Lock()
        self._snapshot_queued = False
        self._stopped = threading.Event()  # no more uploads: failed, superseded or over
        self._budget = Budget(
            settings.upload_attempts,
            reset_after=RESET_AFTER,
            backoff=Backoff(base=0.5, max_delay=settings.upload_max_delay),
            now=clock,
        )
        self._thread = threading.Thread(target=self._run, name="recorder-upload", daemon=True)

    @property
    def location(self) -> str:
        """`s3://bucket/prefix/<session folder>/`."""
        return f"{self.store.url}{self.folder.name}/"

    def _name(self, name: str) -> str:
        return f"{self.folder.name}/{name}"

    # -- the writer thread's side ----------------------------------------------------------

    def open(self, *, continuing: bool) -> list[RemoteFile]:
        """Claim the session (a named folder) and start the thread. `continuing`: bring
        what the store has of the session that the spool lacks (the timeline so far, an
        earlier summary), queue the spool's files the store lacks (an earlier process's),
        and return the store's files for the writer's scan. Raises StorageError when the
        store refuses (a transient failure only costs the earlier part of the session)."""
        remote: list[RemoteFile] = []
        if self._claim is not None and not continuing:  # the first upload, not a wait here
            self._queue.put(_Job(CLAIM, claim=True))
        try:
            if self._claim is not None and continuing:
                # Claimed before the listing: a predecessor that comes back stops uploading.
                self._pull_try(lambda: self.store.put_bytes(self._claim_bytes, self._name(CLAIM)))
            if continuing:
                remote = self._pull_try(lambda: self.store.list(self.folder.name))
                self._pull(remote)
        except PermanentError as exc:
            raise StorageError(str(exc)) from None
        except TransientError as exc:
            log.warning("continuing without the stored part of the session: %s", exc)
        if continuing:
            self._catch_up(remote)
        self._thread.start()
        return remote

    @property
    def _claim_bytes(self) -> bytes:
        return (self._claim or "").encode()

    def _pull_try(self, call: Callable[[], T]) -> T:
        for attempt in range(PULL_TRIES):
            try:
                return call()
            except TransientError:
                if attempt == PULL_TRIES - 1:
                    raise
                time.sleep(0.5 * 2**attempt)
        raise AssertionError("unreachable")

    def _pull(self, remote: list[RemoteFile]) -> None:
        """The stored timeline (when longer than the spool's) and summary (when the spool
        has none): the session's earlier part, recorded elsewhere."""
        sizes = {f.name: f.size for f in remote}
        for name in (TIMELINE, SUMMARY):
            path = self.folder / name
            local = path.stat().st_size if path.exists() else -1
            if sizes.get(name, -1) <= local or (name == SUMMARY and local >= 0):
                continue
            data = self._pull_try(partial(self.store.get_bytes, self._name(name)))
            if data is not None:
                path.write_bytes(data)
                log.info("%s of the session taken from %s", name, self.location)

    def _catch_up(self, remote: list[RemoteFile]) -> None:
        """Queue the spool's files an earlier process did not get up (its media files, of
        another size or missing in the store); the timeline goes up with the next."""
        sizes = {f.name: f.size for f in remote}
        with contextlib.suppress(OSError):
            for path in sorted(self.folder.iterdir()):
                name = path.name
                if (
                    name.startswith(".")
                    or name in (TIMELINE, SUMMARY, CHART)
                    or name.endswith(".tmp")
                ):
                    continue
                if path.is_file() and sizes.get(name) != path.stat().st_size:
                    self.add(name)

    def add(self, name: str) -> None:
        """A file of the spool folder that is complete: up it goes, then the timeline."""
        with self._lock:
            self._pending.append(name)
        self._queue.put(_Job(name))
        self.checkpoint()

    def checkpoint(self) -> None:
        """Upload the timeline as it is now (once, however often asked while queued)."""
        with self._lock:
            if self._snapshot_queued:
                return
            self._snapshot_queued = True
        self._queue.put(_Job(TIMELINE, snapshot=True))

    def finish(self, summary: dict[str, Any]) -> tuple[dict[str, Any], Path | None]:
        """The session's end (the timeline and chart are closed): upload them, wait for
        everything (at most `finish_timeout` s), write the summary with the storage's part
        and upload it last. Returns the summary and where it is on the local disk."""
        deadline = self._clock() + self.settings.finish_timeout
        for name in (TIMELINE, CHART):
            if (self.folder / name).exists():
                self.add_final(name)
        self._wait(deadline)
        doc = self._with_status(summary)
        path = save_summary(self.folder, doc)
        if path == self.folder / SUMMARY and not self._stopped.is_set():
            self.add_final(SUMMARY)
            self._wait(deadline)
        else:
            self._note_failed(SUMMARY)
        if SUMMARY not in self.status.uploaded:  # the summary on disk must say so
            doc = self._with_status(summary)
            path = save_summary(self.folder, doc)
        self._stopped.set()
        self._queue.put(_Job(""))  # ends the thread
        if not doc["storage"]["not_uploaded"]:
            log.info("%d files uploaded to %s", len(self.status.uploaded), self.location)
        if self.settings.delete_uploaded and self._all_up():
            self._delete_spool()
            path = None if self.status.deleted_local else path
        return doc, path

    def add_final(self, name: str) -> None:
        with self._lock:
            self._pending.append(name)
        self._queue.put(_Job(name))

    def abandon(self) -> None:
        """Upload nothing more (the session went to another process)."""
        self._stopped.set()
        self._queue.put(_Job(""))

    def join(self, timeout: float | None = None) -> bool:
        if self._thread.is_alive():
            self._thread.join(timeout)
        return not self._thread.is_alive()

    def _wait(self, deadline: float) -> None:
        done = threading.Event()
        self._queue.put(_Job("", done=done))
        in_time = self._thread.is_alive() and done.wait(max(deadline - self._clock(), 0.0))
        if not in_time and not self._stopped.is_set():
            self._give_up(f"uploads not finished in {self.settings.finish_timeout:g} s")

    def _with_status(self, summary: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            status = self.status
            missing = [*status.not_uploaded, *self._pending]
            storage = {
                "kind": "s3",
                "location": self.location,
                "uploaded": list(status.uploaded),
                "not_uploaded": sorted(set(missing), key=missing.index),
                "retries": status.retries,
                "error": status.error,
            }
        return {**summary, "storage": storage, "error": summary.get("error") or status.error}

    def _all_up(self) -> bool:
        with self._lock:
            return not self._pending and not self.status.not_uploaded and not self.status.error

    def _delete_spool(self) -> None:
        """Everything is up: the spool folder goes (what this process left in it)."""
        for path in list(self.folder.iterdir()):
            if path.is_file():
                with contextlib.suppress(OSError):
                    path.unlink()
        try:
            self.folder.rmdir()
        except OSError as exc:
            log.warning("spool folder %s kept: %s", self.folder, exc.strerror or exc)
            return
        self.status.deleted_local = True
        log.info("spool folder %s deleted: everything is in %s", self.folder, self.location)

    # -- the upload thread -------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            job = self._queue.get()
            if job.done is not None:
                job.done.set()
                continue
            if not job.name:
                return
            if job.snapshot:
                with self._lock:
                    self._snapshot_queued = False
            if self._stopped.is_set():
                if not (job.snapshot or job.claim):
                    self._note_failed(job.name)
                continue
            try:
                self._upload(job)
            except Exception:  # a bug must not leave the queue unserved
                log.exception("recorder upload of %s failed", job.name)
                self._note_failed(job.name)

    def _upload(self, job: _Job) -> None:
        path = self.folder / job.name
        # A snapshot that fails is no file lost: the timeline goes up again at the end.
        failed = None if job.snapshot or job.claim else job.name
        while True:
            try:
                if job.claim:
                    self.store.put_bytes(self._claim_bytes, self._name(CLAIM))
                    return
                if self._superseded():
                    return
                if job.snapshot:
                    self._put_snapshot(path)
                    return
                size = path.stat().st_size
                stored = self.store.put_file(path, self._name(job.name))
                if stored != size:
                    raise TransientError(f"{job.name}: {stored} bytes stored of {size}")
                self._uploaded(job.name)
                return
            except OSError as exc:
                if failed is not None:
                    self._note_failed(failed)
                    log.warning("%s not uploaded: %s", path, exc.strerror or exc)
                return
            except PermanentError as exc:
                self._give_up(str(exc), failed)
                return
            except TransientError as exc:
                delay = self._budget.take()
                if delay is None:
                    tries = self.settings.upload_attempts
                    self._give_up(f"{exc} (after {tries} tries)", failed)
                    return
                self.status.retries += 1
                log.warning("%s; trying again in %.1f s", exc, delay)
                if self._stopped.wait(delay):
                    if failed is not None:
                        self._note_failed(failed)
                    return

    def _put_snapshot(self, path: Path) -> None:
        data = path.read_bytes()
        data = data[: data.rfind(b"\n") + 1]  # complete lines only: it is being appended
        if data:
            self.store.put_bytes(data, self._name(path.name))

    def _superseded(self) -> bool:
        if self._claim is None:
            return False
        try:
            held = self.store.get_bytes(self._name(CLAIM))
        except TransientError:
            return False  # the upload's own retry tells
        if held is None or held == self._claim_bytes:
            return False
        log.warning("%s is recorded by another process now: no more uploads", self.location)
        self.abandon()
        return True

    def _uploaded(self, name: str) -> None:
        with self._lock:
            if name in self._pending:
                self._pending.remove(name)
            if name not in self.status.uploaded:
                self.status.uploaded.append(name)
        media = name not in (TIMELINE, SUMMARY, CHART)
        if media and self.settings.delete_uploaded:
            with contextlib.suppress(OSError):
                (self.folder / name).unlink()

    def _note_failed(self, name: str) -> None:
        with self._lock:
            if name in self._pending:
                self._pending.remove(name)
            if name not in self.status.not_uploaded:
                self.status.not_uploaded.append(name)

    def _give_up(self, why: str, name: str | None = None) -> None:
        """The uploads stop: said once (the recording fails with reason `storage`)."""
        if name is not None:
            self._note_failed(name)
        with self._lock:
            first = self.status.error is None
            if first:
                self.status.error = why
        self._stopped.set()
        if first:
            log.error("upload failed: %s (the spool %s keeps everything)", why, self.folder)
            if self._on_error is not None:
                self._on_error(StorageError(why))


__all__ = ["RemoteError", "UploadStatus", "Uploader"]
