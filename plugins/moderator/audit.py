"""The audit trail: one JSON line per decision in `moderator.jsonl`, written off the loop.

`record()` never blocks: lines go to a queue that a task drains, writing each batch in a
worker thread and flushing it, so a slow disk delays only the audit, never the bot or the
rule engine. `aclose()` writes what is queued and closes the file.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import tempfile
from pathlib import Path
from typing import IO, Any

__all__ = ["AuditError", "AuditLog", "check_writable"]

log = logging.getLogger(__name__)


class AuditError(OSError):
    """The audit file cannot be written."""


def check_writable(path: Path) -> None:
    """Raise `AuditError` unless `path` can be appended to (its folder must exist)."""
    folder = path.parent
    if not folder.is_dir():
        raise AuditError(f"audit file {path}: folder {folder} does not exist")
    if path.exists():
        if not os.access(path, os.W_OK):
            raise AuditError(f"audit file {path} is not writable")
        return
    try:
        fd, probe = tempfile.mkstemp(prefix=".pexbot-write-test-", dir=folder)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise AuditError(f"audit file {path}: {exc.strerror or exc}") from None


class AuditLog:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.lines = 0
        self.errors = 0
        self._queue: asyncio.Queue[str | None] = asyncio.Queue()
        self._file: IO[str] | None = None
        self._task: asyncio.Task[None] | None = None
        self._pending = 0
        self._idle = asyncio.Event()
        self._idle.set()

    async def open(self) -> None:
        self._file = await asyncio.to_thread(self.path.open, "a", encoding="utf-8")
        self._task = asyncio.create_task(self._drain(), name="moderator-audit")

    def record(self, entry: dict[str, Any]) -> None:
        self._pending += 1
        self._idle.clear()
        self._queue.put_nowait(json.dumps(entry, separators=(",", ":"), default=str))

    async def _drain(self) -> None:
        done = False
        while not done:
            batch = [await self._queue.get()]
            while not self._queue.empty():
                batch.append(self._queue.get_nowait())
            done = None in batch
            lines = [line for line in batch if line is not None]
            if lines:
                try:
                    await asyncio.to_thread(self._write, lines)
                    self.lines += len(lines)
                except OSError as exc:
                    if not self.errors:
                        log.warning("moderator: cannot write %s: %s", self.path, exc)
                    self.errors += len(lines)
                self._pending -= len(lines)
                if not self._pending:
                    self._idle.set()

    def _write(self, lines: list[str]) -> None:
        assert self._file is not None
        self._file.write("".join(line + "\n" for line in lines))
        self._file.flush()

    async def flush(self) -> None:
        """Wait until everything recorded so far is written."""
        await self._idle.wait()

    async def aclose(self) -> None:
        if self._task is not None:
            self._queue.put_nowait(None)
            await self._task
            self._task = None
        if self._file is not None:
            await asyncio.to_thread(self._file.close)
            self._file = None
