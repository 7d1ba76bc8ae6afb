"""Bounded input on the node: oversized fields and bodies get a 4xx naming what was wrong,
and nothing of them is kept (a 100,000-character dial destination used to live for ever)."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest

from agent.node import LocalNode, limits
from tests.support.inspect_node import node_state

from .conftest import Api, Member

REPO = Path(__file__).resolve().parents[2]
HUGE = "x" * 100_000


def _too_long(field: str, limit: int) -> str:
    return f"Invalid request: {field}: String should have at most {limit} characters"


async def _host(api: Api) -> Member:
    return await api.joined("meet", "host")


async def test_dial_out_destination_and_names_are_bounded(api: Api) -> None:
    host = await _host(api)
    for body, field, limit in [
        ({"destination": HUGE}, "destination", limits.URI),
        (
            {"destination": "sip:a@b", "remote_display_name": HUGE},
            "remote_display_name",
            limits.NAME,
        ),
        ({"destination": "sip:a@b", "dtmf_sequence": HUGE}, "dtmf_sequence", limits.DIGITS),
    ]:
        reply = await host.conf("dial", "dial", {"role": "GUEST", "protocol": "sip", **body})
        assert (reply.status, reply.result) == (400, _too_long(field, limit))
    empty = {"role": "GUEST", "protocol": "sip", "destination": ""}
    assert (await host.conf("dial", "dial", empty)).status == 400
    await asyncio.sleep(0.3)  # past the dial delay: nothing was dialled
    participants = (await node_state(api.node))["meet"]["participants"]
    assert [p["display_name"] for p in participants] == ["host"]
    at_limit = "sip:" + "a" * (limits.URI - 4)
    ok = await host.conf(
        "dial", "dial", {"role": "GUEST", "protocol": "sip", "destination": at_limit}
    )
    assert ok.status == 200


async def test_display_name_is_bounded_at_join(api: Api) -> None:
    reply = await api.join("meet", HUGE)
    assert (reply.status, reply.result) == (415, _too_long("display_name", limits.NAME))
    assert (await api.join("meet", "n" * limits.NAME)).status == 200
    names = [p["display_name"] for p in (await node_state(api.node))["meet"]["participants"]]
    assert names == ["n" * limits.NAME]


async def test_chat_overlay_dtmf_and_transfer_are_bounded(api: Api) -> None:
    host = await _host(api)
    stream = await host.events()
    await stream.sync()
    big = {"type": "text/plain", "payload": "m" * (limits.MESSAGE + 1)}
    reply = await host.conf("message_conference", "message", big)
    assert (reply.status, reply.result) == (400, _too_long("payload", limits.MESSAGE))
    reply = await host.part("message_participant", host.uuid, "message", big)
    assert (reply.status, reply.result) == (400, _too_long("payload", limits.MESSAGE))
    fits = {"type": "text/plain", "payload": "m" * limits.MESSAGE}
    assert (await host.part("message_participant", host.uuid, "message", fits)).status == 200
    assert len((await stream.until("message_received"))["payload"]) == limits.MESSAGE
    for endpoint, path, body, field, limit in [
        ("overlaytext_participant", "overlaytext", {"text": HUGE}, "text", limits.NAME),
        ("dtmf_participant", "dtmf", {"digits": "1" * 1000}, "digits", limits.DIGITS),
        (
            "transfer_participant",
            "transfer",
            {"role": "guest", "conference_alias": HUGE},
            "conference_alias",
            limits.URI,
        ),
    ]:
        reply = await host.part(endpoint, host.uuid, path, body)
        assert (reply.status, reply.result) == (400, _too_long(field, limit)), endpoint
    await stream.close()


async def test_a_body_over_the_limit_gets_413(api: Api) -> None:
    host = await _host(api)
    body = {"type": "text/plain", "payload": "m" * limits.BODY_BYTES}
    reply = await host.conf("message_conference", "message", body)
    expected = f"Request body too large (over {limits.BODY_BYTES} bytes)"
    assert (reply.status, reply.result) == (413, expected)
    joined = await api.join("meet", "n", call_tag="t" * limits.BODY_BYTES)
    assert joined.status == 413


async def test_dtmf_kept_per_participant_is_bounded(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(limits, "KEEP_DTMF", 3)
    host = await _host(api)
    for digit in "12345":
        assert (await host.part("dtmf_participant", host.uuid, "dtmf", {"digits": digit})).result
    participant = (await node_state(api.node))["meet"]["participants"][0]
    assert participant["dtmf"] == "345"


async def test_a_bot_with_an_oversized_name_fails_with_one_line(node: LocalNode) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "agent.cli", "run", "--node", node.base_url, "--alias", "meet",
        "--name", "N" * 300, "--audio", "none", "--video", "none",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=REPO,
        env=dict(os.environ),
    )  # fmt: skip
    _out, err = await asyncio.wait_for(proc.communicate(), 30)
    text = err.decode()
    assert proc.returncode == 21
    assert text.strip().splitlines()[-1] == (
        "pexbot: failed (node_error): " + _too_long("display_name", limits.NAME)
    )
    assert "Traceback" not in text
