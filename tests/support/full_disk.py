"""A real, small filesystem to fill up: a tmpfs mounted for one test.

Mounting needs root (the test machines and CI run as root). When it cannot be mounted the
test fails, saying why: a disk-full test that silently skips proves nothing.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest


@contextlib.contextmanager
def small_filesystem(where: Path, size: int) -> Iterator[Path]:
    """A tmpfs of `size` bytes mounted at `where` (created) until the block ends."""
    where.mkdir(parents=True, exist_ok=True)
    mount = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(where)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mount.returncode != 0:
        pytest.fail(
            f"cannot mount a {size}-byte tmpfs at {where} (the disk-full tests need root "
            f"and mount): {mount.stderr.strip() or mount.returncode}"
        )
    try:
        yield where
    finally:
        if subprocess.run(["umount", str(where)], check=False).returncode != 0:
            subprocess.run(["umount", "-l", str(where)], check=False)  # busy: detach lazily


def free_bytes(path: Path) -> int:
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


def fill(folder: Path, leave: int) -> Path:
    """A filler file in `folder` that leaves about `leave` bytes free on its filesystem."""
    filler = folder / "filler"
    size = max(0, free_bytes(folder) - leave)
    with filler.open("wb") as f:
        f.write(bytes(size))
    return filler
