"""The moderator's rule engine and safety gate on stage-event sequences (no media, no I/O):
a sequence recorded on the local node (`tests/support/moderator/stage_sequence.jsonl`, with a
guest whose VAD flaps) and synthetic ones."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import pytest
from pydantic import ValidationError

from plugins.moderator import Decision, Engine, Gate, ModeratorConfig, Person
from plugins.moderator.history import VoiceHistory
from tests.support.moderator import HERE

RECORDED = HERE / "stage_sequence.jsonl"
GUESTS = ("noise", "speech", "tone", "flap")


def config(**settings: Any) -> ModeratorConfig:
    return ModeratorConfig.model_validate(settings)


def recorded() -> list[tuple[float, list[str]]]:
    lines = RECORDED.read_text().splitlines()
    return [(d["t"], d["speaking"]) for d in map(json.loads, lines)]


def replay(
    engine: Engine,
    events: Iterable[tuple[float, list[str]]],
    *,
    until: float | None = None,
    tick: float = 0.25,
) -> list[tuple[float, Decision]]:
    """Stage events at their times, ticks in between: every decision with its time."""
    out: list[tuple[float, Decision]] = []
    now = 0.0
    items = list(events)
    end = until if until is not None else items[-1][0] + tick
    for at, speaking in [*items, (end, None)]:
        while now + tick < at:
            now += tick
            out += [(now, d) for d in engine.tick(now)]
        now = at
        if speaking is not None:
            out += [(now, d) for d in engine.stage(speaking, now)]
    return out


def first(decisions: list[tuple[float, Decision]], who: str, rule: str) -> float | None:
    return next((t for t, d in decisions if d.target == who and d.rule == rule), None)


def guests(engine: Engine, *names: str, now: float = 0.0, **fields: Any) -> None:
    for name in names:
        engine.join(Person(uuid=name, name=name.title(), **fields), now, initial=True)


# -- the recorded sequence ------------------------------------------------------------------


def test_recorded_noise_speech_and_tone_are_muted_by_the_ratio_and_flapping_is_not() -> None:
    engine = Engine(config(noise={"window": 5, "ratio": 0.8}))
    guests(engine, *GUESTS)
    decisions = replay(engine, recorded())
    # 4 s of activity in a 5 s window, counted from each one's first voice activity.
    noise, speech, tone = (first(decisions, n, "noise") for n in ("noise", "speech", "tone"))
    assert noise is not None and 4.5 <= noise <= 4.9
    assert speech is not None and 7.4 <= speech <= 8.1  # a 0.26 s pause at 7.85 s
    assert tone is not None and 10.4 <= tone <= 10.8
    # The flapping guest's VAD is on about 60 % of the time: never "continuous sound".
    assert first(decisions, "flap", "noise") is None
    (d,) = [d for t, d in decisions if t == noise and d.target == "noise"]
    assert d.action == "mute" and d.voice
    assert d.evidence == {"talk_ratio": pytest.approx(0.8, abs=0.06), "window": 5.0}
    assert d.message is not None and "of the last 5 s" in d.message


def test_recorded_flapping_vad_is_one_burst_for_presenting() -> None:
    settings = {"noise": {"enabled": False}, "presenting": {"enabled": True, "grace": 4}}
    engine = Engine(config(**settings))
    guests(engine, *GUESTS)
    engine.presentation("presenter-uuid", 0.0)
    decisions = replay(engine, recorded())
    flap = first(decisions, "flap", "presenting")
    # Its on/off swings (0.3-0.5 s gaps) are bridged: one burst from 9.7 s.
    assert flap is not None and 13.6 <= flap <= 14.1
    (d,) = [d for t, d in decisions if t == flap and d.target == "flap"]
    assert float(d.evidence["burst"] or 0) >= 4 and d.evidence["why"] == "presentation"

    # Without bridging, no single burst of the flapping guest lasts 4 s.
    engine = Engine(config(merge_gap=0, **settings))
    guests(engine, *GUESTS)
    engine.presentation("presenter-uuid", 0.0)
    assert first(replay(engine, recorded()), "flap", "presenting") is None


def test_recorded_hosts_the_bot_and_exempt_names_are_never_targets() -> None:
    engine = Engine(
        config(noise={"window": 5, "ratio": 0.8}, exempt_names=["spe*"]), own_uuid="tone"
    )
    guests(engine, "flap")
    engine.join(Person(uuid="noise", name="Noise", host=True), 0.0, initial=True)
    engine.join(Person(uuid="speech", name="Speech"), 0.0, initial=True)
    engine.join(Person(uuid="tone", name="Bot"), 0.0, initial=True)
    assert replay(engine, recorded()) == []
    assert "tone" not in engine.people and "tone" not in engine.speaking


def test_unknown_and_muted_participants_are_not_decided_on() -> None:
    engine = Engine(config(noise={"window": 5, "ratio": 0.8}))
    guests(engine, "speech", "tone", muted=True)  # "noise" and "flap" are not in the roster
    assert replay(engine, recorded()) == []


# -- noise with the bot's ears ------------------------------------------------------------


def continuous(who: list[str], start: float, end: float, step: float = 0.25) -> list[Any]:
    events = []
    t = start
    while t <= end:
        events.append((t, who))
        t += step
    return events


def test_confirm_with_audio_waits_for_a_verdict_then_spares_speech_and_mutes_noise() -> None:
    engine = Engine(config(noise={"window": 5, "ratio": 0.8}, confirm_with_audio=True))
    guests(engine, "lecturer", "hum")
    # No verdict yet: nothing is decided even past the window.
    assert replay(engine, [(0.0, ["lecturer"]), (8.0, ["lecturer"])]) == []
    engine.note_speech("lecturer", 0.93, 8.0)
    (decision,) = engine.tick(8.25)
    assert decision.action == "spare" and decision.message is None
    assert decision.evidence["speech_score"] == 0.93

    engine.stage(["hum"], 9.0)  # the lecturer stops, the hum starts
    engine.note_speech("hum", 0.02, 12.0)
    assert engine.tick(12.0) == []  # 3 s of 5: below the ratio
    (decision,) = engine.tick(14.0)
    assert decision.action == "mute" and decision.target == "hum"
    assert decision.evidence["speech_score"] == 0.02
    # A verdict older than the window does not count.
    engine.stage([], 14.5)
    engine.stage(["hum"], 30.0)
    assert engine.tick(36.0) == []


def test_sole_speaker_is_whoever_talks_alone() -> None:
    engine = Engine(config(), own_uuid="bot")
    engine.stage(["a", "bot"], 0.0)
    assert engine.sole_speaker() == "a"
    engine.stage(["a", "b"], 1.0)
    assert engine.sole_speaker() is None
    engine.stage([], 2.0)
    assert engine.sole_speaker() is None


# -- double talk, presenting in a lecture, spotlight, idle --------------------------------


def test_double_talk_mutes_a_guest_over_a_host_despite_flapping() -> None:
    settings = {"noise": {"enabled": False}, "double_talk": {"enabled": True, "seconds": 3}}
    engine = Engine(config(**settings))
    engine.join(Person(uuid="host", name="Host", host=True), 0.0, initial=True)
    guests(engine, "guest")
    events: list[tuple[float, list[str]]] = [(0.0, ["host"])]
    t = 5.0
    while t < 12:  # the guest's VAD: 0.4 s on, 0.3 s off
        events += [(t, ["guest", "host"]), (t + 0.4, ["host"])]
        t += 0.7
    decisions = replay(engine, events, until=14)
    at = first(decisions, "guest", "double_talk")
    assert at is not None and 8.0 <= at <= 8.5
    d = next(d for t, d in decisions if t == at)
    assert float(d.evidence["overlap"] or 0) >= 3 and d.action == "mute"
    # Talking after the host stopped is no double talk.
    engine2 = Engine(config(**settings))
    engine2.join(Person(uuid="host", name="Host", host=True), 0.0, initial=True)
    guests(engine2, "guest")
    assert replay(engine2, [(0.0, ["host"]), (2.0, []), (3.0, ["guest"])], until=12) == []


def test_presenting_applies_in_a_lecture_service_and_spares_the_presenter() -> None:
    settings = {"noise": {"enabled": False}, "presenting": {"enabled": True, "grace": 5}}
    engine = Engine(config(**settings))
    guests(engine, "student", lecture=True)
    decisions = replay(engine, [(1.0, ["student"])], until=8)
    at = first(decisions, "student", "presenting")
    assert at is not None and 6.0 <= at <= 6.3
    assert decisions[0][1].evidence["why"] == "lecture"

    engine = Engine(config(**settings))
    guests(engine, "presenter", "other")
    engine.presentation("presenter", 0.0)
    decisions = replay(engine, [(0.0, ["presenter"])], until=10)
    assert decisions == []  # the presenter talks as long as it likes
    engine.presentation(None, 10.0)
    assert replay(engine, [(10.0, ["other"])], until=20) == []  # no presentation: no rule


def test_spotlight_goes_to_whoever_holds_the_floor() -> None:
    spotlight = {"enabled": True, "seconds": 4}
    engine = Engine(config(noise={"enabled": False}, spotlight_speaker=spotlight))
    guests(engine, "a")
    engine.join(Person(uuid="b", name="B", spotlight=True), 0.0, initial=True)
    decisions = replay(engine, [(0.0, ["a", "b"]), (2.0, ["a"])], until=8)
    spot = [(t, d.action, d.target) for t, d in decisions]
    # Alone from 2.8 s (b's burst ends after the merge gap): 4 s later a is spotlighted,
    # and b's spotlight goes.
    assert 6.8 <= spot[0][0] <= 7.1 and {(a, w) for _, a, w in spot[:2]} == {
        ("spotlight", "a"),
        ("unspotlight", "b"),
    }


def test_idle_guests_are_muted_after_minutes_of_silence() -> None:
    engine = Engine(config(noise={"enabled": False}, idle_mute={"enabled": True, "minutes": 1}))
    guests(engine, "quiet", "talker")
    engine.join(Person(uuid="host", name="Host", host=True), 0.0, initial=True)
    engine.stage(["talker"], 30.0)
    engine.stage([], 40.0)
    assert engine.tick(59.0) == []
    (d,) = engine.tick(60.0)
    assert (d.rule, d.action, d.target) == ("idle_mute", "mute", "quiet")
    assert [d.target for d in engine.tick(100.0)] == ["quiet", "talker"]


# -- entry, waiting room, lock and the clock ---------------------------------------------


def test_mute_on_entry_mutes_newcomers_only_and_sets_guests_can_unmute() -> None:
    engine = Engine(config(mute_on_entry={"enabled": True, "guests_can_unmute": False}))
    (setting,) = engine.begin(0.0)
    assert setting.action == "set_guests_can_unmute"
    assert engine.join(Person(uuid="early", name="Early"), 0.0, initial=True) == []
    (d,) = engine.join(Person(uuid="late", name="Late"), 1.0)
    assert (d.rule, d.action, d.target) == ("mute_on_entry", "mute", "late")
    assert d.message is not None and not d.voice
    assert engine.join(Person(uuid="h", name="H", host=True), 1.0) == []
    assert engine.join(Person(uuid="w", name="W", waiting=True), 1.0) == []
    (d,) = engine.update(Person(uuid="w", name="W"), 2.0)  # admitted: now it enters
    assert d.target == "w"
    assert Engine(config(mute_on_entry={"enabled": True})).begin(0.0) == []


def test_admit_lets_matching_names_and_call_tags_in_and_leaves_others_waiting() -> None:
    engine = Engine(config(admit={"enabled": True, "names": ["alice*"], "call_tags": ["vip"]}))
    (d,) = engine.join(Person(uuid="a", name="Alice Smith", waiting=True), 0.0)
    assert (d.rule, d.action, d.target, d.evidence) == ("admit", "admit", "a", {"matched": "name"})
    (d,) = engine.join(Person(uuid="v", name="Vic", call_tag="VIP", waiting=True), 0.0)
    assert d.evidence == {"matched": "call_tag"}
    assert engine.join(Person(uuid="m", name="Mallory", waiting=True), 0.0) == []
    assert engine.update(Person(uuid="a", name="Alice Smith"), 1.0) == []  # admitted


def test_lock_at_locks_at_n_once_per_crossing() -> None:
    engine = Engine(config(lock_at={"enabled": True, "participants": 3}))
    assert engine.join(Person(uuid="a"), 0.0) == []
    assert engine.join(Person(uuid="w", waiting=True), 0.0) == []  # waiting: not counted
    assert engine.join(Person(uuid="b"), 0.0) == []
    (d,) = engine.join(Person(uuid="c"), 1.0)
    assert (d.rule, d.action, d.evidence) == ("lock_at", "lock", {"participants": 3})
    assert engine.join(Person(uuid="d"), 2.0) == []
    engine.leave("d", 3.0)
    engine.leave("c", 3.0)
    (d,) = engine.join(Person(uuid="e"), 4.0)  # re-armed below 3
    assert d.action == "lock"
    engine.conference(locked=True)
    engine.leave("e", 5.0)
    assert engine.join(Person(uuid="f"), 6.0) == []  # already locked


def test_clock_rules_lock_warn_and_disconnect_guests_at_the_end() -> None:
    engine = Engine(
        config(
            lock_at={"enabled": True, "at": "10:00:00"},
            end_at={"enabled": True, "at": "11:00:00", "warning": 60},
        )
    )
    guests(engine, "g1", "g2")
    engine.join(Person(uuid="h", name="H", host=True), 0.0, initial=True)
    engine.schedule(lock_at=100.0, end_at=200.0)
    assert engine.tick(99.0) == []
    (d,) = engine.tick(100.0)
    assert d.action == "lock" and d.evidence == {"at": "time"}
    assert engine.tick(139.0) == []
    (d,) = engine.tick(140.0)
    assert d.action == "announce" and d.message == (
        "This meeting ends in 1 minutes; guests will then be disconnected."
    )
    ends = engine.tick(200.0)
    assert sorted((d.action, d.target) for d in ends) == [
        ("disconnect", "g1"),
        ("disconnect", "g2"),
    ]
    (late,) = engine.join(Person(uuid="g3"), 210.0)  # joining after the end
    assert late.action == "disconnect" and late.evidence == {"late": 10.0}


# -- the gate -----------------------------------------------------------------------------


def mute(target: str = "g", voice: bool = True, rule: str = "noise") -> Decision:
    return Decision(rule, "mute", target, target, {}, "why", voice)


def test_gate_cooldown_per_participant_and_action_audited_once() -> None:
    gate = Gate(cooldown=60, per_minute=10)
    assert gate.judge(mute(), 0.0, "on") == "act"
    assert gate.judge(mute(), 1.0, "on") == "cooldown"
    assert gate.judge(mute(), 2.0, "on") is None  # repeats: no more lines
    assert gate.judge(mute("other"), 2.0, "on") == "act"
    admit = Decision("admit", "admit", "g")
    assert gate.judge(admit, 3.0, "on") == "act"  # another action on g
    assert gate.judge(mute(), 60.0, "on") == "act"  # cooldown over
    assert gate.judge(mute(), 61.0, "on") == "cooldown"


def test_gate_rate_limit_counts_voice_actions_per_minute() -> None:
    gate = Gate(cooldown=0, per_minute=2)
    verdicts = [gate.judge(mute(f"g{i}"), float(i), "on") for i in range(5)]
    assert verdicts == ["act", "act", "rate_limited", "rate_limited", "rate_limited"]
    assert gate.judge(mute("g2"), 10.0, "on") is None  # told once already
    # List and clock rules are not limited.
    assert gate.judge(Decision("admit", "admit", "w"), 11.0, "on") == "act"
    assert gate.judge(mute("g2"), 60.5, "on") == "act"  # the first slot freed


def test_gate_dry_run_off_and_never_the_bot_or_a_host() -> None:
    gate = Gate(cooldown=30, per_minute=10, own_uuid="bot")
    assert gate.judge(mute(), 0.0, "dry-run") == "dry_run"
    assert gate.judge(mute(), 1.0, "dry-run") == "cooldown"  # dry runs keep the cooldown
    assert gate.judge(mute("x"), 1.0, "off") is None
    assert gate.judge(mute("bot"), 2.0, "on") == "refused"
    assert gate.judge(mute("h"), 2.0, "on", target_is_host=True) == "refused"
    assert gate.judge(Decision("x", "spotlight", "h"), 2.0, "on", target_is_host=True) == "act"
    spare = Decision("noise", "spare", "lecturer")
    assert gate.judge(spare, 3.0, "on") == "spared"
    assert gate.judge(spare, 4.0, "on") is None
    gate.forget("g")
    assert gate.judge(mute(), 5.0, "on") == "act"


# -- history and config ---------------------------------------------------------------------


def test_voice_history_integrates_time_and_bridges_short_gaps() -> None:
    v = VoiceHistory(horizon=10, merge_gap=0.5)
    v.start(0.0)
    v.stop(2.0)
    v.start(2.4)  # bridged
    assert v.burst(3.0) == pytest.approx(3.0)
    v.stop(4.0)
    assert v.talk_time(4.0, 10) == pytest.approx(3.6)
    assert v.talk_time(4.0, 3) == pytest.approx(2.6)  # [1, 4]: 1 + 1.6
    assert v.burst(4.3) == pytest.approx(4.0) and v.burst(4.6) == 0.0
    v.start(5.0)  # not bridged
    assert v.burst(6.0) == pytest.approx(1.0)
    assert v.talk_time(16.0, 10) == pytest.approx(10.0)
    v.stop(16.0)
    assert v.talk_time(30.0, 10) == 0.0 and v.silent_for(30.0, 0.0) == 14.0


def test_empty_config_turns_on_only_noise_through_the_client_api() -> None:
    cfg = ModeratorConfig()
    assert cfg.enabled_rules() == ["noise"]
    assert (cfg.noise.window, cfg.noise.ratio, cfg.backend, cfg.dry_run) == (
        30.0,
        0.8,
        "client",
        False,
    )


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"noise": {"ratio": 2}}, "noise.ratio: Input should be less than or equal to 1"),
        (
            {"noise": {"message": "too loud: {volume}"}},
            "message: unknown field {volume} (fields: {talk_ratio}, {window})",
        ),
        ({"lock_at": {"enabled": True}}, "lock_at needs participants or at"),
        ({"end_at": {"enabled": True}}, "end_at needs at"),
        ({"nosie": {}}, "nosie: Extra inputs are not permitted"),
    ],
)
def test_bad_config_names_the_key(settings: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError) as caught:
        ModeratorConfig.model_validate(settings)
    errors = caught.value.errors()
    text = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in errors)
    assert message in text
