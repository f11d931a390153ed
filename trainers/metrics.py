"""Forecast metrics, baselines and row-boundary splits (pure numpy; unit-tested directly)."""

from __future__ import annotations

import numpy as np

ArrayLike = np.ndarray


def mae(actual: ArrayLike, pred: ArrayLike) -> float:
    return float(np.mean(np.abs(np.asarray(actual) - np.asarray(pred))))


def mse(actual: ArrayLike, pred: ArrayLike) -> float:
    return float(np.mean((np.asarray(actual) - np.asarray(pred)) ** 2))


def rmse(actual: ArrayLike, pred: ArrayLike) -> float:
    return float(np.sqrt(mse(actual, pred)))


def smape(actual: ArrayLike, pred: ArrayLike) -> float:
    """Symmetric MAPE in percent (0..200); a point where both are 0 counts as a perfect 0."""
    a, p = np.asarray(actual, dtype=float), np.asarray(pred, dtype=float)
    denom = np.abs(a) + np.abs(p)
    ratio = np.divide(2.0 * np.abs(a - p), denom, out=np.zeros_like(denom), where=denom > 0)
    return float(100.0 * np.mean(ratio))


def naive_scale(insample: ArrayLike, season: int) -> float:
    """Mean absolute seasonal difference of the training data: MASE's denominator (Hyndman & Koehler)."""
    y = np.asarray(insample, dtype=float)
    if y.ndim == 1:
        y = y[:, None]
    if len(y) <= season:
        raise ValueError(f"need more than {season} in-sample points for MASE, got {len(y)}")
    return float(np.mean(np.abs(y[season:] - y[:-season])))


def mase(actual: ArrayLike, pred: ArrayLike, insample: ArrayLike, season: int) -> float:
    scale = naive_scale(insample, season)
    return mae(actual, pred) / scale if scale > 0 else float("inf")


def seasonal_naive(history: ArrayLike, horizon: int, season: int) -> np.ndarray:
    """Forecast ``horizon`` steps after ``history``: the value one season earlier (repeated if h > m)."""
    h = np.asarray(history, dtype=float)
    last = h[-season:]
    reps = -(-horizon // season)
    return np.concatenate([last] * reps)[:horizon]


def rolling_windows(values: ArrayLike, origins: ArrayLike, horizon: int) -> np.ndarray:
    """Actual values for every origin: row i is values[o : o + horizon] (o = first forecast row)."""
    v = np.asarray(values)
    idx = np.asarray(origins)[:, None] + np.arange(horizon)[None, :]
    return v[idx]


def baseline_forecasts(
    values: ArrayLike, origins: ArrayLike, horizon: int, season: int
) -> dict[str, np.ndarray]:
    """Seasonal-naive and repeat-last forecasts for every origin (vectorised).

    For step k (0-based) from origin o, seasonal naive is values[o - season + (k % season)].
    """
    v = np.asarray(values)
    o = np.asarray(origins)[:, None]
    k = np.arange(horizon)[None, :]
    snaive = v[o - season + (k % season)]
    last = np.repeat(v[o - 1], horizon, axis=1)
    return {"seasonal_naive": snaive, "repeat_last": last}


def split_rows(n: int, fractions: tuple[float, float, float]) -> tuple[int, int]:
    """Row boundaries (end of train, end of validation) for a train/val/test split by fractions.

    Follows the long-horizon benchmark convention: train and test are int(n * fraction) rows, validation
    is what lies between.
    """
    a, b, c = fractions
    total = a + b + c
    if min(fractions) < 0 or total <= 0 or a <= 0 or c <= 0:
        raise ValueError(f"bad split {fractions}: train and test must be > 0")
    train_end = int(round(n * a / total, 6))
    test = int(round(n * c / total, 6))
    return train_end, n - test


def parse_split(text: str) -> tuple[float, float, float]:
    """'0.7/0.1/0.2' or '7/1/2' -> fractions."""
    parts = text.split("/")
    if len(parts) != 3:
        raise ValueError(f"split must be a/b/c, got {text!r}")
    try:
        a, b, c = (float(p) for p in parts)
    except ValueError:
        raise ValueError(f"split must be numbers a/b/c, got {text!r}") from None
    return a, b, c
