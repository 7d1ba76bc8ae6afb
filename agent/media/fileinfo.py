"""Media files: opening one with a clear error, and checking it before joining (PyAV only,
no numpy: a bot imports this whatever it sends)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import av


class MediaSourceError(ValueError):
    """A media file that cannot be played: missing, unreadable, or without the stream asked
    for. The message is one line naming the file."""


def open_media_file(path: Path) -> Any:
    """`av.open(path)`, or `MediaSourceError` naming the file and why."""
    try:
        return av.open(str(path))
    except (OSError, av.FFmpegError) as exc:
        # strerror: "No such file or directory" rather than "[Errno 2] ...: '/path'".
        why = getattr(exc, "strerror", None) or str(exc)
        raise MediaSourceError(f"cannot open {path}: {why}") from None


def check_media_file(path: str | Path, *, audio: bool = False, video: bool = False) -> None:
    """Raise `MediaSourceError` unless `path` opens and has each stream asked for."""
    path = Path(path)
    with open_media_file(path) as container:
        for kind, wanted, streams in (
            ("audio", audio, container.streams.audio),
            ("video", video, container.streams.video),
        ):
            if wanted and not streams:
                raise MediaSourceError(f"cannot play {path} as {kind}: it has no {kind} stream")
