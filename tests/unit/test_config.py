from __future__ import annotations

from pathlib import Path

import pytest

from agent.config import ConfigError, load_bot_config, parse_config


def test_minimal_config_has_sensible_defaults() -> None:
    cfg = parse_config({"node": "http://127.0.0.1:8080", "alias": "meet"})
    assert cfg.display_name == "pexbot"
    assert cfg.media.audio == "silence"
    assert not cfg.leave.when_hosts_leave
    assert cfg.resolve_pin() is None


def test_every_problem_is_reported_with_its_path(tmp_path: Path) -> None:
    path = tmp_path / "bot.toml"
    path.write_text(
        'node = "ftp:/x"\nalias = ""\n[media]\naudio = "tone:abc"\nfoo = 1\n'
        '[[plugins]]\nname = ""\n'
    )
    with pytest.raises(ConfigError) as info:
        load_bot_config(path)
    text = str(info.value)
    for fragment in ("node:", "alias:", "media.audio:", "media.foo:", "plugins.0.name:"):
        assert f"{path}: {fragment}" in text


def test_pin_is_secret_and_comes_from_env_or_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = parse_config({"node": "http://n", "alias": "a", "pin": "4321"})
    assert "4321" not in repr(cfg) and "4321" not in str(cfg)
    assert cfg.resolve_pin() == "4321"

    monkeypatch.setenv("BOT_PIN", "1234\n")
    assert (
        parse_config({"node": "http://n", "alias": "a", "pin_env": "BOT_PIN"}).resolve_pin()
        == "1234"
    )
    monkeypatch.delenv("BOT_PIN")
    with pytest.raises(ConfigError, match="BOT_PIN is not set"):
        parse_config({"node": "http://n", "alias": "a", "pin_env": "BOT_PIN"}).resolve_pin()

    pin_file = tmp_path / "pin"
    pin_file.write_text("5678\n")
    assert (
        parse_config({"node": "http://n", "alias": "a", "pin_file": str(pin_file)}).resolve_pin()
        == "5678"
    )


def test_pin_sources_are_exclusive_and_invalid_pin_never_echoed() -> None:
    with pytest.raises(ConfigError) as info:
        parse_config({"node": "http://n", "alias": "a", "pin": "9999", "pin_env": "X"})
    assert "9999" not in str(info.value)


def test_malformed_toml_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("node = \n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_bot_config(path)
    with pytest.raises(ConfigError, match="cannot read"):
        load_bot_config(tmp_path / "missing.toml")


def test_pattern_size_and_rate_are_configurable() -> None:
    from agent.runtime.call import build_sources

    cfg = parse_config({"node": "http://n", "alias": "a", "media": {"video": "pattern:640x480@30"}})
    _audio, video, owned = build_sources(cfg.media)
    from agent.media.loops import LoopTrack, VideoLoop

    assert isinstance(video, LoopTrack)  # the encoded loop of the pattern, sent as packets
    assert isinstance(video.loop, VideoLoop)
    assert (video.loop.width, video.loop.height, video.loop.fps) == (640, 480, 30)
    for track in owned:
        track.stop()
    with pytest.raises(ConfigError, match=r"media\.video"):
        parse_config({"node": "http://n", "alias": "a", "media": {"video": "pattern:big"}})


def test_host_role_needs_a_pin() -> None:
    with pytest.raises(ConfigError, match="role host needs a host PIN"):
        parse_config({"node": "http://n", "alias": "a", "role": "host"})
    assert parse_config({"node": "http://n", "alias": "a", "role": "guest"}).role == "guest"
