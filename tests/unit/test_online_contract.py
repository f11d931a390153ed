"""Behavioural contract of the online detector: causality, season inference, verdict fields."""

from __future__ import annotations

import math

import pytest

from stream_app.core import online_stats as st
from stream_app.core.online import OnlineDetector, OnlineParams
from stream_app.settings import Settings
from tests.unit.test_online_data import nab, steel


def test_params_from_settings() -> None:
    p = Settings(window_size=96, anomaly_threshold=0.99, warmup=10).detector.params()
    assert (p.window_size, p.threshold, p.warmup, p.season_length) == (96, 0.99, 10, 0)
    assert Settings(repeat_window_s=60.0).detector.params().repeat_window_s == 60.0


def test_causal_prefix_verdicts_do_not_depend_on_later_readings() -> None:
    ts, vs = steel(2500)
    det = OnlineDetector(OnlineParams())
    full_state = det.new_state()
    full = [det.score_one(full_state, t, v) for t, v in zip(ts.tolist(), vs.tolist(), strict=True)]
    for cut in (700, 1999):
        state = det.new_state()
        part = [det.score_one(state, t, v) for t, v in zip(ts[:cut].tolist(), vs[:cut].tolist(), strict=True)]
        assert part == full[:cut]


@pytest.mark.parametrize(
    ("step", "season"), [(900, 96), (3600, 24), (300, 288), (1800, 48), (60, -1), (700, -1)]
)
def test_season_inferred_from_step(step: int, season: int) -> None:
    det = OnlineDetector(OnlineParams(window_size=672))
    state = det.new_state()
    for i in range(70):
        det.score_one(state, 1e9 + step * i, math.sin(i))
    assert state.stats[st.SEASON] == season
    assert state.stats[st.STEP] == step


def test_irregular_timestamps_have_no_season() -> None:
    det = OnlineDetector(OnlineParams(window_size=672))
    state = det.new_state()
    ts = 1e9
    for i in range(70):
        ts += 900.0 if i % 8 == 0 else 300.0  # 5-minute readings with a gap every 8th
        assert det.score_one(state, ts, 1.0 + i % 3).status == "scored"
    assert state.stats[st.SEASON] == -1


def test_explicit_season_length_wins() -> None:
    det = OnlineDetector(OnlineParams(window_size=672, season_length=7))
    state = det.new_state()
    for i in range(70):
        det.score_one(state, 1e9 + 900 * i, float(i % 7))
    assert state.stats[st.SEASON] == 7


def test_verdict_fields_are_consistent_on_real_data() -> None:
    ts, vs = nab("nyc_taxi.csv")
    det = OnlineDetector(OnlineParams())
    state = det.new_state()
    flagged = 0
    for i, (t, v) in enumerate(zip(ts[:4000].tolist(), vs[:4000].tolist(), strict=True)):
        verdict = det.score_one(state, t, v)
        assert 0.0 <= verdict.score <= 1.0
        assert verdict.lower <= verdict.expected <= verdict.upper
        assert verdict.is_anomaly == (verdict.kind is not None) == (verdict.reason != "")
        if i < det.params.warmup:
            assert not verdict.is_anomaly
        flagged += verdict.is_anomaly
    assert 0 < flagged < 200


def test_seasonal_series_is_predicted_well() -> None:
    """A clean daily pattern: after two seasons the expectation tracks it closely."""
    det = OnlineDetector(OnlineParams(window_size=96 * 4, warmup=8))
    state = det.new_state()
    errors = []
    for i in range(96 * 6):
        v = 50 + 40 * math.sin(2 * math.pi * i / 96) + (3 if i % 13 == 0 else 0)
        verdict = det.score_one(state, 900.0 * i, v)
        if i >= 96 * 4:
            errors.append(abs(verdict.expected - v))
    assert sum(errors) / len(errors) < 1.5


def test_an_alarm_no_stronger_than_one_within_the_repeat_window_is_not_novel() -> None:
    ts, vs = steel(3000)
    vs = vs.copy()
    det = OnlineDetector(OnlineParams(repeat_window_s=86400.0))
    state = det.new_state()
    spikes = {1500: 20.0, 1510: 8.0, 1700: 8.0}  # x level; 1510 is 2.5 h after 1500, 1700 is 50 h after
    out = {}
    for i, (t, v) in enumerate(zip(ts.tolist(), vs.tolist(), strict=True)):
        verdict = det.score_one(state, t, v * spikes.get(i, 1.0) + (50.0 if i in spikes else 0.0))
        if i in spikes:
            out[i] = verdict
    assert out[1500].is_anomaly and out[1500].novel
    assert min(v.score for v in out.values()) >= 0.99  # high enough to be tracked
    assert out[1510].score <= out[1500].score and not out[1510].novel  # repeats the stronger alarm
    assert out[1700].novel  # a day later it is a new alarm again
    with pytest.raises(ValueError):
        OnlineParams(repeat_window_s=-1.0)


def test_a_much_stronger_alarm_within_the_repeat_window_is_novel() -> None:
    ts, vs = steel(3000)
    det = OnlineDetector(OnlineParams())
    state = det.new_state()
    # 1505 is far more improbable than 1500; 1510 would be novel against 1500 but not against 1505.
    spikes = {1500: 3.0, 1505: 40.0, 1510: 10.0}
    out = {}
    for i, (t, v) in enumerate(zip(ts.tolist(), vs.tolist(), strict=True)):
        verdict = det.score_one(state, t, v * spikes.get(i, 1.0) + (50.0 if i in spikes else 0.0))
        if i in spikes:
            out[i] = verdict
    tail = {i: 1.0 - v.score for i, v in out.items()}  # tail probabilities
    assert out[1500].score >= 0.99 and out[1500].novel
    assert tail[1505] < 0.5 * tail[1500] and out[1505].novel
    # The stronger alarm became the one later alarms are measured against.
    assert tail[1510] < 0.5 * tail[1500]
    assert not out[1510].novel
