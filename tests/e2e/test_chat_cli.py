"""The chat plugin through the `pexbot` command, as a user runs it: loaded by its entry
point from a TOML file, answering on the local node; a bad chat config is one line, exit 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.node import LocalNode
from tests.support.pexbot_cmd import finish, pexbot, start

from .chat_support import GUEST_PIN, Person, until
from .conftest import Api

pytestmark = pytest.mark.e2e

BOT = """\
node = "{node}"
alias = "secure"
display_name = "Helper"
pin_env = "PEXBOT_TEST_CHAT_PIN"

[media]
audio = "none"
video = "none"
receive_audio = false
receive_video = false

[leave]
alone_seconds = 60

[[plugins]]
name = "chat"
[plugins.config]
{chat}
"""

FAQ = """\
[[plugins.config.responders]]
use = "faq"
options = { entries = [{ keywords = ["lunch"], answer = "Lunch is at noon" }] }
"""


async def test_pexbot_run_with_the_chat_plugin_answers(
    node: LocalNode, api: Api, tmp_path: Path
) -> None:
    bot = tmp_path / "bot.toml"
    bot.write_text(BOT.format(node=node.base_url, chat='prefix = "?"\n' + FAQ))
    proc = await start("run", str(bot), env={"PEXBOT_TEST_CHAT_PIN": "1234"})
    guest = await Person.join(api, "Gus Guest", GUEST_PIN)
    try:
        conference = node.ctx.state.conferences["secure"]
        await until(
            lambda: any(p.display_name == "Helper" for p in conference.participants.values()), 15
        )
        helper = next(u for u, p in conference.participants.items() if p.display_name == "Helper")
        reply = await guest.ask(helper, "?help")
        assert reply["payload"].startswith("Commands: ?help [command], ?status")
        assert (await guest.ask(helper, "when is lunch"))["payload"] == "Lunch is at noon"
    finally:
        await guest.close()
        proc.terminate()
        ran = await finish(proc, 30)
    assert ran.code == 0, ran.err


@pytest.mark.parametrize(
    ("chat", "why"),
    [
        (
            '[[plugins.config.responders]]\nuse = "fqa"\n',
            "plugin chat: responders.0: 'fqa' is not in entry-point group 'pexbot.responders' "
            "(known: faq, http) and not module:function",
        ),
        (
            '[[plugins.config.responders]]\nuse = "http"\noptions = { url = "http://x", '
            "retries = 99 }\n",
            "plugin chat: responders.0: 'http': options.retries: "
            "Input should be less than or equal to 10",
        ),
        (
            'permissions = { mutee = "anyone" }\n',
            "plugin chat: invalid config: permissions: Value error, unknown command 'mutee'; "
            "did you mean 'mute'?",
        ),
    ],
)
async def test_a_bad_chat_config_is_one_line_and_exit_2(
    tmp_path: Path, chat: str, why: str
) -> None:
    bot = tmp_path / "bot.toml"
    bot.write_text(BOT.format(node="http://127.0.0.1:9", chat=chat))
    ran = await pexbot("run", str(bot), env={"PEXBOT_TEST_CHAT_PIN": "1234"})
    assert ran.code == 2
    assert ran.only_line == f"pexbot: invalid configuration: {bot}: {why}"
