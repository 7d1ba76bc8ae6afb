"""Pexip's call-quality classes (both rules) and the E-model MOS: golden tables at every
boundary, and properties (more loss never improves the class; MOS monotone)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agent.media.quality import (
    E_MODEL,
    CounterSample,
    Quality,
    QualityRule,
    completed_quality,
    live_quality,
    loss_percent,
    mos,
    one_way_delay_ms,
    split_windows,
    window_quality,
    worst,
)

V26, CURRENT = QualityRule.PEXIP_V26, QualityRule.PEXIP_CURRENT
U, G, K, B, T = Quality.UNKNOWN, Quality.GOOD, Quality.OK, Quality.BAD, Quality.TERRIBLE

# -- one window ------------------------------------------------------------------------

# (loss %, jitter ms, v26, current): every loss boundary from both sides, the jitter step
# exactly at and just above 40 ms, Terrible that cannot go lower, and no packets.
WINDOW_GOLDEN = [
    (0.0, 0.0, G, G),
    (0.999, 0.0, G, G),
    (1.0, 0.0, K, K),  # "< 1 %" is Good: exactly 1 % is OK
    (2.999, 0.0, K, K),
    (3.0, 0.0, B, B),
    (9.999, 0.0, B, B),
    (10.0, 0.0, T, T),
    (100.0, 0.0, T, T),
    (0.0, 40.0, G, G),  # "> 40 ms": exactly 40 does not step down
    (0.0, 40.001, K, G),
    (0.5, 60.0, K, G),  # the must-show pair
    (0.999, 41.0, K, G),
    (1.0, 41.0, B, K),
    (3.0, 41.0, T, B),
    (9.999, 500.0, T, B),
    (10.0, 41.0, T, T),  # Terrible stays Terrible
    (0.0, None, G, G),  # jitter not measured: no step
    (2.0, None, K, K),
]


@pytest.mark.parametrize(("loss", "jitter", "v26", "current"), WINDOW_GOLDEN)
def test_window_class_golden(
    loss: float, jitter: float | None, v26: Quality, current: Quality
) -> None:
    assert window_quality(loss, jitter, V26) is v26
    assert window_quality(loss, jitter, CURRENT) is current


def test_a_window_without_packets_is_unknown() -> None:
    assert window_quality(None, 12.0, V26) is U
    assert window_quality(None, None, CURRENT) is U


@pytest.mark.parametrize("bad", [-0.1, 100.1, float("nan"), float("inf")])
def test_impossible_loss_is_refused_by_name(bad: float) -> None:
    with pytest.raises(ValueError, match="loss_percent"):
        window_quality(bad, 0.0, CURRENT)


def test_impossible_jitter_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="jitter_ms"):
        window_quality(0.0, -1.0, V26)


# -- live and completed values ---------------------------------------------------------

LIVE_GOLDEN = [
    ([], U),
    ([U, U], U),  # windows without packets say nothing
    ([G], G),
    ([T, G, G], G),  # only the last three count ...
    ([G, G, T, T, G], T),  # ... T, T, G: most frequent
    ([G, K, B], B),  # three-way tie: the worse
    ([K, G], K),  # even split: the worse
    ([B, U, G, G], G),  # Unknown windows are skipped, not counted
]


@pytest.mark.parametrize(("windows", "expected"), LIVE_GOLDEN)
def test_live_value_golden(windows: list[Quality], expected: Quality) -> None:
    assert live_quality(windows) is expected


def test_live_value_takes_the_last_three_known_windows() -> None:
    # known windows G, K, K, G -> the last three are K, K, G -> K
    assert live_quality([G, K, K, G, U]) is K


COMPLETED_GOLDEN = [
    # windows, v26 (mode), current (mean, rounded half towards worse)
    ([], U, U),
    ([U], U, U),
    ([G], G, G),
    ([G, G, T], G, K),  # mean 2.0
    ([G, K], K, K),  # tie -> worse; mean 1.5 -> 2
    ([G, G, K], G, G),  # mean 1.33 -> 1
    ([G, K, K], K, K),  # mean 1.67 -> 2
    ([G, G, G, T], G, K),  # mean 1.75 -> 2
    ([G, G, G, G, G, T, T], G, K),  # mean 1.857 -> 2: the average is not the mode
    ([B, B, G, G, T], B, K),  # tie G/B -> B; mean 2.4 -> 2
    ([K, B], B, B),  # mean 2.5 -> 3 (half towards worse)
    ([G, U, U, K], K, K),  # Unknown windows left out
    ([T, T, T], T, T),
]


@pytest.mark.parametrize(("windows", "v26", "current"), COMPLETED_GOLDEN)
def test_completed_value_golden(windows: list[Quality], v26: Quality, current: Quality) -> None:
    assert completed_quality(windows, V26) is v26
    assert completed_quality(windows, CURRENT) is current


def test_labels_and_parsing() -> None:
    assert [q.label for q in Quality] == ["0_unknown", "1_good", "2_ok", "3_bad", "4_terrible"]
    assert K.text == "OK" and B.text == "Bad"
    for text, expected in (("ok", K), ("OK", K), ("2_ok", K), (3, B), ("terrible", T)):
        assert Quality.parse(text) is expected
    with pytest.raises(ValueError, match="not a call-quality class: 'fine'"):
        Quality.parse("fine")
    with pytest.raises(ValueError, match="not a call-quality class: '2_bad'"):
        Quality.parse("2_bad")
    assert worst([G, U, B, K]) is B and worst([U]) is U


# -- windows from counters -------------------------------------------------------------


def test_windows_from_cumulative_counters() -> None:
    # 50 packets a second; 1 lost per second in the first 20 s, 3 per second after.
    samples = []
    lost = 0
    for t in range(1, 46):
        lost += 1 if t <= 20 else 3
        samples.append(CounterSample(float(t), 50 * t, lost, jitter_ms=10.0 * t))
    windows = split_windows(samples, start=0.0)
    assert len(windows) == 2  # 40 s complete; the last 5 s are a partial window
    first, second = windows
    assert (first.expected, first.lost, first.loss_percent) == (1000, 20, 2.0)
    assert (second.expected, second.lost, second.loss_percent) == (1000, 60, 6.0)
    assert first.jitter_ms == pytest.approx(105.0)  # mean of 10..200
    assert [w.quality(CURRENT) for w in windows] == [K, B]
    assert [w.quality(V26) for w in windows] == [B, T]


def test_a_call_shorter_than_one_window_has_no_window() -> None:
    samples = [CounterSample(float(s), 50 * s, 0) for s in range(1, 20)]
    assert split_windows(samples, start=0.0) == []
    assert completed_quality([], CURRENT) is U


def test_loss_percent_of_counter_deltas() -> None:
    assert loss_percent(0, 0) is None
    assert loss_percent(5, 1000) == 0.5
    assert loss_percent(-2, 100) == 0.0  # duplicates: RFC 3550's count can go down


# -- MOS -------------------------------------------------------------------------------

# Hand-computed: R = 93.2 - Id - Ie,eff; Id = 0.024 Ta + 0.11 (Ta - 177.3) above 177.3;
# Ie,eff = 95 Ppl / (Ppl / BurstR + 25.1); MOS = 1 + 0.035 R + R (R - 60)(100 - R) 7e-6.
MOS_GOLDEN = [
    # Ta ms, Ppl %, BurstR, R, MOS
    (0.0, 0.0, 1.0, 93.2, 4.40929),  # 1 + 3.262 + 93.2*33.2*6.8*7e-6
    (100.0, 0.0, 1.0, 90.8, 4.35810),  # Id = 2.4
    (200.0, 0.0, 1.0, 85.903, 4.22618),  # Id = 4.8 + 0.11*22.7 = 7.297
    (0.0, 2.0, 1.0, 86.18893, 4.23484),  # Ie,eff = 190 / 27.1 = 7.01107
    (0.0, 5.0, 2.0, 75.98986, 3.86391),  # Ie,eff = 475 / 27.6 = 17.21014
    (150.0, 15.0, 1.0, 54.06384, 2.78900),  # Id = 3.6; Ie,eff = 1425 / 40.1 = 35.53616
    (500.0, 30.0, 1.0, -6.02110, 1.0),  # R below 0
]


@pytest.mark.parametrize(("ta", "ppl", "burst", "r", "expected"), MOS_GOLDEN)
def test_mos_golden(ta: float, ppl: float, burst: float, r: float, expected: float) -> None:
    assert E_MODEL.r_factor(ta, ppl, burst) == pytest.approx(r, abs=1e-4)
    assert mos(ta, ppl, burst) == pytest.approx(expected, abs=1e-4)


def test_r_to_mos_ends() -> None:
    assert E_MODEL.mos_from_r(-5) == 1.0
    assert E_MODEL.mos_from_r(3.0) == 1.0  # the cubic dips below 1 here: floored
    assert E_MODEL.mos_from_r(100) == 4.5
    assert E_MODEL.mos_from_r(120) == 4.5
    assert E_MODEL.mos_from_r(50) == pytest.approx(1 + 1.75 + 50 * -10 * 50 * 7e-6)


def test_mos_refuses_impossible_inputs_by_name() -> None:
    with pytest.raises(ValueError, match="one_way_delay_ms"):
        mos(-1.0, 0.0)
    with pytest.raises(ValueError, match="loss_percent"):
        mos(10.0, 101.0)
    with pytest.raises(ValueError, match="burst_ratio"):
        mos(10.0, 1.0, 0.5)


def test_one_way_delay_prefers_the_measured_media_round_trip() -> None:
    assert one_way_delay_ms(media_round_trip_ms=300.0, rtt_ms=40.0) == 150.0
    assert one_way_delay_ms(rtt_ms=40.0, jitter_ms=5.0) == 20.0 + 10.0 + 20.0
    assert one_way_delay_ms() is None


# -- properties ------------------------------------------------------------------------

losses = st.floats(min_value=0.0, max_value=100.0, allow_nan=False)
jitters = st.one_of(st.none(), st.floats(min_value=0.0, max_value=1000.0, allow_nan=False))
delays = st.floats(min_value=0.0, max_value=5000.0, allow_nan=False)
rules = st.sampled_from(list(QualityRule))
classes = st.lists(st.sampled_from(list(Quality)), max_size=30)


@given(losses, losses, jitters, rules)
def test_more_loss_never_improves_the_class(
    a: float, b: float, jitter: float | None, rule: QualityRule
) -> None:
    low, high = sorted((a, b))
    assert window_quality(high, jitter, rule) >= window_quality(low, jitter, rule)


@given(losses, st.floats(min_value=0, max_value=1000), st.floats(min_value=0, max_value=1000))
def test_more_jitter_never_improves_the_class(loss: float, a: float, b: float) -> None:
    low, high = sorted((a, b))
    for rule in QualityRule:
        assert window_quality(loss, high, rule) >= window_quality(loss, low, rule)
    assert window_quality(loss, high, CURRENT) is window_quality(loss, low, CURRENT)


@given(classes, rules)
def test_aggregates_stay_within_the_windows(windows: list[Quality], rule: QualityRule) -> None:
    known = [w for w in windows if w is not U]
    for value in (completed_quality(windows, rule), live_quality(windows)):
        if not known:
            assert value is U
        else:
            assert min(known) <= value <= max(known)


@given(classes, st.sampled_from([G, K, B, T]))
def test_a_worse_window_never_improves_the_average(windows: list[Quality], extra: Quality) -> None:
    # The current rule (an average) is monotone: one window worse, the call no better.
    known = [w for w in windows if w is not U]
    for i, w in enumerate(known):
        if extra >= w:
            worse = [*known[:i], extra, *known[i + 1 :]]
            assert completed_quality(worse, CURRENT) >= completed_quality(known, CURRENT)


def test_the_v26_mode_is_not_monotone() -> None:
    # A property of the v26 rule itself, kept visible: with a G/B tie, one B getting worse
    # (T) breaks the tie in favour of G.
    before, after = [G, G, B, B, K], [G, G, B, T, K]
    assert completed_quality(before, V26) is B
    assert completed_quality(after, V26) is G
    assert completed_quality(after, CURRENT) >= completed_quality(before, CURRENT)


@given(delays, losses, losses)
def test_mos_is_monotone_in_loss(delay: float, a: float, b: float) -> None:
    low, high = sorted((a, b))
    assert mos(delay, high) <= mos(delay, low)


@given(losses, delays, delays)
def test_mos_is_monotone_in_delay(loss: float, a: float, b: float) -> None:
    low, high = sorted((a, b))
    assert mos(high, loss) <= mos(low, loss)


@given(delays, losses, st.floats(min_value=1.0, max_value=20.0))
def test_mos_stays_on_its_scale_and_bursts_hurt(delay: float, loss: float, burst: float) -> None:
    value = mos(delay, loss, burst)
    assert 1.0 <= value <= 4.5
    assert value <= mos(delay, loss) + 1e-12
