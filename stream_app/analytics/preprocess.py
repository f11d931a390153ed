"""Preprocessing of a dataset's series (pure): regular grid, outliers, missing values, resampling, zone.

Order: (1) the series is put on its regular grid (the detected interval), so absent intervals become
missing values; (2) outliers, values beyond Tukey's far fences (quartiles -/+ ``outlier_k`` IQR of the
values present), are clipped to the fence or removed (made missing); (3) missing values are
interpolated in time, carried forward, or their rows dropped; (4) the series is summed into the
``resample`` intervals (energy adds; an interval with no value stays missing), in the target zone so
days start at local midnight; (5) the index is shown in the target zone.

Leading missing values cannot be interpolated or carried forward: they stay missing (counted in
``missing_after``) unless ``missing`` is drop.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from schemas.datasets import RESAMPLE_SECONDS, PreprocessParams, PreprocessSummary
from schemas.jobs import JobFailed

MAX_GRID = 5_000_000  # intervals of the regular grid, whatever the rows
GRID_PER_ROW = 10  # a grid may hold at most this many intervals per row present (else too sparse)
MIN_GRID_CAP = 10_000  # ... but small series may always span this many


def regular_grid(frame: pd.DataFrame, interval_s: int) -> tuple[pd.DataFrame, int]:
    """The frame reindexed on every ``interval_s`` from its first to its last timestamp (and how many
    intervals were absent). Timestamps off the grid are kept where they are (never moved)."""
    idx = frame.index
    if len(idx) == 0:
        return frame, 0
    span = (idx[-1] - idx[0]).total_seconds()
    cap = min(MAX_GRID, max(GRID_PER_ROW * len(idx), MIN_GRID_CAP))
    if span / interval_s > cap:
        raise JobFailed(
            f"the series' {len(idx)} rows span {span / interval_s:.0f} intervals of {interval_s} s: too "
            f"sparse for a regular grid at its interval (at most {cap} intervals)",
            code="PROCESSING_ERROR",
            details={"field": "interval_s", "rows": len(idx), "intervals": round(span / interval_s)},
        )
    grid = pd.date_range(idx[0], idx[-1], freq=pd.Timedelta(seconds=interval_s), name="timestamp")
    full = grid.union(idx)
    out = frame.reindex(full)
    out.index.name = "timestamp"
    return out, len(full) - len(idx)


def fences(values: np.ndarray, k: float) -> tuple[float, float] | None:
    present = values[np.isfinite(values)]
    if present.size < 4:
        return None
    q1, q3 = np.percentile(present, [25, 75])
    iqr = q3 - q1
    return float(q1 - k * iqr), float(q3 + k * iqr)


def preprocess(
    frame: pd.DataFrame, params: PreprocessParams, interval_s: int, timezone: str
) -> tuple[pd.DataFrame, PreprocessSummary]:
    """The preprocessed frame (same shape contract: DatetimeIndex ``timestamp``, float ``value``)."""
    zone = params.timezone or timezone
    rows_in = len(frame)
    data = frame[["value"]].astype(float).sort_index()
    data, gaps = regular_grid(data, interval_s)
    values = data["value"].to_numpy(dtype=float, copy=True)
    missing_before = int(np.isnan(values).sum())

    clipped = removed = 0
    bounds = fences(values, params.outlier_k) if params.outliers != "none" else None
    if bounds is not None:
        lo, hi = bounds
        out_mask = np.isfinite(values) & ((values < lo) | (values > hi))
        if params.outliers == "clip":
            clipped = int(out_mask.sum())
            values = np.where(out_mask, np.clip(values, lo, hi), values)
        else:
            removed = int(out_mask.sum())
            values = np.where(out_mask, np.nan, values)
    series = pd.Series(values, index=data.index)

    missing_now = int(series.isna().sum())
    filled = dropped = 0
    if params.missing == "interpolate":
        series = series.interpolate(method="time", limit_area="inside")
        filled = missing_now - int(series.isna().sum())
    elif params.missing == "forward_fill":
        series = series.ffill()
        filled = missing_now - int(series.isna().sum())
    else:
        dropped = missing_now
        series = series.dropna()

    series = series.tz_convert(zone)
    interval_out = interval_s
    if params.resample is not None:
        target = RESAMPLE_SECONDS[params.resample]
        if target < interval_s:
            raise JobFailed(
                f"resample {params.resample} is finer than the data's interval ({interval_s} s)",
                code="VALIDATION_ERROR",
                details={"field": "resample"},
            )
        rule = "1D" if params.resample == "1d" else params.resample
        series = series.resample(rule).sum(min_count=1)
        interval_out = target
    out = pd.DataFrame({"value": series.astype(float)})
    out.index.name = "timestamp"
    summary = PreprocessSummary(
        rows_in=rows_in,
        rows_out=len(out),
        gaps_found=gaps,
        missing_before=missing_before,
        filled=filled,
        dropped=dropped,
        clipped=clipped,
        removed=removed,
        lower_fence=None if bounds is None else bounds[0],
        upper_fence=None if bounds is None else bounds[1],
        interval_s_in=interval_s,
        interval_s_out=interval_out,
        timezone=zone,
        missing_after=int(out["value"].isna().sum()),
    )
    return out, summary
