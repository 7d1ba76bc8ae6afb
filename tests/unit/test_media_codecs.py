"""Codec bitstream helpers: Opus TOC durations, VP8 key frames and picture sizes, checked
on real encoder output."""

from __future__ import annotations

from agent.media.clips import opus_clip, vp8_clip
from agent.media.codecs import (
    is_keyframe,
    opus_duration_ms,
    opus_samples,
    vp8_is_keyframe,
    vp8_size,
)


def test_opus_toc_durations() -> None:
    assert opus_samples(b"\xf8\xff\xfe") == 960  # CELT FB 20 ms, one frame
    assert opus_samples(bytes([(16 << 3) | 0])) == 120  # CELT 2.5 ms
    assert opus_samples(bytes([(1 << 3) | 1])) == 2 * 960  # SILK 20 ms, two frames
    assert opus_samples(bytes([(3 << 3) | 3, 3])) == 3 * 2880  # SILK 60 ms, code 3 x3
    assert opus_samples(bytes([(13 << 3) | 0])) == 960  # hybrid 20 ms
    assert opus_samples(b"") == 0
    assert opus_duration_ms(bytes([(3 << 3) | 3, 3])) == 180
    assert all(opus_samples(d) == 960 for _, d in opus_clip(1.0).frames)


def test_vp8_keyframe_size() -> None:
    clip = vp8_clip(2, width=320, height=240)
    assert vp8_is_keyframe(clip.frames[0][1]) and not vp8_is_keyframe(clip.frames[1][1])
    assert vp8_size(clip.frames[0][1]) == (320, 240)
    assert vp8_size(clip.frames[1][1]) is None  # an inter frame
    assert not vp8_is_keyframe(b"") and vp8_size(b"\x00") is None


def test_only_vp8_key_frames_are_key_frames() -> None:
    key, inter = (data for _, data in vp8_clip(2).frames)
    assert is_keyframe("vp8", key) and not is_keyframe("vp8", inter)
    assert not is_keyframe("h264", key) and not is_keyframe("opus", b"\x00")
