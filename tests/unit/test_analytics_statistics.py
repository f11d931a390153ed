"""Statistics with tariff periods on the real household file, checked against an independent pandas
computation on the raw CSV; tariff-period validation; the Mann-Kendall trend test."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from schemas.analytics import DEFAULT_PERIODS, StatisticsParams, TariffPeriods, TariffPrices
from schemas.errors import DataError
from stream_app.analytics.statistics import mann_kendall, statistics
from tests.unit.analytics_frames import household, household_raw

PERIODS = TariffPeriods(
    peak_hours=[17, 18, 19, 20, 21],
    valley_hours=[0, 1, 2, 3, 4, 5, 6, 22, 23],
    flat_hours=[7, 8, 9, 10, 11, 12, 13, 14, 15, 16],
)
PRICES = TariffPrices(peak=0.27, valley=0.12, flat=0.18, currency="EUR")


@pytest.fixture(scope="module")
def frame(data_dir: Path) -> pd.DataFrame:
    return household(data_dir)


def test_totals_equal_an_independent_pandas_computation(data_dir: Path, frame: pd.DataFrame) -> None:
    raw = household_raw(data_dir)
    kwh = raw["Global_active_power"] / 60.0
    stamp = pd.to_datetime(raw["datetime"])
    result = statistics(frame, StatisticsParams(periods=PERIODS, prices=PRICES))

    assert result.points == len(raw) == 34_589
    assert result.total_kwh == pytest.approx(kwh.sum(), rel=1e-12)
    days = stamp.dt.date.nunique()
    assert result.days == days
    assert result.daily_average_kwh == pytest.approx(kwh.sum() / days, rel=1e-12)
    assert result.peak_load.timestamp.replace(tzinfo=None) == stamp[kwh.idxmax()]
    assert result.peak_load.kwh == pytest.approx(kwh.max())
    assert result.peak_load.kw == pytest.approx(kwh.max())  # hourly: kWh over one hour
    assert result.valley_load.timestamp.replace(tzinfo=None) == stamp[kwh.idxmin()]
    by_name = {p.period: p for p in result.periods}
    for name, hours in (("peak", PERIODS.peak_hours), ("valley", PERIODS.valley_hours)):
        expected = kwh[stamp.dt.hour.isin(hours)].sum()
        assert by_name[name].kwh == pytest.approx(expected, rel=1e-12)
        assert by_name[name].ratio == pytest.approx(expected / kwh.sum(), rel=1e-12)
    assert sum(p.ratio for p in result.periods) == pytest.approx(1.0)
    assert result.cost is not None and result.cost.currency == "EUR"
    assert result.cost.total == pytest.approx(
        sum(by_name[p].kwh * getattr(PRICES, p) for p in ("peak", "valley", "flat")), rel=1e-12
    )
    assert result.trend.test == "mann_kendall"
    assert result.trend.days_used == 1440  # the first and last days are partial


def test_a_time_window_and_no_prices(frame: pd.DataFrame) -> None:
    params = StatisticsParams.model_validate(
        {"start": "2008-01-01T00:00:00Z", "end": "2008-02-01T00:00:00Z", "periods": PERIODS.model_dump()}
    )
    result = statistics(frame, params)
    assert result.points == 31 * 24 and result.days == 31
    assert result.cost is None and all(p.cost is None for p in result.periods)
    expected = frame.loc["2008-01-01":"2008-01-31", "value"].sum()
    assert result.total_kwh == pytest.approx(expected)


def test_rescaling_scales_energy_and_keeps_the_trend(frame: pd.DataFrame) -> None:
    base = statistics(frame, StatisticsParams())
    wh = statistics(frame * 1000.0, StatisticsParams())
    assert wh.total_kwh == pytest.approx(base.total_kwh * 1000.0)
    assert [p.ratio for p in wh.periods] == pytest.approx([p.ratio for p in base.periods])
    assert wh.trend.direction == base.trend.direction
    assert wh.trend.statistic_z == pytest.approx(base.trend.statistic_z)


def test_non_finite_rows_are_dropped_and_an_empty_range_is_a_data_error(frame: pd.DataFrame) -> None:
    holed = frame.iloc[:48].copy()
    holed.iloc[5, 0] = np.nan
    holed.iloc[6, 0] = np.inf
    assert statistics(holed, StatisticsParams()).points == 46
    with pytest.raises(DataError, match="no finite readings"):
        statistics(frame, StatisticsParams.model_validate({"start": "2030-01-01T00:00:00Z"}))
    with pytest.raises(DataError, match="timezone-aware"):
        statistics(frame.tz_localize(None), StatisticsParams())


def _error_fields(body: dict[str, object]) -> list[tuple[str | int, ...]]:
    with pytest.raises(ValidationError) as info:
        TariffPeriods.model_validate(body)
    return [e["loc"] for e in info.value.errors()]


def test_period_validation_names_the_field() -> None:
    good = DEFAULT_PERIODS.model_dump()
    assert _error_fields({**good, "valley_hours": [*good["valley_hours"], 8]}) == [("valley_hours",)]
    assert _error_fields({**good, "flat_hours": [*good["flat_hours"], 0]}) == [("flat_hours",)]
    assert _error_fields({**good, "flat_hours": good["flat_hours"][1:]}) == [("flat_hours",)]
    assert _error_fields({**good, "peak_hours": [*good["peak_hours"], 24]}) == [("peak_hours", 6)]
    assert _error_fields({**good, "peak_hours": [8, 8, 9, 10, 18, 19, 20]}) == [("peak_hours",)]
    with pytest.raises(ValidationError):
        StatisticsParams.model_validate({"start": "2008-01-01T00:00:00"})  # naive
    with pytest.raises(ValidationError):
        TariffPrices.model_validate({"peak": float("nan"), "valley": 0, "flat": 0})


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from(["peak", "valley", "flat", "none", "two"]), min_size=24, max_size=24))
def test_any_assignment_of_hours_is_accepted_exactly_when_it_partitions_the_day(marks: list[str]) -> None:
    sets: dict[str, list[int]] = {"peak": [], "valley": [], "flat": []}
    for hour, mark in enumerate(marks):
        if mark in sets:
            sets[mark].append(hour)
        elif mark == "two":
            sets["peak"].append(hour)
            sets["flat"].append(hour)
    body = {f"{k}_hours": v for k, v in sets.items()}
    partitions = all(m in sets for m in marks)
    if partitions:
        periods = TariffPeriods.model_validate(body)
        assert [periods.period_of_hour()[h] for h in range(24)] == marks
    else:
        with pytest.raises(ValidationError):
            TariffPeriods.model_validate(body)


def test_mann_kendall_against_its_definition() -> None:
    rng = np.random.default_rng(3)
    noise = rng.normal(10.0, 1.0, 400)
    assert mann_kendall(noise).direction == "stable"
    up = noise + np.arange(400) * 0.02
    trend = mann_kendall(up)
    assert trend.direction == "increasing" and trend.p_value < 0.05
    assert trend.slope_kwh_per_day == pytest.approx(0.02, abs=0.005)
    assert mann_kendall(-up).direction == "decreasing"
    small = rng.integers(0, 4, 12).astype(float)  # ties
    s = sum(np.sign(small[j] - small[i]) for i, j in itertools.combinations(range(12), 2))
    result = mann_kendall(small)
    ties = np.unique(small, return_counts=True)[1]
    var = (12 * 11 * 29 - np.sum(ties * (ties - 1) * (2 * ties + 5))) / 18
    expected_z = 0.0 if s == 0 else (s - np.sign(s)) / np.sqrt(var)
    assert result.statistic_z == pytest.approx(expected_z)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.floats(min_value=-1e6, max_value=1e6, allow_nan=False), min_size=1, max_size=200),
    st.sampled_from(["15min", "1h", "1D"]),
)
def test_any_finite_series_gives_a_result(values: list[float], step: str) -> None:
    index = pd.date_range("2024-03-30", periods=len(values), freq=step, tz="Europe/Paris", name="timestamp")
    result = statistics(pd.DataFrame({"value": values}, index=index), StatisticsParams(prices=PRICES))
    assert result.points == len(values)
    assert result.total_kwh == pytest.approx(sum(values), abs=1e-6)
    assert result.trend.direction in ("increasing", "stable", "decreasing")
