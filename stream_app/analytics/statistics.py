"""Consumption statistics of a dataset: totals, daily average, peak and valley load, tariff periods,
cost and a trend test (pure).

Input everywhere in ``stream_app.analytics``: a DataFrame with a timezone-aware ``DatetimeIndex``
named ``timestamp`` and one float column ``value`` (kWh per interval). Hours of the day are read in
the index's timezone (the dataset's local time). Rows whose value is not finite are dropped first.

Trend: the Mann-Kendall test on daily totals of the days that hold every interval of the day (a day
cut short by a gap would read as a drop), with the tie-corrected variance and the normal approximation;
direction "stable" when p >= ``ALPHA``; the slope is Theil-Sen's (median of pairwise slopes).
"""

from __future__ import annotations

import math
from datetime import datetime

import numpy as np
import pandas as pd

from schemas.analytics import (
    PERIOD_DISPLAY,
    PERIODS,
    Cost,
    LoadPoint,
    PeriodShare,
    StatisticsParams,
    StatisticsResult,
    TariffPeriods,
    TariffPrices,
    Trend,
    Window,
)
from schemas.errors import DataError

ALPHA = 0.05
# Mann-Kendall and Theil-Sen use every pair of days (O(n^2) memory): at most this many daily totals (the
# latest, about 5.5 years) are tested.
MAX_TREND_DAYS = 2000


def clean(frame: pd.DataFrame, window: Window | None = None) -> pd.DataFrame:
    """The finite rows of ``frame`` (sorted, duplicates of a timestamp kept once) within ``window``.

    DataError when the frame is not in the package's shape or nothing is left."""
    if not isinstance(frame.index, pd.DatetimeIndex) or frame.index.tz is None:
        raise DataError("the frame needs a timezone-aware DatetimeIndex")
    if "value" not in frame.columns:
        raise DataError("the frame needs a 'value' column")
    values = pd.to_numeric(frame["value"], errors="coerce").astype(float)
    out = pd.DataFrame({"value": values}, index=frame.index)
    out = out[np.isfinite(out["value"].to_numpy())]
    out = out[~out.index.duplicated(keep="first")].sort_index()
    if window is not None:
        if window.start is not None:
            out = out[out.index >= pd.Timestamp(window.start)]
        if window.end is not None:
            out = out[out.index < pd.Timestamp(window.end)]
    if out.empty:
        raise DataError("no finite readings in the requested range")
    out.index.name = "timestamp"
    return out


def interval_hours(frame: pd.DataFrame) -> float:
    """The typical step of the index in hours (median difference; 1 h for a single row)."""
    if len(frame) < 2:
        return 1.0
    step = np.median(np.diff(frame.index.asi8)) / 3.6e12  # ns -> h
    return float(step) if step > 0 else 1.0


def daily_totals(frame: pd.DataFrame) -> pd.Series:
    """kWh per local calendar day (days without readings left out)."""
    days = frame.index.normalize()
    return frame["value"].groupby(days).sum()


def complete_days(frame: pd.DataFrame) -> pd.Series:
    """Daily totals of the days that hold every interval of the day (by the typical step)."""
    per_day = round(24.0 / interval_hours(frame))
    days = frame.index.normalize()
    grouped = frame["value"].groupby(days)
    counts = grouped.count()
    return grouped.sum()[counts >= per_day]


def _load_point(frame: pd.DataFrame, pos: int, hours: float) -> LoadPoint:
    kwh = float(frame["value"].iloc[pos])
    return LoadPoint(timestamp=frame.index[pos].to_pydatetime(), kwh=kwh, kw=kwh / hours)


def mann_kendall(y: np.ndarray, alpha: float = ALPHA) -> Trend:
    """Mann-Kendall trend test with Theil-Sen slope (per step of ``y``)."""
    y = np.asarray(y, dtype=float)[-MAX_TREND_DAYS:]
    n = len(y)
    if n < 3:
        return Trend(
            direction="stable", statistic_z=0.0, p_value=1.0, alpha=alpha, slope_kwh_per_day=0.0, days_used=n
        )
    i, j = np.triu_indices(n, k=1)
    diff = y[j] - y[i]
    s = float(np.sign(diff).sum())
    _, ties = np.unique(y, return_counts=True)
    var = (n * (n - 1) * (2 * n + 5) - float(np.sum(ties * (ties - 1) * (2 * ties + 5)))) / 18.0
    if var <= 0:
        z = 0.0
    elif s > 0:
        z = (s - 1) / math.sqrt(var)
    elif s < 0:
        z = (s + 1) / math.sqrt(var)
    else:
        z = 0.0
    p = math.erfc(abs(z) / math.sqrt(2.0))
    slope = float(np.median(diff / (j - i)))
    direction = "stable" if p >= alpha else ("increasing" if z > 0 else "decreasing")
    return Trend(
        direction=direction, statistic_z=z, p_value=p, alpha=alpha, slope_kwh_per_day=slope, days_used=n
    )


def period_shares(
    frame: pd.DataFrame, periods: TariffPeriods, prices: TariffPrices | None = None
) -> list[PeriodShare]:
    """kWh, share of the total and (with prices) cost of each period, in the order peak, valley, flat."""
    of_hour = np.array(periods.period_of_hour())
    labels = of_hour[frame.index.hour.to_numpy()]
    values = frame["value"].to_numpy()
    total = float(values.sum())
    hours = {"peak": periods.peak_hours, "valley": periods.valley_hours, "flat": periods.flat_hours}
    out = []
    for period in PERIODS:
        kwh = float(values[labels == period].sum())
        price = None if prices is None else getattr(prices, period)
        out.append(
            PeriodShare(
                period=period,
                display_name=PERIOD_DISPLAY[period],
                hours=hours[period],
                kwh=kwh,
                ratio=kwh / total if total != 0 else 0.0,
                cost=None if price is None else kwh * price,
            )
        )
    return out


def statistics(frame: pd.DataFrame, params: StatisticsParams) -> StatisticsResult:
    """The statistics job's result for one dataset."""
    data = clean(frame, params)
    hours = interval_hours(data)
    values = data["value"].to_numpy()
    daily = daily_totals(data)
    shares = period_shares(data, params.periods, params.prices)
    cost = None
    if params.prices is not None:
        by_period = {s.period: float(s.cost or 0.0) for s in shares}
        cost = Cost(currency=params.prices.currency, total=sum(by_period.values()), by_period=by_period)
    total = float(values.sum())
    start: datetime = data.index[0].to_pydatetime()
    end: datetime = data.index[-1].to_pydatetime()
    return StatisticsResult(
        points=len(data),
        start=start,
        end=end,
        interval_minutes=hours * 60.0,
        days=len(daily),
        total_kwh=total,
        daily_average_kwh=total / len(daily),
        peak_load=_load_point(data, int(np.argmax(values)), hours),
        valley_load=_load_point(data, int(np.argmin(values)), hours),
        periods=shares,
        trend=mann_kendall(complete_days(data).to_numpy()),
        cost=cost,
    )
