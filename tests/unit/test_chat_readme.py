"""README.md's "Chat commands" section stays true: its example config loads (the chat
plugin and its responders), and its table lists exactly the plugin's commands."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from agent import parse_config
from agent.runtime.launch import build_plugins
from plugins.chat import COMMANDS, ChatPlugin

README = Path(__file__).resolve().parents[2] / "README.md"


def section() -> str:
    return README.read_text().split("## Chat commands", 1)[1].split("\n## ", 1)[0]


def test_the_example_config_loads() -> None:
    match = re.search(r"```toml\n(# assistant.toml\n.*?)```", section(), re.DOTALL)
    assert match is not None
    config = parse_config(tomllib.loads(match.group(1)))
    plugins = build_plugins(config)
    chat = next(p for p in plugins if isinstance(p, ChatPlugin))
    assert [r.use for r in chat.responders] == ["faq", "http"]
    assert chat.config.permissions == {"mute": "anyone", "leave": "nobody"}


def test_the_table_lists_every_command() -> None:
    rows = [line for line in section().splitlines() if line.startswith("| `!")]
    listed = [name for row in rows for name in re.findall(r"`!(\w+)", row.split("|")[1])]
    assert sorted(listed) == sorted(COMMANDS)
