"""One media file: encoded Opus/VP8 packets muxed into WebM/Matroska without transcoding.

The container only: what the packets hold (key frames, durations) is `agent.media.codecs`'
business, and which packets go to which file the track's (`track.py`).

Crash safety: FFmpeg's Matroska muxer writes the Segment with an unknown size, reserves an
11-byte Void in `Info` for the Duration and fills it only in the trailer, so a file whose
writer was SIGKILLed has clusters a player can read but no duration. While writing, this
module fills that Void with a provisional Duration element of the same size (pwrite on its
own descriptor, from the writer thread, between muxer calls) each time a cluster reaches
the disk; the trailer overwrites it with the exact value on a clean close. The provisional
value is the timestamp of a packet already written in an earlier flushed cluster, so it
understates rather than overstates what is on disk (by about one cluster, ~1 s).
"""

from __future__ import annotations

import logging
import os
import struct
from fractions import Fraction
from pathlib import Path
from typing import Any, Literal

import av

from .storage import StorageError, failed

log = logging.getLogger(__name__)

MS = Fraction(1, 1000)
Container = Literal["webm", "matroska"]
EXTENSIONS: dict[str, str] = {"webm": "webm", "matroska": "mkv"}
DEFAULT_SIZE = (640, 480)

_SEGMENT_ID = b"\x18\x53\x80\x67"
_INFO_ID = b"\x15\x49\xa9\x66"
_VOID_ID = 0xEC
_DURATION_ID = b"\x44\x89"


def _vint(buf: bytes, pos: int) -> tuple[int, int, bool]:
    """An EBML variable-size integer at `pos`: (value, length, all-ones i.e. unknown)."""
    first = buf[pos]
    length = 1
    mask = 0x80
    while length <= 8 and not first & mask:
        mask >>= 1
        length += 1
    if length > 8 or pos + length > len(buf):
        raise ValueError("bad EBML size")
    value = first & (mask - 1)
    for b in buf[pos + 1 : pos + length]:
        value = (value << 8) | b
    return value, length, value == (1 << (7 * length)) - 1


def find_duration_slot(head: bytes) -> int | None:
    """Offset of the 11-byte Void reserved for Duration in Segment/Info, if there is one."""
    seg = head.find(_SEGMENT_ID)
    if seg < 0:
        return None
    try:
        _, size_len, _ = _vint(head, seg + 4)
        pos = seg + 4 + size_len
        while pos + 4 < len(head):
            if head[pos] == _VOID_ID:
                id_len = 1
            else:
                _, id_len, _ = _vint(head, pos)  # element IDs are vint-shaped
            elem_id = head[pos : pos + id_len]
            size, size_len, _ = _vint(head, pos + id_len)
            body = pos + id_len + size_len
            if elem_id == _INFO_ID:
                end = min(body + size, len(head))
                child = body
                while child + 2 < end:
                    cid_len = 1 if head[child] == _VOID_ID else _vint(head, child)[1]
                    csize, csize_len, _ = _vint(head, child + cid_len)
                    total = cid_len + csize_len + csize
                    if head[child] == _VOID_ID and total == 11:
                        return child
                    child += total
                return None
            pos = body + size
    except (ValueError, IndexError):
        return None
    return None


def duration_element(ms: float) -> bytes:
    """A Matroska Duration element (float64, in TimestampScale units = ms): 11 bytes."""
    return _DURATION_ID + b"\x88" + struct.pack(">d", float(ms))


class MediaFile:
    """One WebM/Matroska file being written; every method runs on the writer thread."""

    def __init__(
        self,
        path: Path,
        container: Container,
        *,
        video_size: tuple[int, int] | None,
        audio: bool = True,
        cluster_ms: int = 1000,
    ) -> None:
        self.path = path
        self.bytes = 0
        self.first_ms: int | None = None
        self.end_ms = 0  # end of the last packet written (ms, file time)
        self.packets = 0
        self._last_pts: dict[str, int] = {}
        self._slot: int | None = None
        self._slot_fd: int | None = None
        self._slot_checked = False
        self._size_on_disk = 0
        self._durable_candidate = 0
        self._closed = False
        self._chapters: list[dict[str, Any]] = []
        try:
            self._out: Any = av.open(
                str(path),
                "w",
                format=container,
                options={
                    "flush_packets": "1",
                    "cluster_time_limit": str(cluster_ms),
                    # Hold packets at most 100 ms for interleaving (default 10 s): a stream
                    # that goes quiet must not keep the others from reaching the disk.
                    "max_interleave_delta": "100000",
                },
            )
            self._streams: dict[str, Any] = {}
            if video_size is not None:
                width, height = video_size
                self._streams["video"] = self._out.add_mux_stream("vp8", width=width, height=height)
            if audio:
                # A codec context (never used to encode) so the OpusHead private data is written.
                stream = self._out.add_stream("libopus", rate=48000, layout="stereo")
                stream.codec_context.open()
                self._streams["audio"] = stream
        except (OSError, av.FFmpegError) as exc:
            raise StorageError(f"cannot create {path}: {exc}") from exc

    def add_chapter(self, title: str, start_ms: float, end_ms: float) -> None:
        """A chapter (a marker players show) over `start_ms`..`end_ms` of file time.

        FFmpeg's Matroska muxer writes chapters added after the header in the trailer: a
        file whose writer was killed keeps its media but not its chapters (the timeline
        keeps the same marks)."""
        start = max(round(start_ms), 0)
        self._chapters.append(
            {
                "id": len(self._chapters) + 1,
                "start": start,
                "end": max(round(end_ms), start),
                "time_base": MS,
                "metadata": {"title": title},
            }
        )
        try:
            self._out.set_chapters(list(self._chapters))
        except (
            AttributeError,
            ValueError,
            av.FFmpegError,
        ) as exc:  # an older PyAV: no set_chapters
            log.warning("no chapter %r in %s: %s", title, self.path, exc)

    @property
    def kinds(self) -> set[str]:
        return set(self._streams)

    def write(self, kind: str, data: bytes, pts_ms: int, duration_ms: int = 0) -> None:
        stream = self._streams.get(kind)
        if stream is None:
            return
        pts_ms = max(pts_ms, self._last_pts.get(kind, 0))
        self._last_pts[kind] = pts_ms
        packet = av.Packet(data)
        packet.pts = packet.dts = pts_ms
        packet.time_base = MS
        if duration_ms:
            packet.duration = duration_ms
        packet.stream = stream
        try:
            self._out.mux(packet)
        except (OSError, av.FFmpegError) as exc:
            raise failed(f"writing {self.path}", exc) from exc
        if self.first_ms is None:
            self.first_ms = pts_ms
        self.end_ms = max(self.end_ms, pts_ms + duration_ms)
        self.packets += 1
        self.bytes += len(data)
        self._after_write(pts_ms)

    def _after_write(self, pts_ms: int) -> None:
        try:
            size = os.stat(self.path).st_size
        except OSError as exc:
            raise StorageError(f"{self.path} is gone: {exc}") from exc
        if size <= self._size_on_disk:
            return
        # A cluster reached the disk: everything muxed before the previous flush is on it.
        self._size_on_disk = size
        durable, self._durable_candidate = self._durable_candidate, pts_ms
        if not self._slot_checked:
            self._find_slot()
        if self._slot_fd is not None and self._slot is not None and durable > 0:
            try:
                os.pwrite(self._slot_fd, duration_element(durable), self._slot)
            except OSError as exc:
                raise failed(f"writing {self.path}", exc) from exc

    def _find_slot(self) -> None:
        self._slot_checked = True
        try:
            with open(self.path, "rb") as f:
                head = f.read(4096)
            self._slot = find_duration_slot(head)
            if self._slot is not None:
                self._slot_fd = os.open(self.path, os.O_WRONLY)
        except OSError as exc:
            log.warning("no provisional duration for %s: %s", self.path, exc)
            self._slot = None
        if self._slot is None:
            log.warning("no Duration slot found in %s; a crash leaves no duration", self.path)

    def close(self) -> None:
        """Finalize (trailer: duration, cues). Raises StorageError if that fails."""
        if self._closed:
            return
        self._closed = True
        if self._slot_fd is not None:
            os.close(self._slot_fd)
            self._slot_fd = None
        try:
            self._out.close()
        except (OSError, av.FFmpegError) as exc:
            raise failed(f"finalizing {self.path}", exc) from exc

    def abandon(self) -> None:
        """Close after a failure, ignoring errors: what reached the disk stays readable."""
        try:
            self.close()
        except StorageError as exc:
            # The recording already failed and said so; this is its consequence.
            log.debug("%s", exc)
