"""Fitting LightGBM on the plain or the seasonally differenced target, its rolling forecasts, and the rule
that keeps one of the two on validation rows (the arithmetic is ``trainers.target_transform``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from trainers.target_transform import (
    AUTO,
    DEFAULT,
    KINDS,
    MIN_VALIDATION_ORIGINS,
    NONE,
    SEASONAL_DIFFERENCE,
    difference,
    history_before,
    integrate,
)


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
    if "target_transform" not in params:
        return Choice(DEFAULT, {}, (0, 0), "the default (target_transform=auto compares on validation rows)")
    asked = str(params["target_transform"])
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
