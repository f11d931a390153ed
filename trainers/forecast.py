"""Model inputs and forecasts on a prepared frame: shared by training, predict, detect and evaluate.

Every function takes the bundle's metadata (scaler, covariates, frequency) so a loaded model builds its
inputs exactly as the trainer did. Forecasts are quantile triples (lower 10 %, median, upper 90 %).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from schemas.errors import KilowatchError
from trainers import frames, metrics, models
from trainers import target_transform as tt


class PredictionError(KilowatchError):
    """History passed to predict/detect/evaluate cannot be used (too short, missing covariates)."""


@dataclass(frozen=True)
class Prepared:
    index: pd.DatetimeIndex  # regular naive-UTC grid of the history
    values: np.ndarray  # target on the original scale
    observed: np.ndarray  # False where a gap was forward-filled
    series: Any  # darts TimeSeries, scaled target (None for seasonal naive); differenced (row i+lag
    # minus row i, indexed from the lag-th row) when the bundle's target transform says so
    past: Any
    future: Any


def scale(values: np.ndarray, stats: list[float]) -> np.ndarray:
    return (np.asarray(values, dtype=float) - stats[0]) / stats[1]


def unscale(values: np.ndarray, stats: list[float]) -> np.ndarray:
    return np.asarray(values, dtype=float) * stats[1] + stats[0]


def fit_scaler(train: pd.DataFrame) -> dict[str, list[float]]:
    """Mean/std per column of the training rows only (std 1 for a constant column)."""
    out = {}
    for col in train.columns:
        std = float(train[col].std(ddof=0))
        out[col] = [float(train[col].mean()), std if std > 1e-12 else 1.0]
    return out


def supplied_frame(
    data: pd.DataFrame,
    names: list[str],
    full_index: pd.DatetimeIndex,
    scaler: dict[str, list[float]],
    future: Mapping[str, np.ndarray] | None,
) -> pd.DataFrame:
    """Supplied future covariates on ``full_index`` (scaled): the history's own column on its rows, then
    the supplied values for the steps after it. Steps past the supplied values repeat the last one (a
    direct model reads its whole output chunk even when asked for fewer steps); without supplied values
    (training, evaluation: only history rows are read) the history's last value is repeated."""
    extra = len(full_index) - len(data)
    out = {}
    for name in names:
        past = data[name].to_numpy(dtype=float)
        given = np.asarray(future[name], dtype=float) if future is not None and name in future else past[-1:]
        ahead = given[np.minimum(np.arange(extra), len(given) - 1)] if extra > 0 else given[:0]
        out[name] = scale(np.concatenate([past, ahead]), scaler[name])
    return pd.DataFrame(out, index=full_index)


def prepare(
    frame: pd.DataFrame,
    meta: dict[str, Any],
    extend: int,
    future: Mapping[str, np.ndarray] | None = None,
) -> Prepared:
    """Regular grid, scaling, covariates; future covariates reach ``extend`` steps past the end.

    ``future``: supplied future covariates' values for the steps after the history (see
    :func:`supplied_frame`); their past values are columns of ``frame`` like past covariates'."""
    freq = pd.Timedelta(seconds=float(meta["freq_seconds"]))
    if "timestamp" not in frame.columns or "value" not in frame.columns:
        raise PredictionError("history needs 'timestamp' and 'value' columns")
    covs: list[str] = list(meta["features"]["past_covariates"])
    supplied: list[str] = list(meta["features"].get("supplied_future_covariates", []))
    missing = [c for c in (*covs, *supplied) if c not in frame.columns]
    if missing:
        raise PredictionError(f"history lacks covariate columns {missing} the model was trained with")
    clean = frame[["timestamp", "value", *covs, *supplied]].copy()
    clean["timestamp"] = pd.to_datetime(clean["timestamp"], utc=True)
    clean = clean.dropna(subset=["timestamp", "value"]).sort_values("timestamp", kind="stable")
    if len(clean) < 2:
        raise PredictionError("history has fewer than 2 usable rows")
    reg = frames.regularize(clean, freq)
    data = reg.frame
    values = data["value"].to_numpy(dtype=float)
    if meta["model_type"] == "seasonal_naive":
        return Prepared(data.index, values, reg.observed, None, None, None)
    from darts import TimeSeries

    scaler = meta["scaler"]
    # torch models train in float32 (about twice as fast on CPU); LightGBM keeps float64.
    dtype = np.float32 if meta["model_type"] in models.TORCH_TYPES else np.float64
    target = scale(values, scaler["value"])[:, None]
    lag = tt.lag_of(meta)
    if lag and len(values) <= lag:
        raise PredictionError(f"history has {len(values)} steps, the model needs more than {lag}")
    series = TimeSeries.from_times_and_values(
        data.index[lag:], (tt.difference(target, lag) if lag else target).astype(dtype), columns=["value"]
    )
    full_index = pd.date_range(data.index[0], periods=len(data) + extend, freq=freq)
    cal = frames.calendar(full_index)
    past_df = pd.DataFrame({c: scale(data[c].to_numpy(), scaler[c]) for c in covs}, index=data.index)
    past = future_ts = None
    if meta["future_covariates"]:
        if supplied:
            cal = cal.join(supplied_frame(data, supplied, full_index, scaler, future))
        future_ts = TimeSeries.from_dataframe(cal.astype(dtype))
    else:  # BlockRNN: calendar joins the past covariates
        past_df = past_df.join(cal, how="left")
    if len(past_df.columns):
        past = TimeSeries.from_dataframe(past_df.astype(dtype))
    return Prepared(data.index, values, reg.observed, series, past, future_ts)


def _triples(ts: Any, stats: list[float], base: np.ndarray | None = None) -> np.ndarray:
    """darts quantile components -> sorted (lower, median, upper) on the original scale; ``base`` (one
    scaled value per row) is added first: the day-ago values a differenced model's forecasts sit on."""
    values = ts.values(copy=False)
    if base is not None:
        values = values + np.asarray(base, dtype=float)[:, None]
    return np.sort(unscale(values, stats), axis=-1)


def _scaled(meta: dict[str, Any], prep: Prepared) -> np.ndarray:
    return scale(prep.values, meta["scaler"]["value"])


def one_step(model: Any, meta: dict[str, Any], prep: Prepared) -> tuple[np.ndarray, np.ndarray]:
    """Causal one-step-ahead forecasts for every row that has enough history before it.

    Returns (positions, triples[n, 3]). darts' vectorised historical_forecasts (retrain=False) only
    uses rows before each forecast point.
    """
    need = int(meta["input_length"])
    if len(prep.index) <= need:
        raise PredictionError(f"history has {len(prep.index)} steps, the model needs more than {need}")
    if meta["model_type"] == "seasonal_naive":
        season = int(meta["season"])
        pos = np.arange(season, len(prep.values))
        med = prep.values[pos - season]
        lo, hi = meta["naive_residual_q"]
        return pos, np.stack([med + lo, med, med + hi], axis=1)
    hf = model.historical_forecasts(
        series=prep.series,
        past_covariates=prep.past,
        future_covariates=prep.future,
        forecast_horizon=1,
        stride=1,
        retrain=False,
        last_points_only=True,
        predict_likelihood_parameters=True,
        overlap_end=False,
        show_warnings=False,
        verbose=False,
    )
    pos = prep.index.get_indexer(hf.time_index)
    lag = tt.lag_of(meta)
    base = _scaled(meta, prep)[pos - lag] if lag else None
    return pos, _triples(hf, meta["scaler"]["value"], base)


def _steps(model: Any, meta: dict[str, Any], ts_list: list[Any], horizon: int) -> np.ndarray:
    """Scaled median per forecast (n, horizon): the 0.5 quantile component, or the autoregressive
    median (of the differenced target for a differenced model)."""
    if horizon <= int(meta["output_chunk_length"]):
        return np.stack([np.sort(ts.values(copy=False), axis=-1)[:, 1] for ts in ts_list])
    return np.stack([ts.values(copy=False)[:, 0] for ts in ts_list])


def multi_step(
    model: Any, meta: dict[str, Any], prep: Prepared, first_origin: int, horizon: int, stride: int
) -> tuple[np.ndarray, np.ndarray]:
    """Rolling-origin forecasts: origins (first forecast row) from ``first_origin`` every ``stride``
    rows while the whole horizon fits. Returns (origins, median[n, horizon])."""
    n = len(prep.values)
    if meta["model_type"] == "seasonal_naive":
        origins = np.arange(max(first_origin, int(meta["season"])), n - horizon + 1, stride)
        return origins, metrics.baseline_forecasts(prep.values, origins, horizon, int(meta["season"]))[
            "seasonal_naive"
        ]
    start = max(first_origin, int(meta["input_length"]))
    if start > n - horizon:
        raise PredictionError(f"no complete {horizon}-step window after row {start} of {n}")
    lag = tt.lag_of(meta)
    hf = model.historical_forecasts(
        series=prep.series,
        past_covariates=prep.past,
        future_covariates=prep.future,
        forecast_horizon=horizon,
        stride=stride,
        retrain=False,
        last_points_only=False,
        predict_likelihood_parameters=horizon <= int(meta["output_chunk_length"]),
        start=start - lag,  # a position in prep.series, which starts at row lag
        start_format="position",
        overlap_end=False,
        show_warnings=False,
        verbose=False,
    )
    origins = prep.index.get_indexer([ts.start_time() for ts in hf])
    med = _steps(model, meta, hf, horizon)
    if lag:
        med = tt.integrate(med, tt.history_before(_scaled(meta, prep), origins, lag), lag)
    return origins, unscale(med, meta["scaler"]["value"])


def predict_next(model: Any, meta: dict[str, Any], prep: Prepared, horizon: int) -> np.ndarray:
    """(lower, median, upper) for the ``horizon`` steps after the history.

    Models whose output chunk covers the horizon give their own 10/90 % quantiles; autoregressive ones
    (LightGBM, seasonal naive) give the median plus the hold-out's empirical 10/90 % error quantiles per
    step (split-conformal intervals, stored in the bundle).
    """
    direct = horizon <= int(meta["output_chunk_length"]) and meta["model_type"] != "seasonal_naive"
    if meta["model_type"] == "seasonal_naive":
        med = metrics.seasonal_naive(prep.values, horizon, int(meta["season"]))
    else:
        pred = model.predict(
            n=horizon,
            series=prep.series,
            past_covariates=prep.past,
            future_covariates=prep.future,
            predict_likelihood_parameters=direct,
            show_warnings=False,
            verbose=False,
        )
        lag = tt.lag_of(meta)
        before = tt.history_before(_scaled(meta, prep), np.array([len(prep.values)]), lag) if lag else None
        if direct:  # LightGBM's output chunk is 1 step, never more than a lag (a day) of steps
            return _triples(
                pred, meta["scaler"]["value"], before[0, :horizon] if before is not None else None
            )
        med_s = pred.values(copy=False)[:, 0]
        if before is not None:
            med_s = tt.integrate(med_s[None, :], before, lag)[0]
        med = unscale(med_s, meta["scaler"]["value"])
    q = np.asarray(
        meta["step_error_q"], dtype=float
    )  # (trained horizon, 2): 10 % and 90 % of actual - median
    q = q[np.minimum(np.arange(horizon), len(q) - 1)]
    return np.stack([med + q[:, 0], med, med + q[:, 1]], axis=1)
