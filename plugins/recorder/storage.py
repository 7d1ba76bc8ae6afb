"""Where recordings go: the storage error and the pre-join check of the output folder."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


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
