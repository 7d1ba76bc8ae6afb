"""Encoded-frame tap: received VP8 frames / Opus packets, without decoding.

aiortc has no public hook for encoded media. Inside `RTCRtpReceiver._handle_rtp_packet`,
after depayloading and jitter-buffer reassembly, every complete frame is put as
`(codec, JitterFrame(data, timestamp))` on a private per-receiver `queue.Queue`
(`RTCRtpReceiver.__decoder_queue`, mangled `_RTCRtpReceiver__decoder_queue`) that a decoder
thread drains. `data` is exactly one VP8 frame or one Opus packet (what WebM stores), and
`timestamp` is the RTP timestamp already unwrapped and made relative to the first frame by
aiortc's TimestampMapper.

We replace that attribute with a proxy queue. `put()` hands the frame to subscribers and
forwards it to the real queue only when decoding is wanted; `get()` delegates, so the
decoder thread works whether it started before or after the swap, and aiortc's stop
sentinel (None) is always forwarded. Decoding off saves the codec *and* the per-frame
thread -> loop hand-off, and stops decoded frames piling up in an unread track queue.

aiortc's jitter buffer hands a frame over late: a video frame when the next one starts
arriving, an Opus packet when the 4th after it arrives (its audio prefetch). `arrival` takes
that hold back out (one frame interval of the stream's RTP timestamps; 4 packet durations
from the Opus TOC), so audio and video that arrive together are stamped together: what
lip-sync figures (the recorder's file, a probe) need.

Subscribers run synchronously on the event loop inside aiortc's packet handler: they must
be cheap (append to a buffer, hand to a thread). An exception in a subscriber is logged and
does not break reception.

aiortc also starts a decoder thread per receiver, which idles for as long as nothing is
decoded. Taps make it lazy: `rtcrtpreceiver.threading` is replaced (once, when the first tap
is made) by a stand-in whose `Thread` starts a receiver's decoder thread only when its tap
turns decoding on; any other thread, and a receiver without a tap, start as before. A bot
that records (encoded frames only) then runs no thread per receiver.

Private API: `pyproject.toml` pins aiortc to 1.16.*; `check_tap_seam` verifies version,
attribute and code shape and raises `RuntimeError("aiortc private seam moved: ...")`;
`tests/unit/test_media_seam.py` fails loudly if it moves.
"""

from __future__ import annotations

import collections
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiortc
from aiortc import RTCRtpReceiver, rtcrtpreceiver
from aiortc.jitterbuffer import JitterFrame

from .codecs import is_keyframe, opus_samples

log = logging.getLogger(__name__)

SEAM_ATTRIBUTE = "_RTCRtpReceiver__decoder_queue"
#: aiortc sends a PLI with the next packet while this event is set (its decode-error path).
PLI_ATTRIBUTE = "_RTCRtpReceiver__decoder_error"
SUPPORTED_AIORTC = "1.16."
#: Opus packets aiortc's audio jitter buffer holds after a packet before handing it over.
AUDIO_PREFETCH = 4
_MAX_HOLD = 0.5  # s: a longer gap between frames is a pause, not buffering
_STEPS_KEPT = 30  # video frame steps the interval estimate looks at


@dataclass(frozen=True, slots=True)
class EncodedFrame:
    """One received encoded frame, as aiortc reassembled it."""

    codec: str  # lower-case codec name: "opus", "vp8", "h264", "pcmu", ...
    data: bytes
    timestamp: int  # RTP timestamp, unwrapped, relative to the stream's first frame
    arrival: float  # the bot's monotonic clock when the frame's last packet arrived (est.)
    clock_rate: int
    kind: str  # "audio" | "video"

    @property
    def is_keyframe(self) -> bool:
        """A VP8 key frame (other codecs: False)."""
        return is_keyframe(self.codec, self.data)


EncodedSubscriber = Callable[[EncodedFrame], None]


def check_tap_seam(receiver: RTCRtpReceiver | None = None) -> None:
    """Raise RuntimeError("aiortc private seam moved: ...") if the tap cannot work."""
    problems = []
    version = getattr(aiortc, "__version__", "?")
    if not version.startswith(SUPPORTED_AIORTC):
        problems.append(f"aiortc {version} is not {SUPPORTED_AIORTC}*")
    handler = getattr(RTCRtpReceiver, "_handle_rtp_packet", None)
    names = getattr(getattr(handler, "__code__", None), "co_names", ())
    if SEAM_ATTRIBUTE not in names or "put" not in names:
        problems.append("RTCRtpReceiver._handle_rtp_packet no longer puts on __decoder_queue")
    if PLI_ATTRIBUTE not in names:
        problems.append("RTCRtpReceiver._handle_rtp_packet no longer checks __decoder_error")
    probe = JitterFrame(b"", 0)
    if not (hasattr(probe, "data") and hasattr(probe, "timestamp")):
        problems.append("JitterFrame lost its data/timestamp attributes")
    if not hasattr(RTCRtpReceiver, "_send_rtcp_pli"):
        problems.append("RTCRtpReceiver._send_rtcp_pli is gone")
    receive = getattr(getattr(RTCRtpReceiver, "receive", None), "__code__", None)
    if receive is None or not {"threading", "Thread", "decoder_worker"} <= set(receive.co_names):
        problems.append("RTCRtpReceiver.receive no longer starts threading.Thread(decoder_worker)")
    if getattr(rtcrtpreceiver, "threading", None) not in (threading, _RECEIVER_THREADING):
        problems.append("aiortc.rtcrtpreceiver has no module global `threading`")
    if receiver is not None:
        current = getattr(receiver, SEAM_ATTRIBUTE, None)
        if not isinstance(current, queue.Queue | _TapQueue):
            problems.append(f"receiver.{SEAM_ATTRIBUTE} is {type(current).__name__}, not a Queue")
        if not isinstance(getattr(receiver, PLI_ATTRIBUTE, None), threading.Event):
            problems.append(f"receiver.{PLI_ATTRIBUTE} is not a threading.Event")
    if problems:
        raise RuntimeError("aiortc private seam moved: " + "; ".join(problems))


class _TapQueue:
    """Stands in for the receiver's decoder queue (only put/get are used by aiortc)."""

    def __init__(self, inner: queue.Queue[Any], tap: EncodedTap) -> None:
        self.inner = inner
        self._tap = tap
        self.thread: _DecoderThread | None = None  # the receiver's, once it asked to start

    def put(self, item: Any, block: bool = True, timeout: float | None = None) -> None:
        if item is not None:
            self._tap._deliver(item)
            if not self._tap._to_decoder(item):
                return
        self.inner.put(item, block, timeout)

    def put_nowait(self, item: Any) -> None:
        self.put(item, block=False)

    def get(self, block: bool = True, timeout: float | None = None) -> Any:
        return self.inner.get(block, timeout)

    def get_nowait(self) -> Any:
        return self.inner.get_nowait()


class _DecoderThread:
    """Stands in for `threading.Thread` in aiortc's receiver: a decoder thread reading a
    tap's queue starts when the tap decodes (at once if it already does)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._thread = threading.Thread(*args, **kwargs)
        call_args = kwargs.get("args", args[3] if len(args) > 3 else ())
        self._queue = call_args[1] if len(call_args) > 1 else None
        self._wanted = False
        self._started = False

    @property
    def name(self) -> str:
        return self._thread.name

    def start(self) -> None:
        self._wanted = True
        tap_queue = self._queue
        if isinstance(tap_queue, _TapQueue) and not tap_queue._tap.decode:
            tap_queue.thread = self  # started by the tap if it ever decodes
            return
        self.start_now()

    def start_now(self) -> None:
        if self._wanted and not self._started:
            self._started = True
            self._thread.start()

    def join(self, timeout: float | None = None) -> None:
        if self._started:
            self._thread.join(timeout)

    def is_alive(self) -> bool:
        return self._started and self._thread.is_alive()


class _ReceiverThreading:
    """`threading` for aiortc's receiver module, with a lazy `Thread` (see the module doc)."""

    Thread = _DecoderThread

    def __getattr__(self, name: str) -> Any:
        return getattr(threading, name)


_RECEIVER_THREADING = _ReceiverThreading()


def _lazy_decoder_threads() -> None:
    if getattr(rtcrtpreceiver, "threading", None) is not _RECEIVER_THREADING:
        setattr(rtcrtpreceiver, "threading", _RECEIVER_THREADING)  # noqa: B010


class EncodedTap:
    """Per-receiver tap of encoded frames; also the switch for decoding.

    `decode` starts False: nothing is decoded until a consumer asks (`decode = True`).
    Turning decoding on mid-stream makes the video decoder wait for a keyframe (frames
    before it would only decode to errors and garbage), which the tap asks for (PLI).
    """

    def __init__(
        self,
        receiver: RTCRtpReceiver,
        *,
        decode: bool = False,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        check_tap_seam(receiver)
        _lazy_decoder_threads()
        current = getattr(receiver, SEAM_ATTRIBUTE)
        if isinstance(current, _TapQueue):
            raise RuntimeError("receiver already has an encoded-frame tap")
        self.receiver = receiver
        self._decode = False
        self._wait_for_key = False
        self.decode = decode
        # Arrivals are stamped on the bot's clock, so media lines up with its events.
        self._clock = clock
        self.frames = 0
        self.bytes = 0
        self.last_arrival: float | None = None
        self._last_timestamp: int | None = None
        self._steps: collections.deque[float] = collections.deque(maxlen=_STEPS_KEPT)
        self._subscribers: list[EncodedSubscriber] = []
        self._codecs: dict[int, tuple[Any, str, str]] = {}
        self._proxy = _TapQueue(current, self)
        setattr(receiver, SEAM_ATTRIBUTE, self._proxy)

    @property
    def decode(self) -> bool:
        return self._decode

    @decode.setter
    def decode(self, on: bool) -> None:
        if on and not self._decode:
            self._wait_for_key = True
        self._decode = on
        proxy = getattr(self, "_proxy", None)
        if on and proxy is not None and proxy.thread is not None:
            proxy.thread.start_now()

    def _to_decoder(self, item: Any) -> bool:
        """Whether a frame goes on to aiortc's decoder (decoding on, and video from a key)."""
        if not self._decode:
            return False
        if self._wait_for_key:
            codec, jitter_frame = item
            video = str(codec.mimeType).lower().startswith("video/")
            if video and not is_keyframe(str(codec.name).lower(), bytes(jitter_frame.data)):
                # Ask for one the way aiortc does after a decode error: a PLI goes out with
                # the next packet.
                getattr(self.receiver, PLI_ATTRIBUTE).set()
                return False
            self._wait_for_key = False
        return True

    def subscribe(self, callback: EncodedSubscriber) -> Callable[[], None]:
        """Call `callback(frame)` for every encoded frame; returns an unsubscribe function."""
        self._subscribers.append(callback)

        def unsubscribe() -> None:
            if callback in self._subscribers:
                self._subscribers.remove(callback)

        return unsubscribe

    def _held(self, kind: str, clock_rate: int, timestamp: int, data: bytes) -> float:
        """How long aiortc's jitter buffer held this frame after its last packet (est.).

        A video frame waits for the next one to start, whose timestamp is not known yet:
        the stream's frame interval stands in for it, taken as the shortest recent step, so
        that a gap (a skipped frame) never makes a frame look earlier than it came (a
        consumer taking the earliest arrivals as its clock would latch onto it)."""
        if kind == "audio":
            return AUDIO_PREFETCH * opus_samples(data) / clock_rate if clock_rate else 0.0
        last, self._last_timestamp = self._last_timestamp, timestamp
        if last is not None and clock_rate:
            step = (timestamp - last) / clock_rate
            if 0 < step < _MAX_HOLD:
                self._steps.append(step)
        return min(self._steps, default=0.0)

    def _codec(self, codec: Any) -> tuple[str, str, int]:
        """(kind, codec name, clock rate) of one of the receiver's codecs (kept: per frame,
        the strings would cost more than the rest of the hand-over)."""
        info = self._codecs.get(id(codec))
        if info is None or info[0] is not codec:
            kind = str(codec.mimeType).split("/", 1)[0].lower()
            info = self._codecs[id(codec)] = (codec, kind, str(codec.name).lower())
        return info[1], info[2], int(codec.clockRate)

    def _deliver(self, item: Any) -> None:
        codec, jitter_frame = item
        data = bytes(jitter_frame.data)
        self.frames += 1
        self.bytes += len(data)
        kind, name, clock_rate = self._codec(codec)
        timestamp = int(jitter_frame.timestamp)
        now = self._clock() - self._held(kind, clock_rate, timestamp, data)
        self.last_arrival = now
        if not self._subscribers:
            return
        frame = EncodedFrame(
            codec=name,
            data=data,
            timestamp=timestamp,
            arrival=now,
            clock_rate=clock_rate,
            kind=kind,
        )
        for callback in list(self._subscribers):
            try:
                callback(frame)
            except Exception:
                log.exception("encoded-frame subscriber %r failed", callback)

    async def request_keyframe(self) -> None:
        """Send a PLI for every SSRC seen recently (e.g. when recording starts)."""
        for source in self.receiver.getSynchronizationSources():
            await self.receiver._send_rtcp_pli(source.source)

    def remove(self) -> None:
        """Put the original queue back (frames then go to the decoder as usual)."""
        if getattr(self.receiver, SEAM_ATTRIBUTE, None) is self._proxy:
            setattr(self.receiver, SEAM_ATTRIBUTE, self._proxy.inner)
        if self._proxy.thread is not None:
            self._proxy.thread.start_now()  # the decoder reads the original queue again
        self._subscribers.clear()
