"""Scenarios for the schema conformance test (`test_node_schema.py`): the functions beyond
moderation (silent video, layouts, mixes, FECC, captions, avatar, ...) and the 46 breakout
endpoints, each driven once to success (and a modelled failure where there is one)."""

from __future__ import annotations

from typing import Any

from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import AudioStreamTrack

from agent.media.ice import close_peer_connection
from agent.node.media import restrict_host_addresses

from .conftest import Api, Member, Reply


async def offer_peer() -> RTCPeerConnection:
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    pc.addTrack(AudioStreamTrack())
    restrict_host_addresses(pc)
    await pc.setLocalDescription(await pc.createOffer())
    return pc


async def functions_scenario(api: Api) -> None:
    """The 15 functions beyond moderation, on two members of `meet` (both hosts)."""
    a = await api.joined("meet", "a")
    b = await api.joined("meet", "b")
    body: Any = {"config": {"enable": True, "silent_after": 5, "reactivate_after": 1}}
    assert (await a.conf("silent_video_detection", "silent_video_detection", body)).status == 200
    svgs = await a.conf("layout_svgs", "layout_svgs", method="GET")
    assert svgs.status == 200 and svgs.result["1:7"].startswith("<svg")
    assert (await a.conf("video_mixes_create", "video_mixes/create", {"mix_name": "m"})).result
    body = {"transform_layout": {"layout": "1:0"}}
    assert (await a.conf("video_mixes_configure", "video_mixes/m/configure", body)).result
    assert (await a.conf("video_mixes_delete", "video_mixes/m/delete")).result
    steps_1: list[tuple[str, str, Any]] = [
        ("pres_in_mix_participant", "pres_in_mix", {"state": True}),
        ("show_live_captions", "show_live_captions", None),
        ("hide_live_captions", "hide_live_captions", None),
        ("preferred_aspect_ratio", "preferred_aspect_ratio", {"aspect_ratio": 1.78}),
        ("notify_not_a_f_k", "notify_not_afk", None),
        (
            "fecc_participant",
            "fecc",
            {
                "action": "start",
                "target": b.uuid,
                "movement": [{"axis": "pan", "direction": "left"}],
            },
        ),
    ]
    for endpoint, path, payload in steps_1:
        assert (await a.part(endpoint, a.uuid, path, payload)).status == 200, endpoint
    # avatar.jpg: a JPEG (the schema models only its JSON errors), or 404 "No image".
    async with api.http.get(
        api.url("meet", f"participants/{b.uuid}/avatar.jpg"), headers={"token": a.token}
    ) as resp:
        assert resp.status == 200 and resp.content_type == "image/jpeg"
        assert (await resp.read())[:2] == b"\xff\xd8"
        api.seen.pairs.add(("avatar.jpg_participant", 200))
    # Call-level FECC: the far end of a two-party conference is the other participant.
    pc = await offer_peer()
    try:
        reply = await a.part(
            "calls_webrtc_participant",
            a.uuid,
            "calls",
            {"call_type": "WEBRTC", "sdp": pc.localDescription.sdp},
        )
        call = reply.result["call_uuid"]
        body = {"action": "stop", "movement": [{"axis": "zoom", "direction": "in"}]}
        assert (await a.call_fn("fecc", call, "fecc", body)).status == 200
        await a.call_fn("disconnect_call", call, "disconnect")
    finally:
        await close_peer_connection(pc)


async def _refer(stream: Any, target: str) -> dict[str, Any]:
    data: dict[str, Any] = await stream.until("refer", target=target)
    return data


async def _rejoin(api: Api, alias: str, name: str, token: str) -> Member:
    reply = await api.join(alias, name, token=token)
    assert reply.status == 200, reply.body
    return Member(api, alias, reply.result)


class Room:
    """A host's shortcuts for one breakout room."""

    def __init__(self, host: Member, uuid: str, me: str) -> None:
        self.host, self.uuid, self.me = host, uuid, me

    async def fn(self, endpoint: str, path: str, body: Any = None) -> Reply:
        return await self.host.conf(endpoint, f"breakouts/{self.uuid}/{path}", body)

    async def part(self, endpoint: str, who: str, path: str, body: Any = None) -> Reply:
        return await self.fn(endpoint, f"participants/{who}/{path}", body)


async def breakout_scenario(api: Api) -> None:
    """Every breakout endpoint, as a host and guests of `secure` use them."""
    host = await api.joined("secure", "host", pin="1234")
    guest = await api.joined("secure", "guest", pin="5678")
    spare = await api.joined("secure", "spare", pin="5678")
    host_events, guest_events = await host.events(), await guest.events()
    try:
        reply = await host.conf(
            "breakouts", "breakouts", {"name": "Room 1", "participants": {"main": [guest.uuid]}}
        )
        room_uuid = reply.result["breakout_uuid"]
        begin = await host_events.until("breakout_begin", breakout_uuid=room_uuid)
        room = Room(host, room_uuid, begin["participant_uuid"])
        refer = await _refer(guest_events, "breakout")
        assert refer["breakout_name"] == "Room 1"
        inside = await _rejoin(api, "secure", "guest", refer["token"])
        assert inside.result["conference_name"] == "Room 1"
        # One room's functions.
        steps_2: list[tuple[str, str, Any]] = [
            ("breakout_transform_layout", "transform_layout", {"transforms": {"layout": "4:0"}}),
            ("breakout_muteguests", "muteguests", None),
            ("breakout_unmuteguests", "unmuteguests", None),
            ("breakout_lock", "lock", None),
            ("breakout_unlock", "unlock", None),
            ("breakout_message_conference", "message", {"type": "text/plain", "payload": "hi"}),
            ("host_breakout_buzz", "breakoutbuzz", None),
            ("host_clear_breakout_buzz", "clearbreakoutbuzz", None),
            ("breakout_clear_all_buzz", "clearallbuzz", None),
            ("breakout_video_mixes_create", "video_mixes/create", {"mix_name": "p"}),
            ("breakout_video_mixes_configure", "video_mixes/p/configure", {"transform_layout": {}}),
            ("breakout_video_mixes_delete", "video_mixes/p/delete", None),
        ]
        for endpoint, path, body in steps_2:
            assert (await room.fn(endpoint, path, body)).status == 200, endpoint
        token = (await room.fn("breakout_request_guest_token", "request_guest_token")).result
        second = await _rejoin(api, "secure", "second", token)
        # Functions on a participant in the room (its UUID there).
        steps_3: list[tuple[str, str, Any]] = [
            ("breakout_mute_participant", "mute", None),
            ("breakout_unmute_participant", "unmute", None),
            ("breakout_client_mute_participant", "client_mute", None),
            ("breakout_client_unmute_participant", "client_unmute", None),
            ("breakout_video_mute_participant", "video_muted", None),
            ("breakout_video_unmute_participant", "video_unmuted", None),
            ("breakout_overlaytext_participant", "overlaytext", {"text": "G"}),
            ("breakout_take_floor", "take_floor", None),
            ("breakout_release_floor", "release_floor", None),
            ("breakout_show_live_captions", "show_live_captions", None),
            ("breakout_hide_live_captions", "hide_live_captions", None),
            ("breakout_unlock_participant", "unlock", None),
            ("breakout_buzz_participant", "buzz", None),
            ("breakout_clearbuzz_participant", "clearbuzz", None),
            ("breakout_spotlighton_participant", "spotlighton", None),
            ("breakout_spotlightoff_participant", "spotlightoff", None),
            ("breakout_dtmf_participant", "dtmf", {"digits": "12"}),
            (
                "breakout_fecc_participant",
                "fecc",
                {"action": "start", "target": second.uuid, "movement": []},
            ),
        ]
        for endpoint, path, body in steps_3:
            assert (await room.part(endpoint, inside.uuid, path, body)).status == 200, endpoint
        # A participant that is not in the room: the modelled 403.
        assert (await room.part("breakout_mute_participant", "nobody", "mute")).status == 403
        # The guest's own functions inside the room.
        assert (await inside.conf("guest_breakout_buzz", "breakoutbuzz")).result is True
        assert (await inside.conf("guest_clear_breakout_buzz", "clearbreakoutbuzz")).result
        # Not a room that lets guests leave: refused with `false`.
        assert (await inside.conf("guestLeaveBreakout", "leavebreakout")).result is False
        # The host's own call in the room.
        pc = await offer_peer()
        try:
            reply = await room.part(
                "breakout_calls_webrtc_participant",
                room.me,
                "calls",
                {"call_type": "WEBRTC", "sdp": pc.localDescription.sdp},
            )
            call = reply.result["call_uuid"]
            await pc.setRemoteDescription(RTCSessionDescription(reply.result["sdp"], "answer"))
            at = f"calls/{call}"
            body = {"candidate": "", "mid": "0"}
            assert (
                await room.part("breakout_new_candidate", room.me, f"{at}/new_candidate", body)
            ).status == 200
            assert (await room.part("breakout_ack", room.me, f"{at}/ack", {})).result is True
            assert (await room.part("breakout_update", room.me, f"{at}/update", {})).status == 200
            assert (
                await room.part("breakout_disconnect_call", room.me, f"{at}/disconnect")
            ).status == 200
        finally:
            await close_peer_connection(pc)
        # Transfer and disconnect from the room; messages to every room; moves.
        body = {"role": "guest", "conference_alias": "meet"}
        assert (
            await room.part("breakout_transfer_participant", second.uuid, "transfer", body)
        ).result
        assert (
            await host.conf(
                "breakouts_message", "breakouts/message", {"type": "text/plain", "payload": "5 min"}
            )
        ).result
        move = {"breakout_uuid": room_uuid, "participants": [spare.uuid]}
        assert (
            await host.conf("breakout_move_participants_from_main", "participants/breakout", move)
        ).result
        assert (
            await host.conf(
                "breakout_move_participants_from_main",
                "participants/breakout",
                {"breakout_uuid": room_uuid, "participants": ["nobody"]},
            )
        ).status == 403
        back = {"breakout_uuid": "main", "participants": [inside.uuid]}
        assert (await room.fn("breakout_move_participants", "participants/breakout", back)).result
        assert (
            await room.fn(
                "breakout_move_participants",
                "participants/breakout",
                {"breakout_uuid": "main", "participants": ["nobody"]},
            )
        ).status == 403
        assert (await host.conf("breakouts_empty", "breakouts/empty")).result is True
        other = (await host.conf("breakouts", "breakouts", {"name": "Room 2"})).result[
            "breakout_uuid"
        ]
        third = await api.joined("secure", "third", pin="5678")
        third_events = await third.events()
        await host.conf(
            "breakout_move_participants_from_main",
            "participants/breakout",
            {"breakout_uuid": other, "participants": [third.uuid]},
        )
        third_in = await _rejoin(
            api, "secure", "third", (await _refer(third_events, "breakout"))["token"]
        )
        await third_events.close()
        room2 = Room(host, other, "")
        assert (
            await room2.part("breakout_disconnect_participant", third_in.uuid, "disconnect")
        ).status == 200
        assert (await room2.fn("breakout_disconnect", "disconnect")).result is True
        assert (await host.conf("breakouts_disconnect", "breakouts/disconnect")).result is None
    finally:
        await host_events.close()
        await guest_events.close()
