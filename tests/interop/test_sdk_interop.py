"""Pexip's own web SDK (`@pexip/infinity`, bundled with esbuild) in headless Chromium against
the local node: PIN retry, participant list, ICE with the node's aiortc peer, chat, DTMF,
leave. The page (tests/interop/sdk/page.html) reports every step to the harness; the test
asserts on those reports and on what the node saw (its test-only inspection routes, an
observer's event stream and the requests the same-origin proxy forwarded).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import pytest

from agent.node import LocalNode
from tests.support.inspect_node import CONTROL_TOKEN

from .conftest import Observer, require_prerequisites
from .harness import Chromium, PageServer, group_alive, is_local_address

pytestmark = pytest.mark.interop

ALIAS = "secure"  # built-in VMR: host PIN 1234, guest PIN 5678
HOST_PIN = "1234"
GUEST_PIN = "5678"
SDK_NAME = "SDK interop"
MESSAGE = "hello from the web SDK"
DIGITS = "1234#"
JOIN_TIMEOUT = 40.0  # page load -> call connected, chat and DTMF sent
STEP_TIMEOUT = 10.0
FAILURES = ("fatal", "call_failed", "leave_failed")


async def _node_json(http: aiohttp.ClientSession, url: str) -> tuple[int, Any]:
    async with http.get(url, headers={"Authorization": f"Bearer {CONTROL_TOKEN}"}) as resp:
        return resp.status, await resp.json()


async def _poll(check: Callable[[], Awaitable[Any]], timeout: float, interval: float = 0.1) -> Any:
    """Retry `check` until it returns something truthy; its last value after `timeout` s."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = await check()
        if value or loop.time() >= deadline:
            return value
        await asyncio.sleep(interval)


def _context(server: PageServer, browser: Chromium | None = None) -> str:
    text = "\n" + server.transcript()
    if browser is not None:
        text += "\n--- chromium log (tail) ---\n" + browser.log_tail()
    return text


async def test_web_sdk_joins_pin_vmr_chats_sends_dtmf_and_leaves(
    node: LocalNode,
    http: aiohttp.ClientSession,
    page_server: PageServer,
    chromium: Callable[[str], Awaitable[Chromium]],
    observer_factory: Callable[[str, str, str], Awaitable[Observer]],
) -> None:
    require_prerequisites()
    server = page_server
    # A guest already in the room sees the SDK's chat and its arrival and departure.
    observer = await observer_factory(ALIAS, "observer", GUEST_PIN)

    browser = await chromium(
        server.page_url(alias=ALIAS, name=SDK_NAME, pin=HOST_PIN, message=MESSAGE, dtmf=DIGITS)
    )
    pgid = browser.proc.pid if browser.proc is not None else -1

    # 1. The page joins through the PIN retry, connects the call, sends chat and DTMF.
    try:
        reached = await server.wait_for_log("waiting_to_leave", *FAILURES, timeout=JOIN_TIMEOUT)
    except TimeoutError:
        pytest.fail(f"the page did not connect within {JOIN_TIMEOUT} s{_context(server, browser)}")
    assert reached["event"] == "waiting_to_leave", _context(server, browser)
    ctx = _context(server)

    # PIN: a first request_token without a PIN got the PIN 403, the retry with it got 200.
    pin_required = server.events("pin_required")
    assert len(pin_required) == 1, ctx
    assert pin_required[0]["data"]["hasHostPin"] is True, ctx
    assert pin_required[0]["data"]["hasGuestPin"] is True, ctx
    tokens = server.proxied("request_token")
    assert [r.status for r in tokens] == [403, 200], ctx
    assert "pin" not in tokens[0].request_headers, ctx
    assert tokens[1].request_headers.get("pin") == HOST_PIN, ctx
    joined = [e for e in server.events("call_result") if e["data"]["status"] == 200]
    assert len(joined) == 1, ctx
    assert joined[0]["data"]["role"] == "HOST", ctx
    sdk_uuid: str = joined[0]["data"]["participantUuid"]
    assert sdk_uuid, ctx

    # Participant list: the SDK saw itself (and the observer) after the sync.
    lists = [e["data"]["participants"] for e in server.events("participants")]
    assert lists, ctx
    assert any(
        {p["uuid"] for p in plist} >= {sdk_uuid, observer.uuid}
        and any(p["uuid"] == sdk_uuid and p["displayName"] == SDK_NAME for p in plist)
        for plist in lists
    ), ctx

    # ICE: the browser's peer connection is connected over loopback to the node.
    assert server.first("call_connected") is not None, ctx
    assert "connected" in {e["data"]["state"] for e in server.events("ice_state")}, ctx
    pair_report = server.first("ice_pair")
    assert pair_report is not None, ctx
    pairs = [p for p in pair_report["data"]["pairs"] if p]
    assert pairs, ctx
    assert pairs[0]["local"]["address"] == "127.0.0.1", ctx
    assert pairs[0]["remote"]["address"] == "127.0.0.1", ctx
    # Chromium offers host candidates only (no STUN/TURN, no mDNS names), all of them
    # addresses of this machine: no packet of the call can leave it. (Chromium 156 offers
    # no 127.0.0.1 host candidate when other interfaces exist; the loopback pair above is
    # peer-reflexive, learnt from the node's checks from 127.0.0.1.)
    for candidate in server.events("local_candidate"):
        line = candidate["data"]["candidate"]
        if not line:
            continue  # end of candidates
        fields = line.split()
        address, kind = fields[4], fields[7]
        assert kind == "host", f"non-host candidate {line!r}{ctx}"
        assert is_local_address(address), f"candidate not on this machine {line!r}{ctx}"

    # ... and the node's aiortc peer for that call agrees.
    async def node_connected() -> Any:
        status, body = await _node_json(http, f"{node.base_url}/_node/participants/{sdk_uuid}")
        if status != 200:
            return None
        calls = body["result"]["calls"]
        if calls and calls[0]["connection_state"] == "connected":
            return body["result"]
        return None

    described = await _poll(node_connected, STEP_TIMEOUT)
    assert described, f"node peer never connected{ctx}"
    node_call = described["calls"][0]
    assert node_call["call_type"] == "WEBRTC", described
    assert node_call["ice_state"] in ("completed", "connected"), described
    answer = server.first("answer")
    assert answer is not None and answer["data"]["callUuid"] == node_call["call_uuid"], ctx

    # Chat: the SDK's message reached the node and the observer's event stream.
    message_sent = server.first("message_sent")
    assert message_sent is not None and message_sent["data"]["result"] is True, ctx
    chat = await observer.wait_for("message_received", STEP_TIMEOUT, uuid=sdk_uuid)
    assert chat["payload"] == MESSAGE, chat
    assert chat["origin"] == SDK_NAME, chat
    assert chat["type"].startswith("text/plain"), chat

    # DTMF: the node recorded the digits for the SDK participant.
    sent = server.first("dtmf_sent")
    assert sent is not None and sent["data"]["result"] is True, ctx
    status, dtmf = await _node_json(http, f"{node.base_url}/_node/participants/{sdk_uuid}/dtmf")
    assert status == 200, dtmf
    assert dtmf["result"]["digits"] == DIGITS, dtmf

    # No errors so far.
    for name in ("error", "page_error", "disconnected", *FAILURES):
        assert not server.events(name), f"page reported {name}{ctx}"

    # 2. Leave: the page disconnects, the node gets call disconnect and release_token.
    server.open_gate("leave")
    try:
        left = await server.wait_for_log("left", "leave_failed", timeout=STEP_TIMEOUT)
    except TimeoutError:
        pytest.fail(f"the page did not leave{_context(server, browser)}")
    ctx = _context(server)
    assert left["event"] == "left", ctx
    gone = await observer.wait_for("participant_delete", STEP_TIMEOUT, uuid=sdk_uuid)
    assert gone == {"uuid": sdk_uuid}
    releases = server.proxied("release_token")
    assert [r.status for r in releases] == [200], ctx
    assert releases[0].json_body() == {"reason": "User initiated disconnect"}, ctx
    call_disconnects = [r for r in server.requests if r.path.endswith("/disconnect")]
    assert [r.status for r in call_disconnects] == [200], ctx
    assert node_call["call_uuid"] in call_disconnects[0].path, ctx
    status, body = await _node_json(http, f"{node.base_url}/_node/participants/{sdk_uuid}")
    assert status == 404 and body["result"] == "Participant not found", body
    _, state = await _node_json(http, f"{node.base_url}/_node/state")
    assert [p["uuid"] for p in state["result"][ALIAS]["participants"]] == [observer.uuid]
    for name in ("error", "page_error", *FAILURES):
        assert not server.events(name), f"page reported {name}{ctx}"

    # 3. Chromium goes away completely: its whole process group is killed and reaped.
    await browser.stop()
    assert not group_alive(pgid), "chromium processes left behind"
