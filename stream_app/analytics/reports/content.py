"""The numbers a report shows, computed once for both formats (pure)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from schemas.analytics import ReportParams, StatisticsParams, StatisticsResult
from stream_app.analytics.statistics import clean, daily_totals, statistics

ROLLING_DAYS = 30


@dataclass(frozen=True)
class ReportContent:
    stats: StatisticsResult
    load_curve: pd.Series  # hour 0-23 -> mean kWh of that hour per day
    daily: pd.Series  # local day -> kWh
    rolling: pd.Series  # local day -> mean of the last ROLLING_DAYS daily totals
    monthly: pd.Series  # "YYYY-MM" -> kWh
    month_change: pd.Series  # "YYYY-MM" -> change against the previous month, % (NaN for the first)
    heatmap: pd.DataFrame  # local day x hour 0-23 -> kWh (NaN where no reading)


def report_content(frame: pd.DataFrame, params: ReportParams) -> ReportContent:
    data = clean(frame, params)
    stats = statistics(data, StatisticsParams(periods=params.periods, prices=params.prices))
    index = data.index
    days = index.normalize()
    per_day_hour = data["value"].groupby([days, index.hour]).sum()
    heatmap = per_day_hour.unstack(level=1).reindex(columns=range(24))
    load_curve = per_day_hour.groupby(level=1).mean().reindex(range(24), fill_value=0.0)
    daily = daily_totals(data)
    rolling = daily.rolling(ROLLING_DAYS, min_periods=1).mean()
    month_key = pd.Index([f"{t.year:04d}-{t.month:02d}" for t in index])
    monthly = data["value"].groupby(month_key).sum().sort_index()
    prev = monthly.shift(1)
    with np.errstate(divide="ignore", invalid="ignore"):
        change = (monthly - prev) / prev.abs() * 100.0
    change = change.where(np.isfinite(change))
    return ReportContent(stats, load_curve, daily, rolling, monthly, change, heatmap)
