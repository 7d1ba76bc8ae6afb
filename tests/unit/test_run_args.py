"""How `pexbot run`'s flags become configuration (flags over the file, plugin settings)."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent._run_args import apply_plugin_settings, run_overrides, toml_value
from agent.cli import build_parser
from agent.config import ConfigError, parse_config, read_bot_toml
from agent.runtime.launch import merge_tables


def _config(tmp_path: Path, text: str, *flags: str) -> dict[str, object]:
    path = tmp_path / "bot.toml"
    path.write_text(text)
    parser, _ = build_parser()
    args = parser.parse_args(["run", str(path), *flags])
    data = merge_tables(read_bot_toml(path), run_overrides(args))
    return apply_plugin_settings(data, args.plugin_config or [])


def test_leave_flags_override_the_file_and_none_switches_a_rule_off(tmp_path: Path) -> None:
    data = _config(
        tmp_path,
        'node = "http://n"\nalias = "a"\n[leave]\nduration = 60\nalone_seconds = 30\n',
        "--duration", "none", "--alone-seconds", "5", "--when-hosts-leave",
        "--waiting-room-timeout", "30", "--metrics-port", "0", "--audio", "none",
    )  # fmt: skip
    config = parse_config(data)
    assert config.leave.duration is None
    assert config.leave.alone_seconds == 5
    assert config.leave.when_hosts_leave is True
    assert config.leave.waiting_room_timeout == 30
    assert config.metrics.port == 0
    assert config.media.audio == "none"  # `none` is a value here, not "off"


def test_bad_seconds_are_refused_by_the_parser(capsys: pytest.CaptureFixture[str]) -> None:
    parser, _ = build_parser()
    with pytest.raises(SystemExit):
        parser.parse_args(["run", "--alone-seconds", "-3"])
    assert "'-3': must be more than 0 (or none)" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("text", "value"),
    [("3600", 3600), ("1.5", 1.5), ("true", True), ('"x y"', "x y"), ("recordings", "recordings"),
     ("/data/rec", "/data/rec"), ("[1, 2]", [1, 2])],
)  # fmt: skip
def test_plugin_config_values_are_toml_or_else_strings(text: str, value: object) -> None:
    assert toml_value(text) == value


def test_plugin_config_sets_keys_of_flag_and_file_plugins(tmp_path: Path) -> None:
    data = _config(
        tmp_path,
        'node = "http://n"\nalias = "a"\n[[plugins]]\nname = "webhook"\n'
        'config = { url = "http://hook" }\n',
        "--plugin-config", "webhook.secret_env=HOOK_KEY",
        "--plugin-config", "webhook.retry.max=3",
    )  # fmt: skip
    assert data["plugins"] == [
        {
            "name": "webhook",
            "config": {"url": "http://hook", "secret_env": "HOOK_KEY", "retry": {"max": 3}},
        }
    ]
    data = _config(
        tmp_path, 'node = "http://n"\nalias = "a"\n',
        "--plugin", "./my.plugins/greeter.py:Greeter", "--plugin", "recorder",
        "--plugin-config", "./my.plugins/greeter.py:Greeter.greeting=hi",
        "--plugin-config", "recorder.segment_seconds=600",
    )  # fmt: skip
    assert data["plugins"] == [
        {"name": "./my.plugins/greeter.py:Greeter", "config": {"greeting": "hi"}},
        {"name": "recorder", "config": {"segment_seconds": 600}},
    ]


@pytest.mark.parametrize(
    ("setting", "why"),
    [
        ("recorder.x", "expected NAME.KEY=VALUE"),
        ("recorder=1", "expected NAME.KEY=VALUE"),
        ("recorder.=1", "expected NAME.KEY=VALUE"),
        ("webhook.url=x", "no configured plugin matches (plugins: recorder)"),
    ],
)
def test_plugin_config_mistakes_are_named(tmp_path: Path, setting: str, why: str) -> None:
    with pytest.raises(ConfigError) as err:
        _config(
            tmp_path, 'node = "http://n"\nalias = "a"\n',
            "--plugin", "recorder", "--plugin-config", setting,
        )  # fmt: skip
    assert str(err.value) == f"--plugin-config {setting}: {why}"
