"""The mixer's view of one call: its peer, what it sends and receives, and its tasks.

A main call has audio in and out and video in (decoded only while shown) and out (the
fan-out's packets); a `present: "send"` call's video
is a slide source; a `present: "receive"` call gets the slides.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

from aiortc import MediaStreamTrack

from .audio import AudioLeg
from .peer import NodePeer
from .sourcevideo import SourceVideo
from .video import LatestFrame, PacedVideoTrack

if TYPE_CHECKING:
    from .fanout import FanoutTrack


class Call:
    def __init__(self, peer: NodePeer) -> None:
        self.peer = peer
        self.tasks: set[asyncio.Task[None]] = set()

    @property
    def participant_uuid(self) -> str:
        return self.peer.participant_uuid

    @property
    def call_uuid(self) -> str:
        return self.peer.call_uuid

    def outgoing(self) -> list[MediaStreamTrack]:
        return []

    def spawn(self, coro: Coroutine[Any, Any, None], name: str) -> None:
        """Run a task owned by this call (cancelled when it closes)."""
        task = asyncio.create_task(coro, name=f"{name}:{self.peer.call_uuid}")
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def close(self) -> None:
        for track in self.outgoing():
            track.stop()
        await cancel(self.tasks)


class MainCall(Call):
    def __init__(self, peer: NodePeer, order: int, video: SourceVideo) -> None:
        super().__init__(peer)
        self.order = order  # join order, for the stage of never-spoke participants
        self.audio = AudioLeg(peer.participant_uuid)
        self.video = video
        self.video_out: FanoutTrack | None = None

    def outgoing(self) -> list[MediaStreamTrack]:
        return [t for t in (self.audio.out, self.video_out) if t is not None]


class SendCall(Call):
    def __init__(self, peer: NodePeer, slide: LatestFrame) -> None:
        super().__init__(peer)
        self.slide = slide


class ReceiveCall(Call):
    def __init__(self, peer: NodePeer) -> None:
        super().__init__(peer)
        self.track: PacedVideoTrack | None = None

    def outgoing(self) -> list[MediaStreamTrack]:
        return [] if self.track is None else [self.track]


async def cancel(tasks: set[asyncio.Task[None]]) -> None:
    pending = [t for t in tasks if t is not asyncio.current_task()]
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
