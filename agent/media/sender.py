"""Sending pre-encoded media through aiortc: packets in, keyframe requests out.

A track whose `recv()` returns an `av.Packet` (with `pts` and `time_base`) is sent without
encoding: `RTCRtpSender._next_encoded_frame` hands it to the codec's `pack()`, which only
splits it into RTP payloads and takes the RTP timestamp from `pts`. What aiortc has no hook
for is the receiver asking for a keyframe: on RTCP PLI/FIR `_handle_rtcp_packet` calls the
private `RTCRtpSender._send_keyframe()`, which sets a flag only its own encoder reads, so a
packet track never hears of it.

`hook_keyframe_requests(sender)` wraps `_send_keyframe` on that sender instance: the flag is
still set (a frame track keeps working), and the sender's current track is told through
`request_keyframe()` when it has one (`KeyframeSource`). The lookup happens at request
time, so `replaceTrack` needs no re-hooking.

Private API: `pyproject.toml` pins aiortc to 1.16.*; `check_sender_seam` verifies version
and code shape and raises `RuntimeError("aiortc private seam moved: ...")`;
`tests/unit/test_media_seam.py` fails loudly if it moves.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol, runtime_checkable

import aiortc
from aiortc import RTCRtpSender
from aiortc.codecs import opus, vpx

log = logging.getLogger(__name__)

SUPPORTED_AIORTC = "1.16."
_HOOKED = "_pexbot_keyframe_hook"


@runtime_checkable
class KeyframeSource(Protocol):
    """A track that can answer a receiver's keyframe request (PLI/FIR)."""

    def request_keyframe(self) -> None: ...


def check_sender_seam() -> None:
    """Raise RuntimeError("aiortc private seam moved: ...") if packets or keyframe requests
    cannot go through aiortc's sender the way this module expects."""
    problems = []
    version = getattr(aiortc, "__version__", "?")
    if not version.startswith(SUPPORTED_AIORTC):
        problems.append(f"aiortc {version} is not {SUPPORTED_AIORTC}*")
    handler = getattr(RTCRtpSender, "_handle_rtcp_packet", None)
    if "_send_keyframe" not in getattr(getattr(handler, "__code__", None), "co_names", ()):
        problems.append("RTCRtpSender._handle_rtcp_packet no longer calls _send_keyframe")
    if not callable(getattr(RTCRtpSender, "_send_keyframe", None)):
        problems.append("RTCRtpSender._send_keyframe is gone")
    nxt = getattr(RTCRtpSender, "_next_encoded_frame", None)
    if "pack" not in getattr(getattr(nxt, "__code__", None), "co_names", ()):
        problems.append("RTCRtpSender._next_encoded_frame no longer packs pre-encoded packets")
    for name, encoder in (("Vp8Encoder", vpx.Vp8Encoder), ("OpusEncoder", opus.OpusEncoder)):
        if not callable(getattr(encoder, "pack", None)):
            problems.append(f"{name}.pack is gone")
    if problems:
        raise RuntimeError("aiortc private seam moved: " + "; ".join(problems))


def hook_keyframe_requests(sender: RTCRtpSender) -> None:
    """Tell the sender's track (when it is a `KeyframeSource`) about every PLI/FIR."""
    if getattr(sender, _HOOKED, False):
        return
    check_sender_seam()
    original = sender._send_keyframe

    def send_keyframe() -> None:
        original()
        track: Any = sender.track
        if isinstance(track, KeyframeSource):
            try:
                track.request_keyframe()
            except Exception:  # a track's bug must not break RTCP handling
                log.exception("keyframe request to %r failed", track)

    # An instance attribute shadows the method for this sender only.
    sender._send_keyframe = send_keyframe  # type: ignore[method-assign]
    setattr(sender, _HOOKED, True)
