"""The dashboard's recommendation rules (pure): each rule fires on the figures that pass its threshold and
stays silent below it; texts follow the language; any finite figures give an answer, never a crash."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from schemas.analytics import (
    ANOMALY_TYPE_DISPLAY,
    PATTERN_DISPLAY,
    DatasetAnomaly,
    LoadPattern,
    LoadPatternsResult,
    PeriodShare,
    TariffPrices,
    Trend,
)
from stream_app.core import recommendations as rec
from stream_app.core.recommendations import Evidence, recommend

END = datetime(2010, 11, 26, 21, tzinfo=UTC)
PEAK_HOURS = [8, 9, 10, 18, 19, 20]  # a quarter of the day
FLAT_CURVE = [1.0] * 24


def shares(peak_ratio: float, total: float = 1000.0) -> list[PeriodShare]:
    rest = (1 - peak_ratio) / 2
    hours = {
        "peak": PEAK_HOURS,
        "valley": [23, 0, 1, 2, 3, 4, 5, 6],
        "flat": [7, 11, 12, 13, 14, 15, 16, 17, 21, 22],
    }
    ratio = {"peak": peak_ratio, "valley": rest, "flat": rest}
    return [
        PeriodShare(
            period=p,
            display_name={"zh-CN": p, "en-US": p},
            hours=hours[p],
            kwh=total * ratio[p],
            ratio=ratio[p],
        )
        for p in ("peak", "valley", "flat")
    ]


def trend(direction: str = "stable", slope: float = 0.0) -> Trend:
    return Trend(
        direction=direction,
        statistic_z=3.0 if direction == "increasing" else 0.0,
        p_value=0.001 if direction != "stable" else 0.5,
        alpha=0.05,
        slope_kwh_per_day=slope,
        days_used=400,
    )


def anomaly(days_before_end: float, score: float = 0.9) -> DatasetAnomaly:
    at = END - timedelta(days=days_before_end)
    return DatasetAnomaly(
        start=at - timedelta(hours=2),
        end=at,
        peak_at=at - timedelta(hours=1),
        value_kwh=5.0,
        expected_kwh=1.0,
        score=score,
        type="spike",
        type_display=ANOMALY_TYPE_DISPLAY["spike"],
        points=3,
    )


def patterns(high_share: float) -> LoadPatternsResult:
    days = 1000
    high = round(days * high_share)

    def p(i: int, label: Any, n: int, daily: float) -> LoadPattern:
        return LoadPattern(
            id=i,
            label=label,
            display_name=PATTERN_DISPLAY[label],
            description=PATTERN_DISPLAY[label],
            confidence=0.8,
            days=n,
            share=n / days,
            centroid=[daily / 24] * 24,
            profile=[1 / 24] * 24,
            daily_kwh=daily,
        )

    pats = [p(0, "balanced", days - high, 20.0)] + ([p(1, "high_consumption", high, 45.0)] if high else [])
    return LoadPatternsResult(
        method="kmeans", k=len(pats), days_used=days, days_skipped=0, patterns=pats, assignments=[]
    )


def evidence(**kw: Any) -> Evidence:
    base: dict[str, Any] = {
        "periods": shares(0.25),
        "load_curve": FLAT_CURVE,
        "daily_average_kwh": 24.0,
        "trend": trend(),
        "data_end": END,
    }
    # A flat curve has its night at the mean: the standby rule would fire; a low night by default.
    curve = [1.0] * 24
    for h in rec.NIGHT_HOURS:
        curve[h] = 0.2
    base["load_curve"] = curve
    base.update(kw)
    return Evidence(**base)


def ids(ev: Evidence, lang: Any = "en-US") -> list[str]:
    return [r.id for r in recommend(ev, lang)]


def test_a_quiet_household_gets_no_advice() -> None:
    assert ids(evidence()) == []


@pytest.mark.parametrize(
    ("peak_ratio", "severity"),
    [(0.25, None), (0.30, None), (0.3125, "info"), (0.36, "info"), (0.375, "warning"), (0.6, "warning")],
)
def test_shift_peak_load_fires_from_1_25_times_the_time_share(
    peak_ratio: float, severity: str | None
) -> None:
    got = rec.shift_peak_load(evidence(periods=shares(peak_ratio)), "en-US")
    assert (got and got.severity) == severity
    if got is not None:
        assert got.figures["peak_share_pct"] == round(100 * peak_ratio, 1)
        assert got.figures["peak_time_share_pct"] == 25.0
        assert got.figures["excess"] == pytest.approx(peak_ratio / 0.25)
        assert "saving_if_10pct_shifted" not in got.figures  # no tariff prices known


def test_shift_peak_load_counts_the_saving_with_the_tariff_prices() -> None:
    prices = TariffPrices(peak=0.27, valley=0.12, flat=0.18, currency="EUR")
    got = rec.shift_peak_load(evidence(periods=shares(0.4, total=1000.0), prices=prices), "en-US")
    assert got is not None
    assert got.figures["saving_if_10pct_shifted"] == pytest.approx(0.1 * 400.0 * (0.27 - 0.12))
    assert got.figures["currency"] == "EUR"
    inverted = TariffPrices(peak=0.1, valley=0.2, flat=0.15)  # shifting would cost more: no saving shown
    got = rec.shift_peak_load(evidence(periods=shares(0.4), prices=inverted), "en-US")
    assert got is not None and "saving_if_10pct_shifted" not in got.figures


@pytest.mark.parametrize(("night", "severity"), [(0.2, None), (0.45, None), (0.5, "info"), (0.8, "warning")])
def test_standby_loads_fires_on_a_high_night_baseline(night: float, severity: str | None) -> None:
    curve = [1.0] * 24
    for h in rec.NIGHT_HOURS:
        curve[h] = night
    got = rec.standby_loads(evidence(load_curve=curve), "en-US")
    assert (got and got.severity) == severity
    if got is not None:
        average = sum(curve) / 24
        assert got.figures["night_kw"] == pytest.approx(night)
        assert got.figures["night_share_pct"] == round(100 * night / average, 1)
        assert got.figures["standby_kwh_per_year"] == round(night * 8760)


def test_standby_loads_is_silent_without_a_full_curve_or_any_load() -> None:
    assert rec.standby_loads(evidence(load_curve=[0.0] * 24), "en-US") is None
    assert rec.standby_loads(evidence(load_curve=[1.0] * 23), "en-US") is None


def test_check_appliance_fires_on_anomalies_of_the_last_week_only() -> None:
    assert rec.check_appliance(evidence(anomalies=[anomaly(8), anomaly(30)]), "en-US") is None
    got = rec.check_appliance(evidence(anomalies=[anomaly(8), anomaly(2, 0.9)]), "en-US")
    assert got is not None and got.severity == "info" and got.figures["recent_count"] == 1
    got = rec.check_appliance(evidence(anomalies=[anomaly(1, 0.97)]), "zh-CN")
    assert got is not None and got.severity == "warning" and got.figures["latest_type"] == "spike"
    assert ANOMALY_TYPE_DISPLAY["spike"]["zh-CN"] in got.text
    many = [anomaly(d, 0.86) for d in (0.5, 1, 2)]
    got = rec.check_appliance(evidence(anomalies=many), "en-US")
    assert got is not None and got.severity == "warning" and got.figures["recent_count"] == 3
    assert got.figures["latest_at"] == many[0].peak_at.isoformat()


def test_rising_consumption_fires_only_on_an_increasing_trend() -> None:
    assert rec.rising_consumption(evidence(trend=trend("decreasing", -0.5)), "en-US") is None
    assert rec.rising_consumption(evidence(trend=trend("stable", 0.01)), "en-US") is None
    small = rec.rising_consumption(evidence(trend=trend("increasing", 0.02)), "en-US")
    assert small is not None and small.severity == "info"
    assert small.figures["change_30d_pct"] == round(100 * 30 * 0.02 / 24.0, 1)
    big = rec.rising_consumption(evidence(trend=trend("increasing", 0.1)), "en-US")  # 12.5 % in 30 days
    assert big is not None and big.severity == "warning"


def test_high_consumption_days_fires_from_a_fifth_of_the_days() -> None:
    assert rec.high_consumption_days(evidence(), "en-US") is None  # no patterns job
    assert rec.high_consumption_days(evidence(patterns=patterns(0.0)), "en-US") is None
    assert rec.high_consumption_days(evidence(patterns=patterns(0.15)), "en-US") is None
    got = rec.high_consumption_days(evidence(patterns=patterns(0.25)), "en-US")
    assert got is not None and got.figures["high_days"] == 250 and got.figures["pattern_daily_kwh"] == 45.0


def test_warnings_come_first_and_texts_follow_the_language() -> None:
    ev = evidence(
        periods=shares(0.32),  # info
        trend=trend("increasing", 0.2),  # warning
        anomalies=[anomaly(1, 0.99)],  # warning
    )
    en = recommend(ev, "en-US")
    assert [r.id for r in en] == ["check_appliance", "rising_consumption", "shift_peak_load"]
    assert [r.severity for r in en] == ["warning", "warning", "info"]
    zh = recommend(ev, "zh-CN")
    assert [r.id for r in zh] == [r.id for r in en] and all(r.language == "zh-CN" for r in zh)
    assert zh[2].title == "将用电转移出峰时段" and "32" in zh[2].text and "{" not in zh[2].text
    assert en[2].title == "Shift load out of peak hours" and "32% of your energy" in en[2].text
    assert [r.figures for r in zh] == [r.figures for r in en]


finite = st.floats(min_value=-1e12, max_value=1e12, allow_nan=False)
unit = st.floats(min_value=0.0, max_value=1.0)


@given(
    peak_ratio=unit,
    total=st.floats(min_value=0.0, max_value=1e12),
    curve=st.lists(st.floats(min_value=0.0, max_value=1e9), min_size=0, max_size=24),
    daily=finite,
    direction=st.sampled_from(["increasing", "stable", "decreasing"]),
    slope=finite,
    ages=st.lists(st.floats(min_value=-10, max_value=400), max_size=5),
    score=st.floats(min_value=0.0, max_value=1.0),
    high=unit,
    lang=st.sampled_from(["en-US", "zh-CN"]),
)
def test_any_finite_figures_give_an_answer(
    peak_ratio: float,
    total: float,
    curve: list[float],
    daily: float,
    direction: str,
    slope: float,
    ages: list[float],
    score: float,
    high: float,
    lang: Any,
) -> None:
    ev = evidence(
        periods=shares(peak_ratio, total),
        load_curve=curve,
        daily_average_kwh=daily,
        trend=trend(direction, slope),
        anomalies=[anomaly(a, score) for a in ages],
        patterns=patterns(high),
    )
    for r in recommend(ev, lang):
        assert r.language == lang and r.text and "{" not in r.text
        assert all(not isinstance(v, float) or math.isfinite(v) for v in r.figures.values())
