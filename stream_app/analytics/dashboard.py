"""The dashboard of a dataset (pure): summary, 24-hour load curve, daily trend, period distribution, the
recent anomalies of the latest anomalies result the caller passes, and the recommendations of
:mod:`stream_app.core.recommendations` (in the caller's language).

The load curve is the mean kWh of each local hour over the last ``CURVE_DAYS`` days of the data; the daily
trend lists the last ``TREND_DAYS`` daily totals; the summary and the period distribution cover all the
data (with the caller's periods, by default ``schemas.analytics.DEFAULT_PERIODS``).
"""

from __future__ import annotations

import pandas as pd

from schemas.analytics import (
    DEFAULT_PERIODS,
    Dashboard,
    DashboardSummary,
    DatasetAnomaliesResult,
    DayLoad,
    HourLoad,
    Lang,
    LoadPatternsResult,
    StatisticsParams,
    TariffPeriods,
    TariffPrices,
)
from stream_app.analytics.statistics import clean, daily_totals, statistics
from stream_app.core.recommendations import Evidence, recommend

CURVE_DAYS = 30
TREND_DAYS = 90
RECENT_ANOMALIES = 10


def load_curve(data: pd.DataFrame, days: int = CURVE_DAYS) -> list[HourLoad]:
    """Mean kWh of each local hour 0-23 over the last ``days`` days (hours without data: 0)."""
    recent = data[data.index > data.index[-1] - pd.Timedelta(days=days)]
    hourly = recent["value"].groupby([recent.index.normalize(), recent.index.hour]).sum()
    by_hour = hourly.groupby(level=1).mean().reindex(range(24), fill_value=0.0)
    return [HourLoad(hour=int(h), kwh=float(v)) for h, v in by_hour.items()]


def dashboard(
    frame: pd.DataFrame,
    anomalies: DatasetAnomaliesResult | None = None,
    periods: TariffPeriods = DEFAULT_PERIODS,
    *,
    lang: Lang = "en-US",
    prices: TariffPrices | None = None,
    patterns: LoadPatternsResult | None = None,
) -> Dashboard:
    """``prices`` (the dataset's tariff) and ``patterns`` (its latest load patterns) feed only the
    recommendations."""
    data = clean(frame)
    stats = statistics(data, StatisticsParams(periods=periods))
    daily = daily_totals(data).iloc[-TREND_DAYS:]
    recent = [] if anomalies is None else anomalies.anomalies[:RECENT_ANOMALIES]
    curve = load_curve(data)
    evidence = Evidence(
        periods=stats.periods,
        load_curve=[h.kwh for h in curve],
        daily_average_kwh=stats.daily_average_kwh,
        trend=stats.trend,
        data_end=stats.end,
        anomalies=[] if anomalies is None else anomalies.anomalies,
        prices=prices,
        patterns=patterns,
    )
    return Dashboard(
        summary=DashboardSummary(
            start=stats.start,
            end=stats.end,
            days=stats.days,
            total_kwh=stats.total_kwh,
            daily_average_kwh=stats.daily_average_kwh,
            peak_load=stats.peak_load,
            valley_load=stats.valley_load,
            trend=stats.trend.direction,
        ),
        load_curve=curve,
        daily_trend=[DayLoad(date=d.date(), kwh=float(v)) for d, v in daily.items()],
        period_distribution=stats.periods,
        recent_anomalies=recent,
        recommendations=recommend(evidence, lang),
    )
