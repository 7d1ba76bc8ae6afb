"""What a user meets when something is wrong, through the `pexbot` command: the exit code,
one line on stderr saying what and where, never a traceback, never a secret."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from aiohttp import web

from agent._http_server import AppServer
from agent.node import LocalNode, default_config
from tests.support.pexbot_cmd import pexbot, start

SIGNALLING_ONLY = ["--audio", "none", "--video", "none"]
TOKEN_PATH = "/api/client/v2/conferences/meet/request_token"


@pytest.fixture
async def node() -> AsyncIterator[LocalNode]:
    async with LocalNode(default_config()) as n:
        yield n


@pytest.fixture
def busy_port() -> Iterator[int]:
    """A port something else listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- point 3: run and fleet treat a bad bot the same way ---------------------------------


def _fleet(tmp_path: Path, bot: str) -> Path:
    fleet = tmp_path / "fleet.toml"
    fleet.write_text(
        '[defaults]\nnode = "http://127.0.0.1:9"\nalias = "meet"\n'
        f'[[bots]]\ndisplay_name = "fine"\n[[bots]]\ndisplay_name = "bad"\n{bot}'
    )
    return fleet


async def test_unset_pin_env_is_one_line_and_exit_2_for_run_and_fleet(tmp_path: Path) -> None:
    env = {"PEXBOT_TEST_UNSET_PIN": ""}
    fleet = _fleet(tmp_path, 'pin_env = "PEXBOT_TEST_UNSET_PIN"\n')
    ran = await pexbot("fleet", str(fleet), env=env)
    assert ran.code == 2
    assert ran.only_line == (
        f"pexbot: invalid configuration: {fleet}: bots.1: "
        "pin_env: environment variable PEXBOT_TEST_UNSET_PIN is not set"
    )
    ran = await pexbot(
        "run", "--node", "http://127.0.0.1:9", "--alias", "meet",
        "--pin-env", "PEXBOT_TEST_UNSET_PIN", env=env,
    )  # fmt: skip
    assert ran.code == 2
    assert ran.only_line == (
        "pexbot: invalid configuration: command line: "
        "pin_env: environment variable PEXBOT_TEST_UNSET_PIN is not set"
    )


async def test_unknown_plugin_is_one_line_and_exit_2_for_run_and_fleet(tmp_path: Path) -> None:
    why = (
        "plugin 'no-such': no such plugin (not in entry-point group 'pexbot.plugins', "
        "and not module:Class or ./file.py:Class)"
    )
    fleet = _fleet(tmp_path, '[[bots.plugins]]\nname = "no-such"\n')
    ran = await pexbot("fleet", str(fleet))
    assert ran.code == 2
    assert ran.only_line == f"pexbot: invalid configuration: {fleet}: bots.1: {why}"
    bot = tmp_path / "bot.toml"
    bot.write_text('node = "http://127.0.0.1:9"\nalias = "meet"\n[[plugins]]\nname = "no-such"\n')
    ran = await pexbot("run", str(bot))
    assert ran.code == 2
    assert ran.only_line == f"pexbot: invalid configuration: {bot}: {why}"


async def test_sources_code_that_cannot_load_is_one_line_and_exit_2(tmp_path: Path) -> None:
    """`pexbot run` loads its sources' code before joining (numpy for the built-in tone):
    a broken install says so and never joins."""
    broken = tmp_path / "site" / "numpy"
    broken.mkdir(parents=True)
    (broken / "__init__.py").write_text('raise ImportError("numpy is broken here")\n')
    ran = await pexbot(
        "run", "--node", "http://127.0.0.1:9", "--alias", "meet", "--audio", "tone:440",
        "--video", "none", env={"PYTHONPATH": str(tmp_path / "site")},
    )  # fmt: skip
    assert ran.code == 2
    assert ran.only_line == (
        "pexbot: invalid configuration: command line: "
        "media: cannot load agent.media.loops: numpy is broken here"
    )


# -- point 4: a busy port ----------------------------------------------------------------


async def test_busy_metrics_port_in_the_config_file(tmp_path: Path, busy_port: int) -> None:
    bot = tmp_path / "bot.toml"
    bot.write_text(f'node = "http://127.0.0.1:9"\nalias = "meet"\n[metrics]\nport = {busy_port}\n')
    ran = await pexbot("run", str(bot))
    assert ran.code == 2
    assert ran.only_line == f"pexbot: port {busy_port} is in use"


async def test_busy_metrics_port_of_run_and_fleet_flags(tmp_path: Path, busy_port: int) -> None:
    ran = await pexbot(
        "run", "--node", "http://127.0.0.1:9", "--alias", "meet",
        "--metrics-port", str(busy_port),
    )  # fmt: skip
    assert (ran.code, ran.only_line) == (2, f"pexbot: port {busy_port} is in use")
    fleet = tmp_path / "fleet.toml"
    fleet.write_text('[[bots]]\nnode = "http://127.0.0.1:9"\nalias = "meet"\n')
    ran = await pexbot("fleet", str(fleet), "--metrics-port", str(busy_port))
    assert (ran.code, ran.only_line) == (2, f"pexbot: port {busy_port} is in use")


async def test_fleet_bots_asking_for_two_metrics_endpoints(tmp_path: Path) -> None:
    fleet = tmp_path / "fleet.toml"
    fleet.write_text(
        '[defaults]\nnode = "http://127.0.0.1:9"\nalias = "meet"\n'
        '[[bots]]\ndisplay_name = "A"\n[bots.metrics]\nport = 9301\n'
        '[[bots]]\ndisplay_name = "B"\n[bots.metrics]\nport = 9302\n'
    )
    ran = await pexbot("fleet", str(fleet))
    assert ran.code == 2
    assert ran.only_line == (
        f"pexbot: invalid configuration: {fleet}: metrics: a fleet serves one /metrics for "
        "all its bots, but its bots ask for 2 (bot 0:A 127.0.0.1:9301, bot 1:B "
        "127.0.0.1:9302): set it once in [defaults.metrics]"
    )


async def test_busy_node_port(busy_port: int) -> None:
    ran = await pexbot("node", "--port", str(busy_port))
    assert ran.code == 2
    assert ran.only_line == f"pexbot: port {busy_port} is in use"
    assert ran.out == ""


# -- point 5: a node URL that is not a Pexip node -----------------------------------------


HTML = "<!doctype html>\n<html>\n<head><title>Intranet</title></head>\n<body>hi</body>\n</html>\n"


@asynccontextmanager
async def serve(status: int | None) -> AsyncIterator[str]:
    """A web server on 127.0.0.1 answering every path with an HTML page of `status`, or
    (None) one without any route: aiohttp's own plain-text 404."""
    app = web.Application()
    if status is not None:

        async def page(_request: web.Request) -> web.Response:
            return web.Response(text=HTML, status=status, content_type="text/html")

        app.router.add_route("*", "/{tail:.*}", page)
    async with AppServer(app) as server:
        yield server.base_url


@pytest.mark.parametrize(
    ("status", "what"),
    [
        (200, "got text/html from {url}"),
        (500, "got text/html from {url} (HTTP 500)"),
        (None, "got text/plain from {url} (HTTP 404)"),
    ],
    ids=["html-200", "html-500", "plain-404"],
)
async def test_a_web_server_that_is_not_a_pexip_node(status: int | None, what: str) -> None:
    async with serve(status) as base:
        ran = await pexbot("run", "--node", base, "--alias", "meet", *SIGNALLING_ONLY)
    assert ran.code == 21
    assert ran.last_line == (
        f"pexbot: failed (node_error): not a Pexip client API: {what.format(url=base + TOKEN_PATH)}"
    )


async def test_connection_refused_names_the_url() -> None:
    base = f"http://127.0.0.1:{closed_port()}"
    ran = await pexbot("run", "--node", base, "--alias", "meet", *SIGNALLING_ONLY)
    assert ran.code == 20
    assert ran.last_line == (
        f"pexbot: failed (node_unreachable): connection refused: {base}{TOKEN_PATH}"
    )
    assert "ClientConnectorError" not in ran.err


# -- point 10: pin_file, extension, node config errors -----------------------------------


async def test_pin_file_is_relative_to_the_config_file(node: LocalNode, tmp_path: Path) -> None:
    folder = tmp_path / "conf"
    folder.mkdir()
    (folder / "pin.txt").write_text("1234\n")
    bot = folder / "bot.toml"
    bot.write_text(
        f'node = "{node.base_url}"\nalias = "secure"\ndisplay_name = "Filed"\n'
        'pin_file = "pin.txt"\nrole = "host"\n[media]\naudio = "none"\nvideo = "none"\n'
        "receive_audio = false\nreceive_video = false\n"
    )
    # Started from elsewhere: the PIN file is found next to the config all the same.
    ran = await pexbot("run", str(bot), "--duration", "1", cwd=tmp_path)
    assert ran.code == 0, ran.err
    assert ran.last_line == "pexbot: left secure (leave.duration: 1 s in the conference)"
    assert "as HOST" in ran.err
    assert "1234" not in ran.err


async def test_pin_file_of_a_fleet_is_relative_to_the_fleet_file(tmp_path: Path) -> None:
    folder = tmp_path / "conf"
    folder.mkdir()
    fleet = folder / "fleet.toml"
    fleet.write_text('[[bots]]\nnode = "http://127.0.0.1:9"\nalias = "meet"\npin_file = "nope"\n')
    ran = await pexbot("fleet", str(fleet), cwd=tmp_path)
    assert ran.code == 2
    assert ran.only_line == (
        f"pexbot: invalid configuration: {fleet}: bots.0: "
        f"pin_file: cannot read {folder / 'nope'}: No such file or directory"
    )


async def test_extension_on_a_conference_is_said_once(node: LocalNode) -> None:
    ran = await pexbot(
        "run", "--node", node.base_url, "--alias", "meet", "--extension", "sales",
        "--duration", "1", *SIGNALLING_ONLY,
    )  # fmt: skip
    assert ran.code == 0, ran.err
    said = [line for line in ran.err.splitlines() if "extension" in line]
    assert len(said) == 1, ran.err
    assert said[0].endswith("extension 'sales' ignored: meet is not a Virtual Reception")


async def test_node_config_errors_never_echo_a_pin(tmp_path: Path) -> None:
    bad = tmp_path / "node.toml"
    bad.write_text(
        '[[services]]\nname = "same"\nhost_pin = "918273"\nguest_pin = "918273"\n'
        '[[services]]\nname = "typed"\nhost_pin = 564738\n'
    )
    ran = await pexbot("node", "--config", str(bad))
    assert ran.code == 2
    assert "918273" not in ran.err and "564738" not in ran.err
    assert "Traceback" not in ran.err
    assert ran.err.splitlines() == [
        f"pexbot: invalid configuration: {bad}: services.0: "
        "Value error, service 'same': host and guest PIN must differ",
        f"pexbot: invalid configuration: {bad}: services.1.host_pin: "
        "Input should be a valid string",
    ]


async def test_node_extensions_on_a_conference_are_refused(tmp_path: Path) -> None:
    bad = tmp_path / "node.toml"
    bad.write_text('[[services]]\nname = "meet"\nextensions = { sales = "other" }\n')
    ran = await pexbot("node", "--config", str(bad))
    assert ran.code == 2
    assert ran.only_line == (
        f"pexbot: invalid configuration: {bad}: services.0: Value error, service 'meet': "
        "extensions apply only to kind = \"reception\", not 'conference'"
    )


# -- point 12: after a Virtual Reception, the conference actually joined -------------------


async def test_virtual_reception_forward_names_the_conference(node: LocalNode) -> None:
    ran = await pexbot(
        "run", "--node", node.base_url, "--alias", "lobby", "--extension", "meet",
        "--name", "Forwarded", "--duration", "1", *SIGNALLING_ONLY,
    )  # fmt: skip
    assert ran.code == 0, ran.err
    assert ran.last_line == "pexbot: left meet (leave.duration: 1 s in the conference)"
    assert "joined meet (via lobby) as HOST" in ran.err
    assert "ignored" not in ran.err


async def test_start_helper_is_the_installed_command() -> None:
    proc = await start("--version")
    out, _ = await proc.communicate()
    assert proc.returncode == 0
    assert out.decode().startswith("pexbot ")
