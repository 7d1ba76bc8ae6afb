"""Joined participants for e2e tests, driven through the project's client library: a
session with its typed events collected in the background, and a real WebRTC call."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import TypeVar

from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import AudioStreamTrack

from agent.infinity import InfinitySession, JoinOptions, StreamItem
from agent.infinity.models import events as ev
from agent.media.ice import close_peer_connection
from agent.node import LocalNode
from agent.node.media import restrict_host_addresses

E = TypeVar("E")


class Member:
    """A joined session and its typed events, collected in the background."""

    def __init__(self, session: InfinitySession) -> None:
        self.session = session
        self.items: asyncio.Queue[StreamItem] = asyncio.Queue()
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        with contextlib.suppress(Exception):
            async for item in self.session.events(max_attempts=2):
                self.items.put_nowait(item)

    async def expect(self, kind: type[E], timeout: float = 5.0) -> E:
        async with asyncio.timeout(timeout):
            while True:
                item = await self.items.get()
                if isinstance(item, kind):
                    return item

    @property
    def uuid(self) -> str:
        return self.session.participant_uuid

    async def close(self) -> None:
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)
        await self.session.close()


@contextlib.asynccontextmanager
async def member(
    node: LocalNode, alias: str, name: str, pin: str | None = None, token: str | None = None
) -> AsyncIterator[Member]:
    options = JoinOptions(display_name=name, pin=pin, token=token)
    session = InfinitySession.connect(node.base_url, alias, options)
    await session.open()
    joined = Member(session)
    await joined.expect(ev.ParticipantSyncEnd)
    try:
        yield joined
    finally:
        await joined.close()


@contextlib.asynccontextmanager
async def call(m: Member) -> AsyncIterator[tuple[RTCPeerConnection, str]]:
    """A real WebRTC call of `m` (audio), acked."""
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    pc.addTrack(AudioStreamTrack())
    restrict_host_addresses(pc)
    call_uuid: str | None = None
    try:
        await pc.setLocalDescription(await pc.createOffer())
        result = await m.session.me.calls_webrtc(pc.localDescription.sdp)
        call_uuid = result.call_uuid
        await pc.setRemoteDescription(RTCSessionDescription(result.sdp, "answer"))
        await m.session.me.call(call_uuid).ack()
        yield pc, call_uuid
    finally:
        if call_uuid is not None:
            await m.session.me.call(call_uuid).disconnect()
        await close_peer_connection(pc)


async def brief_call(m: Member) -> None:
    async with call(m):
        pass
