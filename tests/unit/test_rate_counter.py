"""The compact incoming-bitrate counter computes what aiortc's does, and a node call's video
receiver no longer holds a thousand collector-tracked bucket objects (what made a mass
join start a full garbage collection that stalled every call's media)."""

from __future__ import annotations

import gc
import random

from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.rate import RateBucket

from agent.media.ratecounter import CompactRateCounter, original_rate_counter
from agent.node import DiscardMedia, NodePeer


def test_it_agrees_with_aiortcs_counter_packet_by_packet() -> None:
    rng = random.Random(7)
    ours, theirs = CompactRateCounter(1000, 8000), original_rate_counter()(1000, 8000)
    now = 5_000_000
    for step in range(5000):
        now += rng.choice((0, 0, 1, 3, 20, 400, 1500))
        size = rng.randrange(50, 1300)
        ours.add(size, now)
        theirs.add(size, now)
        assert ours.rate(now) == theirs.rate(now), step
        if step == 2500:
            ours.reset()
            theirs.reset()
    assert ours.rate(now + 2000) == theirs.rate(now + 2000)


def _buckets() -> int:
    return sum(isinstance(o, RateBucket) for o in gc.get_objects())


async def test_a_node_call_s_video_receiver_holds_no_bucket_objects() -> None:
    client = RTCPeerConnection()
    client.addTransceiver("audio", direction="sendrecv")
    client.addTransceiver("video", direction="sendrecv")
    await client.setLocalDescription(await client.createOffer())
    before = _buckets()
    peer = NodePeer("p", "c", DiscardMedia())
    try:
        await peer.answer(client.localDescription.sdp)
        await client.setRemoteDescription(
            RTCSessionDescription(sdp=peer.pc.localDescription.sdp, type="answer")
        )
        video = [t for t in peer.pc.getTransceivers() if t.kind == "video"]
        assert video and video[0].receiver is not None
        assert _buckets() == before
    finally:
        await peer.close()
        await client.close()
