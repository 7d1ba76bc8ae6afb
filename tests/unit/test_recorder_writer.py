"""The recorder's writer thread takes frames in batches (one wake-up per batch, not one per
frame) and still writes every frame, in order."""

from __future__ import annotations

import itertools
import threading
import time
from pathlib import Path

from agent.media.pacing import OPUS_SILENCE
from agent.media.tap import EncodedFrame
from plugins.recorder.items import Control, Media
from plugins.recorder.writer import Writer, WriterSettings


def _frame(n: int, at: float) -> EncodedFrame:
    return EncodedFrame("opus", OPUS_SILENCE, n * 960, at, 48000, "audio")


def _run(folder: Path, batch: float) -> tuple[list[float], int]:
    writer = Writer(WriterSettings(folder, audio_only=True, batch_seconds=batch))
    handled: list[float] = []
    media = writer._media

    def timed(item: Media) -> None:
        assert threading.current_thread() is writer._thread
        handled.append(time.monotonic())
        media(item)

    writer._media = timed  # type: ignore[method-assign]
    writer.start()
    now = time.monotonic()
    writer.put(Control("start", now))
    for n in range(30):  # 20 ms apart, as audio comes
        writer.put(Media(_frame(n, now + n * 0.02)))
        time.sleep(0.02)
    assert writer.flush(5)
    writer.close()
    assert writer.join(10)
    assert writer._main is not None
    return handled, writer._main.stats.frames["audio"]


def _wakes(times: list[float]) -> int:
    return 1 + sum(1 for a, b in itertools.pairwise(times) if b - a > 0.01)


def test_frames_are_written_in_batches(tmp_path: Path) -> None:
    handled, written = _run(tmp_path / "batched", 0.1)
    assert written == 30  # every frame reached the file
    # 0.6 s of frames in batches of ~0.1 s: a handful of wake-ups, not 30.
    assert _wakes(handled) <= 10


def test_batching_off_handles_each_frame_as_it_comes(tmp_path: Path) -> None:
    handled, written = _run(tmp_path / "eager", 0.0)
    assert written == 30
    assert _wakes(handled) >= 20
