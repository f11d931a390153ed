"""Load patterns on the real household file: labels from the vocabulary, stable across runs and under
rescaling; k-means recovers planted groups; the rules name planted shapes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from schemas.analytics import PATTERN_DISPLAY, PATTERN_LABELS, LoadPatternsParams, LoadPatternsResult
from schemas.errors import DataError
from stream_app.analytics.patterns import daily_profiles, kmeans, label_of, load_patterns
from tests.unit.analytics_frames import household


@pytest.fixture(scope="module")
def frame(data_dir: Path) -> pd.DataFrame:
    return household(data_dir)


def _signature(r: LoadPatternsResult) -> tuple[object, ...]:
    return (
        [(p.label, p.days) for p in r.patterns],
        [a.pattern_id for a in r.assignments],
    )


@pytest.mark.parametrize("k", [2, 3, 4, 5])
def test_kmeans_on_the_household(frame: pd.DataFrame, k: int) -> None:
    result = load_patterns(frame, LoadPatternsParams(k=k))
    assert result.days_used == 1440 and result.days_skipped == 2
    assert result.k == k == len(result.patterns)
    assert sum(p.days for p in result.patterns) == result.days_used == len(result.assignments)
    days = [p.days for p in result.patterns]
    assert days == sorted(days, reverse=True)
    for p in result.patterns:
        assert p.label in PATTERN_LABELS
        assert p.display_name == PATTERN_DISPLAY[p.label] and set(p.description) == {"zh-CN", "en-US"}
        assert 0.0 <= p.confidence <= 1.0
        assert len(p.centroid) == len(p.profile) == 24
        assert sum(p.profile) == pytest.approx(1.0)
        members = [a.date for a in result.assignments if a.pattern_id == p.id]
        profiles, _ = daily_profiles(frame)
        mean = profiles.loc[pd.to_datetime(members).tz_localize("UTC")].mean().to_numpy()
        assert p.centroid == pytest.approx(mean)


@pytest.mark.parametrize("method", ["kmeans", "rules"])
def test_labels_are_stable_across_runs_and_under_rescaling(frame: pd.DataFrame, method: str) -> None:
    params = LoadPatternsParams(method=method, k=4)  # type: ignore[arg-type]
    first = load_patterns(frame, params)
    assert _signature(load_patterns(frame, params)) == _signature(first)
    for factor in (1000.0, 0.001, 3.7):
        scaled = load_patterns(frame * factor, params)
        assert _signature(scaled) == _signature(first), factor
        assert [p.confidence for p in scaled.patterns] == pytest.approx(
            [p.confidence for p in first.patterns]
        )
        assert [p.daily_kwh for p in scaled.patterns] == pytest.approx(
            [p.daily_kwh * factor for p in first.patterns]
        )


def test_rules_name_planted_shapes() -> None:
    flat = np.ones(24)
    night = flat.copy()
    night[[22, 23, 0, 1, 2, 3, 4, 5]] = 4.0
    day = flat.copy()
    day[9:17] = 5.0
    office = flat * 0.5
    office[[6, 7, 8, 17, 18, 19, 20, 21]] = 3.0
    assert label_of(flat, 24.0)[0] == "balanced"
    assert label_of(night, night.sum())[0] == "night_usage"
    assert label_of(day, day.sum())[0] == "daytime_usage"
    assert label_of(office, office.sum())[0] == "office_worker"
    assert label_of(flat * 2.0, 24.0)[0] == "high_consumption"
    assert label_of(flat * 0.3, 24.0)[0] == "energy_saver"
    _, margin = label_of(night, night.sum())
    assert 0.0 < margin <= 1.0


def test_kmeans_recovers_planted_groups() -> None:
    rng = np.random.default_rng(0)
    a = rng.normal(1.0, 0.05, (40, 24))
    b = rng.normal(3.0, 0.05, (25, 24))
    x = np.vstack([a, b])
    _, assign = kmeans(x, 2, seed=1)
    assert len(set(assign[:40])) == 1 and len(set(assign[40:])) == 1 and assign[0] != assign[-1]


def test_planted_days_get_their_own_pattern() -> None:
    index = pd.date_range("2024-01-01", periods=24 * 60, freq="h", tz="UTC", name="timestamp")
    hours = index.hour.to_numpy()
    evening = np.where(np.isin(hours, [6, 7, 8, 17, 18, 19, 20, 21]), 2.0, 0.3)
    night = np.where(np.isin(hours, [22, 23, 0, 1, 2, 3, 4, 5]), 2.0, 0.4)
    weekday = index.dayofweek.to_numpy() < 5
    frame = pd.DataFrame({"value": np.where(weekday, evening, night)}, index=index)
    result = load_patterns(frame, LoadPatternsParams(k=2))
    assert {p.label for p in result.patterns} == {"office_worker", "night_usage"}
    assert all(p.confidence > 0.9 for p in result.patterns)
    rules = load_patterns(frame, LoadPatternsParams(method="rules"))
    assert {p.label: p.days for p in rules.patterns} == {
        "office_worker": int(weekday.sum() / 24),
        "night_usage": 60 - int(weekday.sum() / 24),
    }


def test_daylight_saving_days_are_skipped() -> None:
    # Europe/Paris, 2024-10-01 .. 2024-11-05: the 25-hour 27 October is not a 24-hour profile
    index = pd.date_range("2024-10-01", "2024-11-06", freq="h", tz="Europe/Paris", inclusive="left")
    frame = pd.DataFrame({"value": np.ones(len(index))}, index=index.rename("timestamp"))
    profiles, skipped = daily_profiles(frame)
    assert skipped == 1 and pd.Timestamp("2024-10-27", tz="Europe/Paris") not in profiles.index
    assert len(profiles) == 35 and (profiles.sum(axis=1) == 24).all()


def test_too_few_days_and_bad_k(frame: pd.DataFrame) -> None:
    with pytest.raises(DataError, match="at least 5 complete days"):
        load_patterns(frame.iloc[: 24 * 4 + 7], LoadPatternsParams(k=5))
    with pytest.raises(ValidationError):
        LoadPatternsParams(k=6)
    with pytest.raises(ValidationError):
        LoadPatternsParams(k=1)


@settings(max_examples=30, deadline=None)
@given(
    st.lists(st.floats(min_value=0.0, max_value=1e6, allow_nan=False), min_size=24, max_size=24 * 8),
    st.sampled_from(["kmeans", "rules"]),
    st.integers(min_value=2, max_value=5),
)
def test_any_finite_series_gives_patterns_or_a_clear_error(values: list[float], method: str, k: int) -> None:
    index = pd.date_range("2024-01-01", periods=len(values), freq="h", tz="UTC", name="timestamp")
    params = LoadPatternsParams(method=method, k=k)  # type: ignore[arg-type]
    try:
        result = load_patterns(pd.DataFrame({"value": values}, index=index), params)
    except DataError as exc:
        assert "complete days" in str(exc)
        return
    assert sum(p.days for p in result.patterns) == result.days_used
    assert all(0.0 <= p.confidence <= 1.0 and p.label in PATTERN_LABELS for p in result.patterns)
