"""The leave rules' defaults: a bot (a recorder started early) stays until the conference
ends; the rules a user sets fire and say which one did."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from agent.cli import DEMO_EXTRA, DEMO_SECONDS, build_parser
from agent.config import leave_rules_help, parse_config
from agent.runtime.bot import Bot
from agent.runtime.states import BotState
from tests.support.fakes_events import participant
from tests.unit.test_rooms import parsed, room_event

README = Path(__file__).resolve().parents[2] / "README.md"


def _bot(**leave: Any) -> Bot:
    config = parse_config({"node": "http://127.0.0.1:9", "alias": "meet", "leave": leave})
    bot = Bot(config)
    bot.state.to(BotState.CONNECTED)
    return bot


def test_a_bot_alone_stays_by_default() -> None:
    bot = _bot()
    assert bot.others() == []
    for now in (0.0, 60.0, 3600.0, 7 * 24 * 3600.0):
        assert bot._check_rules(now) is None


def test_each_configured_rule_fires_naming_itself() -> None:
    bot = _bot(alone_seconds=30)
    assert bot._check_rules(100.0) is None  # alone from now on
    assert bot._check_rules(129.0) is None
    outcome = bot._check_rules(130.0)
    assert outcome is not None
    assert outcome.detail == "leave.alone_seconds: alone for 30 s"
    outcome = _bot(duration=90)._check_rules(90.0)
    assert outcome is not None and outcome.detail == "leave.duration: 90 s in the conference"


def _in_room(bot: Bot, *items: dict[str, Any]) -> None:
    """Room r1's events on the bot's stream, the bot's call in r1 (as `join_breakout`)."""
    bot._host_room = ("r1", "me-r1")
    begin = {"breakout_uuid": "r1", "participant_uuid": "me-r1"}
    for item in [parsed("breakout_begin", begin), *(room_event("r1", **i) for i in items)]:
        for change in bot.rooms.apply(item):
            bot._room_roster_change(change)


def test_a_host_in_a_breakout_room_judges_that_room() -> None:
    bot = _bot(alone_seconds=30, when_hosts_leave=True)
    me, guest = participant("me-r1", role="chair"), participant("g")
    _in_room(bot, {"event": "participant_sync_begin", "data": None})
    assert bot._check_rules(0.0) is None  # the room's list is half replayed: no word
    assert bot._check_rules(100.0) is None
    # The main room is empty; the guest in the bot's room keeps it from being alone.
    _in_room(
        bot,
        {"event": "participant_create", "data": me},
        {"event": "participant_create", "data": guest},
        {"event": "participant_sync_end", "data": None},
    )
    assert bot.others() == []
    assert bot._check_rules(200.0) is None
    assert bot._check_rules(300.0) is None
    # Alone in its room (whoever is in the main room): it leaves after alone_seconds.
    _in_room(bot, {"event": "participant_delete", "data": {"uuid": "g"}})
    assert bot._check_rules(400.0) is None
    outcome = bot._check_rules(430.0)
    assert outcome is not None and outcome.detail == "leave.alone_seconds: alone for 30 s"


def test_the_hosts_of_the_room_the_bot_is_in_count_for_when_hosts_leave() -> None:
    bot = _bot(when_hosts_leave=True)
    host = participant("h", role="chair")
    _in_room(
        bot,
        {"event": "participant_create", "data": host},
        {"event": "participant_create", "data": participant("g")},
    )
    assert bot._check_rules(1.0) is None
    _in_room(bot, {"event": "participant_delete", "data": {"uuid": "h"}})
    outcome = bot._check_rules(2.0)
    assert outcome is not None and outcome.detail == "leave.when_hosts_leave: every host has left"


def _help(command: str, capsys: pytest.CaptureFixture[str]) -> str:
    parser, _ = build_parser()
    with pytest.raises(SystemExit):
        parser.parse_args([command, "--help"])
    return capsys.readouterr().out


def test_help_and_readme_show_every_leave_rule_with_its_default(
    capsys: pytest.CaptureFixture[str],
) -> None:
    run_help = _help("run", capsys)
    table = leave_rules_help()
    assert table in run_help
    assert table in README.read_text()
    for name in ("duration", "alone_seconds", "when_hosts_leave", "waiting_room_timeout"):
        assert f"  {name} = " in table


def test_demo_help_and_readme_agree_on_its_length(capsys: pytest.CaptureFixture[str]) -> None:
    total = f"about {DEMO_SECONDS + DEMO_EXTRA:g} s"
    demo_help = _help("demo", capsys)
    assert total in " ".join(demo_help.split())
    assert f"`make demo` runs for {total}" in README.read_text()
