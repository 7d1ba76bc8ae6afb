"""The client library's 108 endpoints against the local node, every answer checked against
the schema: each endpoint is called once through its typed method (the token endpoints
through `InfinitySession`), the raw answer validated for its status before the client
parses it, and the test fails unless all 108 were called."""

from __future__ import annotations

import asyncio
import contextvars
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiortc import RTCSessionDescription

from agent.infinity import (
    ApiClient,
    Endpoint,
    ForbiddenError,
    Http11Transport,
    HttpRequest,
    HttpResponse,
    InfinitySession,
    JoinOptions,
    endpoints,
)
from agent.infinity.models import DialBody, LayoutTransforms
from agent.infinity.models import events as ev
from agent.infinity.models.participant_functions import FeccMovement
from agent.media.ice import close_peer_connection
from agent.node import LocalNode, NodeConfig, default_config
from tests.support.inspect_node import with_control

from .conftest import Seen, schema, validate
from .members import Member
from .schema_scenarios import offer_peer

pytestmark = pytest.mark.e2e

_CURRENT: contextvars.ContextVar[str] = contextvars.ContextVar("endpoint")


class CheckingTransport(Http11Transport):
    """Validates every answer against the schema of the endpoint being called."""

    def __init__(self, seen: Seen) -> None:
        super().__init__()
        self.seen = seen

    async def send(self, request: HttpRequest, *, timeout: float) -> HttpResponse:
        response = await super().send(request, timeout=timeout)
        key = _CURRENT.get()
        props = schema()["definitions"][key]["properties"]
        raw = props.get(str(response.status), {}).get("type") == "string"
        if key == "avatar.jpg_participant" and response.status == 200:
            assert response.content_type.startswith("image/jpeg")
            self.seen.pairs.add((key, 200))
        elif raw or response.status == 204:
            validate(key, response.status, response.text, self.seen)
        else:
            validate(key, response.status, json.loads(response.body), self.seen)
        return response


class CheckingApi(ApiClient):
    async def aclose(self) -> None:
        await self._transport.aclose()  # the checking transport is this client's own

    async def call(self, endpoint: Endpoint[Any], alias: str, **kw: Any) -> Any:
        token = _CURRENT.set(endpoint.key)
        try:
            return await super().call(endpoint, alias, **kw)
        finally:
            _CURRENT.reset(token)


@pytest.fixture
async def node() -> AsyncIterator[LocalNode]:
    async with LocalNode(with_control(NodeConfig(services=default_config().services))) as n:
        yield n


async def join(
    node: LocalNode,
    seen: Seen,
    alias: str,
    name: str,
    pin: str | None = None,
    token: str | None = None,
) -> Member:
    api = CheckingApi(node.base_url, transport=CheckingTransport(seen))
    session = InfinitySession(
        api, alias, JoinOptions(display_name=name, pin=pin, token=token), owns_api=True
    )
    await session.open()
    joined = Member(session)
    await joined.expect(ev.ParticipantSyncEnd)
    return joined


async def test_every_client_endpoint_against_the_node(node: LocalNode) -> None:
    seen = Seen()
    host = await join(node, seen, "secure", "Host", pin="1234")
    guest = await join(node, seen, "secure", "Guest", pin="5678")
    spare = await join(node, seen, "secure", "Spare", pin="5678")
    members = [host, guest, spare]
    try:
        conf, g = host.session.conference, guest.uuid
        host.session.request_refresh()  # refresh_token, through the session's own loop
        for _ in range(100):
            if host.session.refreshes:
                break
            await asyncio.sleep(0.02)
        # Conference level.
        await conf.conference_status()
        await conf.participants()
        await conf.lock()
        await conf.unlock()
        await conf.start_conference()
        await conf.mute_guests()
        await conf.unmute_guests()
        await conf.set_guests_can_unmute(True)
        await conf.send_message("hello")
        await conf.transform_layout(LayoutTransforms(layout="1:7"))
        await conf.clear_all_buzz()
        await conf.silent_video_detection(enable=True, silent_after=10)
        await conf.theme()
        await conf.available_layouts()
        assert "ac" in await conf.layout_svgs()
        await conf.create_video_mix("main.!personal")
        await conf.configure_video_mix("main.!personal", layout="1:0")
        await conf.delete_video_mix("main.!personal")
        await conf.dial(DialBody(destination="sip:x@example.com"))
        # Participant level (the host on the guest, or on itself).
        p = conf.participant(g)
        for fn in (
            p.mute, p.unmute, p.client_mute, p.client_unmute, p.video_mute, p.video_unmute,
            p.allow_rx_presentation, p.deny_rx_presentation, p.spotlight_on, p.spotlight_off,
            p.unlock, p.buzz, p.clear_buzz, p.take_floor, p.release_floor,
            p.show_live_captions, p.hide_live_captions, p.notify_not_afk,
        ):  # fmt: skip
            await fn()
        await p.dtmf("1#")
        await p.overlay_text("G")
        await p.pres_in_mix(True)
        await p.set_role("guest")
        await p.fecc("start", host.uuid, [FeccMovement(axis="pan", direction="left")])
        await p.send_message("psst")
        await p.preferred_aspect_ratio(16 / 9)
        assert (await p.avatar() or b"")[:2] == b"\xff\xd8"
        me = host.session.me
        await me.calls_rtmp()
        # Call level, with a real peer.
        pc = await offer_peer()
        try:
            answer = await me.calls_webrtc(pc.localDescription.sdp)
            await pc.setRemoteDescription(RTCSessionDescription(answer.sdp, "answer"))
            c = me.call(answer.call_uuid)
            await c.new_candidate("", "0")
            await c.dtmf("5")
            await c.statistics()
            await c.ack()
            await c.update()
            await c.disconnect()
        finally:
            await close_peer_connection(pc)
        # Call-level FECC: in a two-party conference the far end is the other participant.
        a, b = await join(node, seen, "meet", "A"), await join(node, seen, "meet", "B")
        members += [a, b]
        pc = await offer_peer()
        try:
            answer = await a.session.me.calls_webrtc(pc.localDescription.sdp)
            await a.session.me.call(answer.call_uuid).fecc("stop", [])
            assert (await b.expect(ev.Fecc)).action == "stop"
        finally:
            await close_peer_connection(pc)
        # Breakout rooms.
        rooms = conf.breakouts
        room_uuid = await rooms.create("Room", participants={"main": [g]})
        shadow = (await host.expect(ev.BreakoutBegin)).participant_uuid
        refer = await guest.expect(ev.Refer)
        inside = await join(node, seen, "secure", "Guest", token=refer.token)
        members.append(inside)
        room = rooms.room(room_uuid)
        await room.transform_layout(LayoutTransforms(layout="4:0"))
        await room.mute_guests()
        await room.unmute_guests()
        await room.lock()
        await room.unlock()
        await room.send_message("in the room")
        await room.ask_for_help()
        await room.clear_help()
        await room.clear_all_buzz()
        await room.create_video_mix("mix")
        await room.configure_video_mix("mix")
        await room.delete_video_mix("mix")
        visitor = await join(
            node, seen, "secure", "Visitor", token=await room.request_guest_token()
        )
        members.append(visitor)
        rp = room.participant(inside.uuid)
        for fn in (
            rp.mute, rp.unmute, rp.client_mute, rp.client_unmute, rp.video_mute,
            rp.video_unmute, rp.take_floor, rp.release_floor, rp.show_live_captions,
            rp.hide_live_captions, rp.unlock, rp.buzz, rp.clear_buzz, rp.spotlight_on,
            rp.spotlight_off,
        ):  # fmt: skip
            await fn()
        await rp.overlay_text("In")
        await rp.dtmf("9")
        await rp.fecc("start", visitor.uuid, [])
        inner = inside.session.conference
        assert await inner.breakout_buzz() is True
        assert await inner.clear_breakout_buzz() is True
        assert await inner.breakouts.leave() is False  # this room keeps its guests
        pc = await offer_peer()
        try:
            mine = room.participant(shadow)
            answer = await mine.calls_webrtc(pc.localDescription.sdp)
            await pc.setRemoteDescription(RTCSessionDescription(answer.sdp, "answer"))
            c2 = mine.call(answer.call_uuid)
            await c2.new_candidate("", "0")
            await c2.ack()
            await c2.update()
            await c2.disconnect()
        finally:
            await close_peer_connection(pc)
        await room.participant(visitor.uuid).transfer("meet")
        await rooms.send_message("two minutes")
        await rooms.move([spare.uuid], room_uuid)
        await room.move([inside.uuid], None)
        await rooms.empty()
        third = await join(node, seen, "secure", "Third", pin="5678")
        other = await rooms.create("Other", participants={"main": [third.uuid]})
        third_in = await join(
            node, seen, "secure", "Third", token=(await third.expect(ev.Refer)).token
        )
        members += [third, third_in]
        await rooms.room(other).participant(third_in.uuid).disconnect()
        await rooms.room(other).close()
        await rooms.close_all()
        with pytest.raises(ForbiddenError):
            await rooms.move(["nobody"], room_uuid)
        # Leaving: disconnect one participant, everyone, then release (by closing).
        fourth = await join(node, seen, "secure", "Fourth", pin="5678")
        members.append(fourth)
        fifth = await join(node, seen, "secure", "Fifth", pin="5678")
        members.append(fifth)
        await conf.participant(fifth.uuid).transfer("meet")
        await conf.participant(fourth.uuid).disconnect()
        await conf.disconnect_all()
    finally:
        for m in members:
            await m.close()  # release_token (accepted after a disconnect)
    called = {key for key, status in seen.pairs}
    assert called == set(endpoints.ENDPOINTS), sorted(set(endpoints.ENDPOINTS) - called)
    assert len(called) == 108
    assert {s for _k, s in seen.unmodelled} <= {403}, seen.unmodelled
