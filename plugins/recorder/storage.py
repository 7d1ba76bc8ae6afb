"""Where recordings go: the storage error, the pre-join check of the output folder, and the
room kept for the end of a session."""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import tempfile
from pathlib import Path

log = logging.getLogger(__name__)


class StorageError(OSError):
    """The recording cannot be written (disk full, folder not writable, ...).

    The runtime maps it to failure reason `storage`; what was written stays playable."""


def check_writable(folder: Path) -> None:
    """Raise `StorageError` unless files can be created in `folder`, or, while it does not
    exist yet, in the nearest existing folder above it. Leaves nothing behind."""
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise StorageError(f"recording folder {folder} is not writable: {existing} is not a folder")
    try:
        fd, probe = tempfile.mkstemp(prefix=".pexbot-write-test-", dir=existing)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        why = exc.strerror or str(exc)
        raise StorageError(f"recording folder {folder} is not writable: {why}") from None


def failed(what: str, exc: BaseException) -> StorageError:
    """One line for a failed write: `writing PATH failed: No space left on device` (the
    system's reason once, not `[Errno 28] ...: 'PATH'` repeating the path)."""
    return StorageError(f"{what} failed: {getattr(exc, 'strerror', None) or exc}")


#: The name of the reserve file in a session folder.
RESERVE_NAME = ".pexbot-reserve"


class Reserve:
    """Room kept for the end of a session: a file of `size` bytes allocated when the session
    starts and given back when the disk fills up or the session ends, so that the media
    files' ends, the timeline's last line and `summary.json` can still be written.

    Allocated with `posix_fallocate` (really taken from the filesystem), or by writing zeros
    where that is not supported."""

    def __init__(self, folder: Path, size: int) -> None:
        self.path = folder / RESERVE_NAME
        self.size = size
        self.held = False

    def claim(self) -> None:
        """Take the room (raises StorageError when the disk does not have it)."""
        if self.size <= 0:
            return
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                self._allocate(fd)
            finally:
                os.close(fd)
        except OSError as exc:
            with contextlib.suppress(OSError):
                self.path.unlink()
            raise StorageError(
                f"recording folder {self.path.parent} has no room for the recording "
                f"({self.size} bytes kept for its summary): {exc.strerror or exc}"
            ) from None
        self.held = True

    def _allocate(self, fd: int) -> None:
        try:
            os.posix_fallocate(fd, 0, self.size)
            return
        except OSError as exc:
            if exc.errno not in (errno.EOPNOTSUPP, errno.EINVAL, errno.ENOSYS):
                raise
        block = bytes(min(self.size, 1 << 16))
        left = self.size
        while left > 0:
            left -= os.write(fd, block[:left])

    def release(self) -> None:
        """Give the room back (safe to call more than once)."""
        if not self.held:
            return
        self.held = False
        try:
            self.path.unlink()
        except FileNotFoundError:
            pass
        except OSError as exc:
            log.debug("cannot remove %s: %s", self.path, exc)
