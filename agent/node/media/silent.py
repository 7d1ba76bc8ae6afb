"""Silent-video detection: video that shows nothing new leaves the mix.

With `silent_video_detection` enabled (`ConferenceState.silent_video`), a participant whose
picture has not changed for `silent_after` s (a frozen or black camera, or no frames at
all) is marked `is_video_silent` (a `participant_update`) and no longer shown to others;
once its picture has kept changing for `reactivate_after` s it is shown again. The check
runs on the mixer's tick, twice a second: it compares a sample of each picture's luma
plane, which costs microseconds. The node decodes a participant's video only while someone
needs the pictures, so while detection is on the watch holds each source's decoding
(`hold("silent")`); off, it lets go and nothing is decoded for it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

from ..state import ConferenceState
from .calls import MainCall

CHECK_INTERVAL = 0.5  # s between two checks
_SAMPLE_STEP = 509  # bytes between two sampled luma bytes (a prime: no stripes)
_HOLDER = "silent"  # the watch's name among a source's decoding holders


@dataclass
class _Seen:
    seq: int
    signature: bytes
    changed_at: float
    moving_since: float | None = None


def _signature(call: MainCall) -> bytes:
    frame = call.video.frame
    if frame is None:
        return b""
    luma = bytes(frame.planes[0])
    return hashlib.blake2b(luma[::_SAMPLE_STEP], digest_size=8).digest()


class SilentVideoWatch:
    def __init__(self, conference: ConferenceState) -> None:
        self.conference = conference
        self._seen: dict[str, _Seen] = {}
        self._next = 0.0

    def forget(self, participant_uuid: str) -> None:
        self._seen.pop(participant_uuid, None)

    def tick(self, now: float, calls: Iterable[MainCall]) -> None:
        if now < self._next:
            return
        self._next = now + CHECK_INTERVAL
        config = self.conference.silent_video
        participants = self.conference.participants
        for call in calls:
            participant = participants.get(call.participant_uuid)
            if participant is None:
                continue
            if config.enable:
                call.video.hold(_HOLDER)
            else:
                call.video.release(_HOLDER)
            seen = self._seen.get(call.participant_uuid)
            if seen is None:
                seen = self._seen[call.participant_uuid] = _Seen(-1, b"", now)
            if call.video.seq != seen.seq:
                seen.seq = call.video.seq
                signature = _signature(call)
                if signature != seen.signature:
                    seen.signature, seen.changed_at = signature, now
            moving = now - seen.changed_at < CHECK_INTERVAL * 1.5
            seen.moving_since = (seen.moving_since or now) if moving else None
            silent = participant.is_video_silent
            if not config.enable:
                silent = False
            elif not silent:
                silent = now - seen.changed_at >= config.silent_after
            elif seen.moving_since is not None:
                silent = now - seen.moving_since < config.reactivate_after
            if silent != participant.is_video_silent:
                participant.is_video_silent = silent
                self.conference.publish_participant(participant, "participant_update")
