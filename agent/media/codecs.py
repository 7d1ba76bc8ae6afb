"""Codec bitstream helpers: what a few bytes of an encoded frame say, without decoding.

Used wherever encoded frames are looked at (the encoded-frame tap, the recorder, the node,
benchmarks), so each rule lives once. Opus: RFC 6716 section 3.1 (the TOC byte). VP8:
RFC 6386 section 9.1 (the frame tag and the key frame header).
"""

from __future__ import annotations

import struct

#: Opus always counts time in 48 kHz samples, whatever the encoder's internal rate.
OPUS_RATE = 48000

# Samples per frame by TOC config (0-31): SILK 10/20/40/60 ms, hybrid 10/20 ms, CELT
# 2.5/5/10/20 ms.
_OPUS_FRAME_SAMPLES = (
    *(480, 960, 1920, 2880) * 3,
    *(480, 960) * 2,
    *(120, 240, 480, 960) * 4,
)
_VP8_START_CODE = b"\x9d\x01\x2a"


def opus_samples(packet: bytes) -> int:
    """Samples (at 48 kHz) in one Opus packet, from its TOC byte; 0 for an empty packet."""
    if not packet:
        return 0
    toc = packet[0]
    code = toc & 0x03
    if code == 0:
        count = 1
    elif code in (1, 2):
        count = 2
    else:  # code 3: the frame count is in the next byte
        count = packet[1] & 0x3F if len(packet) > 1 else 0
    return _OPUS_FRAME_SAMPLES[toc >> 3] * count


def opus_duration_ms(packet: bytes) -> int:
    """Milliseconds of audio in one Opus packet (rounded)."""
    return round(opus_samples(packet) * 1000 / OPUS_RATE)


def vp8_is_keyframe(frame: bytes) -> bool:
    """Bit 0 of the VP8 frame tag is 0 for a key frame."""
    return bool(frame) and not frame[0] & 0x01


def vp8_size(frame: bytes) -> tuple[int, int] | None:
    """Width and height from a VP8 key frame header; None for other frames."""
    if len(frame) < 10 or not vp8_is_keyframe(frame) or frame[3:6] != _VP8_START_CODE:
        return None
    width, height = struct.unpack("<HH", frame[6:10])
    return width & 0x3FFF, height & 0x3FFF


def is_keyframe(codec: str, frame: bytes) -> bool:
    """Whether an encoded frame of `codec` (lower-case name) starts a picture anew; only
    VP8 is understood, every other codec says False."""
    return codec == "vp8" and vp8_is_keyframe(frame)


__all__ = [
    "OPUS_RATE",
    "is_keyframe",
    "opus_duration_ms",
    "opus_samples",
    "vp8_is_keyframe",
    "vp8_size",
]
