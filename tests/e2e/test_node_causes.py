"""Events the node sends when it has a cause, each read and typed by the project's client:
`refresh_token` (control API), `presentation_ended`, `on_hold` and `splash_screen` (waiting
for the host), `live_captions` (a scripted feed), `fecc`, `peer_disconnect`, `update_sdp`
and `new_candidate` (a node renegotiation); and waiting for the host, `start_conference`,
the waiting-room timeout, silent-video detection and unknown functions."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any, TypeVar

import aiohttp
import pytest

from agent.infinity.models import events as ev
from agent.infinity.models.participant_functions import FeccMovement
from agent.node import LocalNode, NodeConfig, default_config
from agent.node.config import ServiceConfig
from tests.e2e.members import brief_call, call, member
from tests.support.inspect_node import control, node_state, with_control

pytestmark = pytest.mark.e2e

E = TypeVar("E")


def config() -> NodeConfig:
    services = [
        *default_config().services,
        ServiceConfig(name="waits", host_pin="1234", guest_pin="5678", host_wait=True),
        ServiceConfig(
            name="talk", kind="lecture", host_pin="1234", host_wait=True, waiting_room_timeout=2
        ),
    ]
    return with_control(NodeConfig(services=services, event_keepalive=0.5))


@pytest.fixture
async def node() -> AsyncIterator[LocalNode]:
    async with LocalNode(config()) as n:
        yield n


async def test_refresh_token_from_the_control_api(node: LocalNode) -> None:
    async with member(node, "meet", "a") as a:
        before = a.session.refreshes
        status, _ = await control(node, "POST", f"participants/{a.uuid}/refresh_token")
        assert status == 200
        assert isinstance(await a.expect(ev.RefreshToken), ev.RefreshToken)
        for _ in range(50):  # the session refreshed at once (not after expires/3)
            if a.session.refreshes > before:
                break
            await asyncio.sleep(0.05)
        assert a.session.refreshes > before


async def test_presentation_ended_when_someone_else_takes_the_floor(node: LocalNode) -> None:
    async with member(node, "meet", "a") as a, member(node, "meet", "b") as b:
        await a.session.me.take_floor()
        await b.expect(ev.PresentationStart)
        await b.session.me.take_floor()
        assert isinstance(await a.expect(ev.PresentationEnded), ev.PresentationEnded)
        start = await a.expect(ev.PresentationStart)
        assert start.presenter_uuid == b.uuid


async def test_guests_wait_for_the_host_on_hold(node: LocalNode) -> None:
    async with member(node, "waits", "guest", pin="5678") as guest:
        assert guest.session.in_waiting_room
        assert (await guest.expect(ev.OnHold)).on_hold is True
        splash = await guest.expect(ev.SplashScreen)
        assert splash.screen_key == "direct_media_waiting_for_host"
        status = await guest.session.conference.conference_status()
        assert status.started is False
        async with member(node, "waits", "host", pin="1234"):
            # The host's arrival starts the conference: the guest is in, off hold.
            update = await guest.expect(ev.ParticipantUpdate)
            while update.participant.uuid != guest.uuid:
                update = await guest.expect(ev.ParticipantUpdate)
            assert update.participant.service_type == "conference"
            assert (await guest.expect(ev.OnHold)).on_hold is False
            assert (await guest.expect(ev.SplashScreen)).screen_key is None
            assert (await guest.session.conference.conference_status()).started is True


async def test_a_lecture_starts_with_start_conference_and_waiting_times_out(
    node: LocalNode,
) -> None:
    async with member(node, "talk", "host", pin="1234") as host:
        async with member(node, "talk", "guest", pin="none") as guest:
            assert guest.session.in_waiting_room  # a host alone does not start a lecture
            assert (await guest.expect(ev.OnHold)).on_hold is True
            assert await host.session.conference.start_conference() is True
            assert (await guest.expect(ev.OnHold)).on_hold is False
        # A new lecture instance is not started again; this guest waits too long.
        await host.session.close()
    async with member(node, "talk", "late", pin="none") as late:
        assert late.session.in_waiting_room
        gone = await late.expect(ev.Disconnect, timeout=6)
        assert gone.reason.startswith("Timeout waiting for conference host")
        assert gone.code.value == "pex126"


async def test_live_captions_from_a_scripted_feed(node: LocalNode) -> None:
    async with member(node, "meet", "a") as a, member(node, "meet", "b") as b:
        await a.session.me.show_live_captions()
        feed = {
            "lines": [
                {"text": "hello", "is_final": False, "after": 0, "speakers": [b.uuid]},
                {"text": "hello world", "after": 0.1, "src_lang": "en"},
            ]
        }
        status, body = await control(node, "POST", "conferences/meet/captions", feed)
        assert status == 200, body
        first = await a.expect(ev.LiveCaptions)
        assert (first.data, first.is_final) == ("hello", False)
        assert first.sources is not None and first.sources[0].participant_uuid == b.uuid
        second = await a.expect(ev.LiveCaptions)
        assert (second.data, second.is_final, second.src_lang) == ("hello world", True, "en")
        # b did not ask for captions: none came.
        assert not any(isinstance(i, ev.LiveCaptions) for i in list(b.items._queue))  # type: ignore[attr-defined]


async def test_fecc_reaches_its_target(node: LocalNode) -> None:
    async with member(node, "meet", "a") as a, member(node, "meet", "b") as b:
        move = [FeccMovement(axis="pan", direction="left")]
        assert await a.session.me.fecc("start", b.uuid, move, timeout=500) is True
        fecc = await b.expect(ev.Fecc)
        assert fecc.action == "start" and fecc.movement[0].direction == "left"
        assert fecc.timeout == 500
        async with call(a) as (_pc, call_uuid):
            # Call-level: the far end of a two-party conference is the other participant.
            await a.session.me.call(call_uuid).fecc("stop", move)
            assert (await b.expect(ev.Fecc)).action == "stop"


async def test_peer_disconnect_and_a_node_renegotiation(node: LocalNode) -> None:
    async with (
        member(node, "meet", "a") as a,
        member(node, "meet", "b") as b,
        call(a) as (_pc, call_uuid),
    ):
        await brief_call(b)  # b's media comes and goes: a's peer is gone
        assert isinstance(await a.expect(ev.PeerDisconnect), ev.PeerDisconnect)
        path = f"participants/{a.uuid}/calls/{call_uuid}/renegotiate"
        status, body = await control(node, "POST", path, {"event": "update_sdp"})
        assert status == 200, body
        offer = await a.expect(ev.UpdateSdp)
        assert offer.sdp.startswith("v=0")
        candidate = await a.expect(ev.NewCandidate)
        assert candidate.candidate.startswith("candidate:")
        while candidate.candidate:  # then the end of candidates
            candidate = await a.expect(ev.NewCandidate)
        assert candidate.candidate == ""


async def test_unknown_function_of_a_known_conference(node: LocalNode) -> None:
    async with aiohttp.ClientSession() as http:
        base = f"{node.base_url}/api/client/v2/conferences"
        async with http.post(f"{base}/meet/no_such_function") as r:
            assert r.status == 404
            assert (await r.json())["result"] == "Unknown function: no_such_function"
        async with http.post(f"{base}/nowhere/no_such_function") as r:
            assert (await r.json())["result"] == "Neither conference nor gateway found"


async def test_silent_video_leaves_the_mix(node: LocalNode) -> None:
    # A bot sending black video: no picture change, so silent once detection is on.
    from agent.config import parse_config
    from agent.runtime.bot import Bot

    host = Bot(
        parse_config(
            {
                "node": node.base_url,
                "alias": "meet",
                "display_name": "dark",
                "media": {
                    "audio": "silence",
                    "video": "black",
                    "receive_audio": False,
                    "receive_video": False,
                    "ice_host_addresses": ["127.0.0.1"],
                },
                "leave": {"alone_seconds": None, "duration": 20},
            }
        )
    )
    task = asyncio.create_task(host.run())
    try:
        async with member(node, "meet", "watcher") as watcher:

            async def silent() -> Any:
                state = await node_state(node)
                return {
                    p["display_name"]: p["is_video_silent"] for p in state["meet"]["participants"]
                }

            for _ in range(100):
                if host.call is not None and host.call.call_uuid is not None:
                    break
                await asyncio.sleep(0.1)
            assert (await silent())["dark"] is False
            await watcher.session.conference.silent_video_detection(
                enable=True, silent_after=1, reactivate_after=1
            )
            for _ in range(60):
                if (await silent())["dark"]:
                    break
                await asyncio.sleep(0.1)
            assert (await silent())["dark"] is True
            update = await watcher.expect(ev.ParticipantUpdate)
            while not update.participant.is_video_silent:
                update = await watcher.expect(ev.ParticipantUpdate)
            assert update.participant.display_name == "dark"
    finally:
        host.request_leave()
        await asyncio.wait_for(task, 20)
