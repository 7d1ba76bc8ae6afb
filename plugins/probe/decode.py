"""Decoding what the probe receives, in one worker thread, in batches.

The probe takes the received media as encoded frames (no decoding in the bot) and decodes
them here, a batch every `BATCH_SECONDS`: Opus for the audio markers, VP8 for the frame
counters and the freezes. Handing each decoded frame from a decoder thread to the event
loop would cost more than the codecs; one hand-off per batch does not, and the longer the
batch, the more frames the decoders take back to back, with their state still in the
CPU's caches (0.5 s instead of 0.1 s: the probe costs a tenth less). Nothing measured
depends on when a batch is decoded: every figure comes from the frames' arrival times.
Only detection runs in the thread (the marker detector is the thread's alone); matching
against what was sent happens on the loop, where the sources record their send times.

Times are the encoded frames' arrivals (complete frames, on the bot's clock).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
from dataclasses import dataclass, field
from typing import Any

import av

from agent import AudioMarkerDetector, AudioOnset, EncodedFrame, read_frame_counter

log = logging.getLogger(__name__)

BATCH_SECONDS = 0.5


@dataclass
class Decoded:
    """What one batch showed."""

    onsets: list[AudioOnset] = field(default_factory=list)
    pictures: list[tuple[float, int | None]] = field(default_factory=list)  # arrival, counter
    resolution: str | None = None
    errors: int = 0


class BatchDecoder:
    """Collects encoded frames on the loop; `flush()` decodes them in the worker thread."""

    def __init__(self, detector: AudioMarkerDetector | None) -> None:
        self._detector = detector
        self._pending: list[EncodedFrame] = []
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None
        self._audio: Any = None
        self._video: Any = None
        self.errors = 0

    def feed(self, frame: EncodedFrame) -> None:
        self._pending.append(frame)

    async def flush(self) -> Decoded:
        batch, self._pending = self._pending, []
        if not batch:
            return Decoded()
        if self._pool is None:
            self._pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="probe-decode")
        decoded = await asyncio.get_running_loop().run_in_executor(self._pool, self._decode, batch)
        self.errors += decoded.errors
        return decoded

    def _decode(self, batch: list[EncodedFrame]) -> Decoded:
        out = Decoded()
        for frame in batch:
            try:
                if frame.kind == "audio" and frame.codec == "opus":
                    self._decode_audio(frame, out)
                elif frame.kind == "video" and frame.codec == "vp8":
                    self._decode_video(frame, out)
            except av.FFmpegError:
                out.errors += 1  # a frame broken by loss: the next keyframe repairs it
        return out

    def _decode_audio(self, frame: EncodedFrame, out: Decoded) -> None:
        if self._detector is None:
            return
        if self._audio is None:
            self._audio = av.CodecContext.create("opus", "r")
            self._audio.sample_rate = 48000
            self._audio.layout = "mono"  # the detector reads one channel: decode one
        for audio in self._audio.decode(av.Packet(frame.data)):
            onset = self._detector.feed(audio, frame.arrival)
            if onset is not None:
                out.onsets.append(onset)

    def _decode_video(self, frame: EncodedFrame, out: Decoded) -> None:
        if self._video is None:
            self._video = av.CodecContext.create("vp8", "r")
            self._video.thread_count = 1  # this worker is the probe's one decoding thread
        for picture in self._video.decode(av.Packet(frame.data)):
            out.pictures.append((frame.arrival, read_frame_counter(picture)))
            out.resolution = f"{picture.width}x{picture.height}"

    def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)
