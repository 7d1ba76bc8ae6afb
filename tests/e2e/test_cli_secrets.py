"""No secret reaches what `pexbot` prints (issue 12, point 9): a node that echoes the PIN or
the token, and a management API that echoes the password, meet one redactor that every
printed line passes (the log, the final `pexbot: ...` line, the fleet summary)."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from pydantic import SecretStr

from agent._http_server import AppServer
from agent.redact import MASK, RedactingStream, Redactor
from tests.support.hostile_node import Behaviour, HostileNode
from tests.support.pexbot_cmd import pexbot

PIN = "918273"
SIGNALLING_ONLY = ["--audio", "none", "--video", "none", "--alias", "meet", "--name", "Bot"]


async def test_a_pin_echoed_by_the_node_is_masked_in_every_line_of_pexbot_run() -> None:
    async with HostileNode(Behaviour(echo_pin=True)) as node:
        ran = await pexbot(
            "run", "--node", node.url, *SIGNALLING_ONLY, "--pin-env", "BOT_PIN",
            env={"BOT_PIN": PIN},
        )  # fmt: skip
    assert ran.code == 21  # not Pexip's exact "Invalid PIN": a node error
    assert ran.last_line == "pexbot: failed (node_error): Invalid PIN ***, try again"
    # The log said it too (the state change), masked as well.
    logged = ran.err.splitlines()[:-1]
    assert any(
        "joining -> failed" in line and "Invalid PIN ***, try again" in line for line in logged
    )
    assert PIN not in ran.err + ran.out


async def test_a_pin_echoed_by_the_node_is_masked_in_the_fleet_summary(tmp_path: Path) -> None:
    fleet = tmp_path / "fleet.toml"
    async with HostileNode(Behaviour(echo_pin=True)) as node:
        fleet.write_text(
            f'[defaults]\nnode = "{node.url}"\nalias = "meet"\n'
            '[defaults.media]\naudio = "none"\nvideo = "none"\n'
            '[[bots]]\ndisplay_name = "One"\npin_env = "PIN_ONE"\n'
            '[[bots]]\ndisplay_name = "Two"\npin = "24680"\n'
        )
        ran = await pexbot("fleet", str(fleet), env={"PIN_ONE": PIN})
    assert ran.code == 1
    assert "Traceback" not in ran.err
    summary = ran.out.splitlines()
    assert summary[1:] == [
        "0:One  failed         0       0  node_error: Invalid PIN ***, try again",
        "1:Two  failed         0       0  node_error: Invalid PIN ***, try again",
        "0 of 2 bots left cleanly",
    ]
    for secret in (PIN, "24680"):
        assert secret not in ran.out + ran.err


async def test_a_token_echoed_by_the_node_is_masked() -> None:
    async with HostileNode(Behaviour(echo_token=True)) as node:
        ran = await pexbot("run", "--node", node.url, *SIGNALLING_ONLY)
    assert ran.code == 17
    assert ran.last_line == "pexbot: failed (disconnected): Token *** revoked"
    assert node.tokens and not any(t in ran.out + ran.err for t in node.tokens)


@pytest.fixture
async def manager() -> AsyncIterator[str]:
    """A management API that quotes the Basic-auth password back in its error."""

    async def conferences(request: web.Request) -> web.Response:
        _, _, encoded = request.headers.get("Authorization", "").partition(" ")
        user, _, password = base64.b64decode(encoded).decode().partition(":")
        body = {"error": f"user {user} with password {password} may not list conferences"}
        return web.json_response(body, status=400)

    app = web.Application()
    app.router.add_get("/api/admin/status/v1/conference/", conferences)
    async with AppServer(app) as server:
        yield server.base_url


async def test_a_management_password_echoed_back_is_masked(manager: str) -> None:
    password = "correct-horse-battery"
    ran = await pexbot(
        "admin", "--url", manager, "conferences", env={"PEXBOT_ADMIN_PASSWORD": password}
    )
    assert ran.code == 5
    assert ran.only_line == (
        "pexbot admin: /api/admin/status/v1/conference/: HTTP 400: "
        "user admin with password *** may not list conferences"
    )
    assert password not in ran.out + ran.err


# -- the redactor itself ----------------------------------------------------------------------


def test_the_redactor_masks_every_form_a_line_can_hold() -> None:
    r = Redactor(["1234", None, "x"])  # None and one-character values are ignored
    r.add_token('tok"en\\1')
    r.add_secrets_of({"plugins": [{"password": _secret("s3cr3t-pw")}]})
    line = json.dumps({"m": 'pin 1234, token tok"en\\1, pw s3cr3t-pw, x'})
    assert json.loads(r.scrub(line)) == {"m": f"pin {MASK}, token {MASK}, pw {MASK}, x"}
    # A token in a URL's query is masked even before anyone said it is one.
    assert r.scrub("GET /events?token=abc.DEF-123&x=1") == f"GET /events?token={MASK}&x=1"


def test_only_the_newest_tokens_are_kept() -> None:
    r = Redactor(max_tokens=2)
    for token in ("old-token", "mid-token", "new-token"):
        r.add_token(token)
    assert r.scrub("old-token mid-token new-token") == f"old-token {MASK} {MASK}"
    assert r.known == 2


def test_a_secret_split_across_writes_is_still_masked(tmp_path: Path) -> None:
    target = (tmp_path / "out.txt").open("w")
    stream = RedactingStream(target, Redactor(["918273"]))
    stream.write("pin 91")
    stream.write("8273 ok\nprogress 9182")
    stream.flush()  # a partial line goes out on flush (a progress line)
    target.close()
    assert (tmp_path / "out.txt").read_text() == f"pin {MASK} ok\nprogress 9182"


def _secret(value: str) -> SecretStr:
    return SecretStr(value)
