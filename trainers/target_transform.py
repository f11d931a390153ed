"""LightGBM's target transform: the scaled target as is, or seasonally differenced (z_t = y_t - y_{t-lag},
lag = one day), and the rule that picks one on validation rows.

Why: a tree's forecast is bounded by the targets it was trained on. PJM's last 4,000 rows train on spring
and test on July, whose peaks lie above anything in training; a day-ago difference is level-free, so the
same trees forecast it (docs/forecasting-energy.md). On steel, where the plant switches on and off, the
difference is noise and the plain target is better. Neither is always right, so :func:`choose` fits both
on the rows before the validation rows and keeps the one whose rolling forecasts have the lower MAE on the
validation rows; the bundle records the choice (metadata ``target_transform``, ``target_transform_lag``)
and every path that forecasts (training's hold-out, ``trainers.forecast``, ``trainers.native``, backtests)
rebuilds the target with :func:`integrate`.

Forecasts of z are turned back into forecasts of y step by step: y_{T+k} = z_{T+k} + y_{T+k-lag}, where
y_{T+k-lag} is the history for k < lag and the forecast y for later steps.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

NONE = "none"
SEASONAL_DIFFERENCE = "seasonal_difference"
KINDS = (NONE, SEASONAL_DIFFERENCE)
AUTO = "auto"
PARAM_CHOICES = (AUTO, *KINDS)  # values of the LightGBM param ``target_transform`` (default auto)
VALIDATION_FRACTION = 0.125  # training: the last 1/8 of the train rows choose (0.7/0.1 of 0.8)
MIN_VALIDATION_ORIGINS = 24


def lag_of(meta: dict[str, Any]) -> int:
    """The differencing lag a bundle's forecasts need undone (0: none; bundles before the transform)."""
    if meta.get("target_transform", NONE) != SEASONAL_DIFFERENCE:
        return 0
    return int(meta["target_transform_lag"])


def difference(scaled: np.ndarray, lag: int) -> np.ndarray:
    """z: row i is ``scaled[i + lag] - scaled[i]`` (``lag`` rows fewer than ``scaled``)."""
    scaled = np.asarray(scaled, dtype=float)
    if lag < 1 or len(scaled) <= lag:
        raise ValueError(f"differencing at lag {lag} needs more than {lag} rows, got {len(scaled)}")
    return scaled[lag:] - scaled[:-lag]


def integrate(z: np.ndarray, before: np.ndarray, lag: int) -> np.ndarray:
    """Forecasts of y from forecasts of z.

    ``z``: (origins, horizon, ...) forecast differences from each origin; ``before``: (origins, lag, ...)
    the ``lag`` values of y (same scale) right before each origin. Returns y with ``z``'s shape."""
    z = np.asarray(z, dtype=float)
    before = np.asarray(before, dtype=float)
    if before.shape[1] != lag or before.shape[0] != z.shape[0] or before.shape[2:] != z.shape[2:]:
        raise ValueError(f"before has shape {before.shape}, needs ({z.shape[0]}, {lag}, *{z.shape[2:]})")
    y = np.empty_like(z)
    h = z.shape[1]
    for k0 in range(0, h, lag):
        k1 = min(h, k0 + lag)
        base = before[:, : k1 - k0] if k0 == 0 else y[:, k0 - lag : k1 - lag]
        y[:, k0:k1] = z[:, k0:k1] + base
    return y


def history_before(scaled: np.ndarray, origins: np.ndarray, lag: int) -> np.ndarray:
    """(origins, lag, ...) rows ``origin - lag .. origin - 1`` of ``scaled``."""
    origins = np.asarray(origins, dtype=np.int64)
    return np.asarray(scaled, dtype=float)[origins[:, None] + np.arange(-lag, 0)[None, :]]


# --- fitting and choosing (LightGBM through darts) ---------------------------------------------------------
def fit_lightgbm(
    kind: str,
    params: dict[str, Any],
    shape: Any,
    input_length: int,
    scaled: np.ndarray,
    index: pd.DatetimeIndex,
    fit_end: int,
    seed: int,
    progress: Any = None,
    stop: Any = None,
    columns: list[str] | None = None,
) -> Any:
    """A darts LightGBM (``trainers.models.build``) fitted on rows ``:fit_end`` of ``scaled`` (rows x
    columns, the model's scale) with the calendar future covariates, on y or on its difference."""
    from darts import TimeSeries

    from trainers import frames, models

    scaled = np.asarray(scaled, dtype=float)
    if scaled.ndim == 1:
        scaled = scaled[:, None]
    lag = shape.day if kind == SEASONAL_DIFFERENCE else 0
    values = difference(scaled[:fit_end], lag) if lag else scaled[:fit_end]
    idx = index[lag:fit_end]
    names = columns or [f"c{j}" for j in range(values.shape[1])]
    series = TimeSeries.from_times_and_values(idx, values, columns=names)
    cal_index = pd.date_range(idx[0], periods=len(idx) + shape.horizon, freq=index[1] - index[0])
    cal = TimeSeries.from_dataframe(frames.calendar(cal_index))
    model = models.build("lightgbm", params, shape, input_length, seed, fit_end)
    models.fit(model, "lightgbm", params, series, None, cal, progress, stop)
    return model


def rolling(
    model: Any, kind: str, lag: int, scaled: np.ndarray, stamps: np.ndarray, origins: np.ndarray, horizon: int
) -> np.ndarray:
    """Median forecasts (origins, horizon, columns) on the scale of ``scaled`` from every origin
    (``trainers.native.rolling_medians``; with the difference, forecast z and :func:`integrate`)."""
    from trainers.native import rolling_medians

    scaled = np.asarray(scaled, dtype=float)
    if scaled.ndim == 1:
        scaled = scaled[:, None]
    origins = np.asarray(origins, dtype=np.int64)
    if kind != SEASONAL_DIFFERENCE:
        return rolling_medians(model, scaled, stamps, origins, horizon)
    zp = rolling_medians(model, difference(scaled, lag), stamps[lag:], origins - lag, horizon)
    return integrate(zp, history_before(scaled, origins, lag), lag)


@dataclass(frozen=True)
class Choice:
    kind: str  # the transform kept
    val_mae: dict[str, float]  # validation MAE (scaled) of each candidate; empty when not compared
    val_rows: tuple[int, int]  # validation rows [start, end); (0, 0) when not compared
    reason: str


def choose(
    params: dict[str, Any],
    shape: Any,
    input_length: int,
    scaled: np.ndarray,
    index: pd.DatetimeIndex,
    val_start: int,
    val_end: int,
    seed: int,
    stop: Any = None,
) -> Choice:
    """The param's transform if it names one; for ``auto``: fit each candidate on rows ``:val_start``,
    forecast every validation origin (``val_start`` .. ``val_end - horizon``, stride 1, rows before
    ``val_end`` only) and keep the lower MAE; ties and too few rows keep the plain target. ``stop``
    (a should-stop callable) is honoured between boosting rounds, as in the final fit."""
    asked = str(params.get("target_transform", AUTO))
    if asked != AUTO:
        return Choice(asked, {}, (0, 0), "asked for in the params")
    h, lag = shape.horizon, shape.day
    origins = np.arange(val_start, val_end - h + 1)
    from trainers import models

    max_lag = -min(
        models.lightgbm_lags(lag, h, val_start)
        if "input_length" not in params
        else models.lightgbm_lookback_lags(lag, input_length)
    )
    if len(origins) < MIN_VALIDATION_ORIGINS or val_start - lag - max_lag < 2 * max_lag:
        return Choice(NONE, {}, (0, 0), "too few rows to compare on validation rows")
    scaled = np.asarray(scaled, dtype=float)[:val_end]
    if scaled.ndim == 1:
        scaled = scaled[:, None]
    stamps = index[:val_end].asi8
    actual = scaled[origins[:, None] + np.arange(h)[None, :]]
    maes: dict[str, float] = {}
    for kind in KINDS:
        model = fit_lightgbm(
            kind, params, shape, input_length, scaled, index[:val_end], val_start, seed, stop=stop
        )
        pred = rolling(model, kind, lag, scaled, stamps, origins, h)
        maes[kind] = float(np.mean(np.abs(pred - actual)))
    best = SEASONAL_DIFFERENCE if maes[SEASONAL_DIFFERENCE] < maes[NONE] else NONE
    return Choice(best, maes, (val_start, val_end), "lower MAE on the validation rows")
