"""CSV -> clean frame -> regular darts series; calendar covariates.

Pure functions: no model code here, so the trainers, the backtest and the tests share one way of reading
data. Timestamps are UTC throughout; darts sees the naive UTC index.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from trainers.errors import TrainingError

TIME_COLUMNS = ("timestamp", "Datetime", "date", "datetime", "time")
MIN_ROWS = 50


def read_csv(source: str | Path | bytes) -> pd.DataFrame:
    try:
        if isinstance(source, bytes):
            return pd.read_csv(io.BytesIO(source))
        return pd.read_csv(source)
    except (OSError, ValueError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise TrainingError(f"cannot parse CSV: {exc}") from None


def load_frame(source: str | Path | bytes, target: str | None = None) -> pd.DataFrame:
    """Parse a CSV into ``timestamp`` (UTC, ascending), ``value`` and numeric covariates.

    Duplicate timestamps (e.g. repeated hours at daylight-saving changes) are resolved by averaging
    every numeric column over the duplicates: no reading wins arbitrarily and no reading is lost.
    Naive timestamps are taken as UTC. Rows whose timestamp or target does not parse are dropped.
    """
    raw = read_csv(source)
    time_col = next((c for c in TIME_COLUMNS if c in raw.columns), None)
    if time_col is None:
        raise TrainingError(f"no timestamp column (one of {', '.join(TIME_COLUMNS)}) in {list(raw.columns)}")
    target_col = target or "value"
    if target_col not in raw.columns:
        raise TrainingError(f"no target column {target_col!r} in {list(raw.columns)}")
    ts = pd.to_datetime(raw[time_col], utc=True, errors="coerce", format="mixed")
    numeric = raw.drop(columns=[time_col]).apply(pd.to_numeric, errors="coerce")
    keep = [c for c in numeric.columns if c == target_col or numeric[c].notna().mean() > 0.99]
    frame = numeric[keep].rename(columns={target_col: "value"}).astype(float)
    frame.insert(0, "timestamp", ts)
    frame = frame[frame["timestamp"].notna() & frame["value"].notna() & np.isfinite(frame["value"])]
    if frame.empty:
        raise TrainingError(f"no numeric values in target column {target_col!r}")
    frame = frame.groupby("timestamp", as_index=False, sort=True).mean()
    covs = [c for c in frame.columns if c not in ("timestamp", "value")]
    frame[covs] = frame[covs].ffill().fillna(0.0)
    if len(frame) < MIN_ROWS:
        raise TrainingError(f"too few rows: {len(frame)} usable, at least {MIN_ROWS} needed")
    return frame.reset_index(drop=True)


def infer_freq(timestamps: pd.Series | pd.DatetimeIndex) -> pd.Timedelta:
    """The most common step (robust to gaps and the odd irregular row)."""
    diffs = pd.Series(pd.DatetimeIndex(timestamps)).diff().dropna()
    diffs = diffs[diffs > pd.Timedelta(0)]
    if diffs.empty:
        raise TrainingError("cannot infer the series step: fewer than two distinct timestamps")
    return pd.Timedelta(diffs.mode().iloc[0])


def steps_per_day(freq: pd.Timedelta) -> int:
    return max(1, round(pd.Timedelta(days=1) / freq))


@dataclass(frozen=True)
class Regular:
    """A frame on a regular grid; ``observed`` marks rows that were in the input (not gap-filled)."""

    frame: pd.DataFrame  # naive-UTC DatetimeIndex, columns value + covariates
    observed: np.ndarray


def regularize(frame: pd.DataFrame, freq: pd.Timedelta) -> Regular:
    """Put a clean frame on a regular grid. Gaps are forward-filled (causal: a filled row only uses the
    past, unlike interpolation), and marked unobserved so detect() does not report them."""
    idx = pd.DatetimeIndex(frame["timestamp"]).tz_convert("UTC").tz_localize(None)
    data = frame.drop(columns=["timestamp"]).set_index(idx)
    data = data[~data.index.duplicated(keep="last")]
    # Snap to the grid anchored at the first timestamp; off-grid rows go to their grid slot.
    start = data.index[0]
    slots = start + ((data.index - start) / freq).round().astype(int) * freq
    data.index = slots
    data = data[~data.index.duplicated(keep="last")]
    grid = pd.date_range(start, data.index[-1], freq=freq)
    observed = grid.isin(data.index)
    return Regular(frame=data.reindex(grid).ffill(), observed=np.asarray(observed))


def calendar(index: pd.DatetimeIndex) -> pd.DataFrame:
    """Hour-of-day and day-of-week as sin/cos pairs: known in advance, so future covariates."""
    hour = index.hour + index.minute / 60.0
    dow = index.dayofweek + hour / 24.0
    return pd.DataFrame(
        {
            "hour_sin": np.sin(2 * np.pi * hour / 24.0),
            "hour_cos": np.cos(2 * np.pi * hour / 24.0),
            "dow_sin": np.sin(2 * np.pi * dow / 7.0),
            "dow_cos": np.cos(2 * np.pi * dow / 7.0),
        },
        index=index,
    )
