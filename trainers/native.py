"""A lean inference path for our LightGBM bundles: darts' lag features built with numpy, boosters called
directly, many requests' windows in one booster call.

Why: one darts ``predict`` costs ~20 ms of Python overhead on our 2-core machines (see the inference-cost
note), far above a 20 ms p99 budget once requests queue. The numbers are darts' own: the feature rows are
laid out exactly as darts' ``_create_lagged_data_autoregression`` lays them out (target lags oldest first,
then each future-covariate lag's components), the median is fed back autoregressively as darts does with
``num_samples=1``, and the intervals come from ``trainers.forecast.predict_next``'s rules. The contract
test (tests/unit/test_native_lightgbm.py) checks native == darts on the steel data.

Only what ``trainers.models.build`` makes for "lightgbm" is served here (``output_chunk_length`` 1,
quantile boosters, target lags, calendar future covariates, no past covariates); :func:`native_reason`
says why another bundle is not, and callers then use ``TrainedModel`` (darts) instead. Pure: no I/O.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from trainers import frames
from trainers import target_transform as tt
from trainers.forecast import PredictionError

NS = 1_000_000_000
_HOUR_NS = 3600 * NS
_MINUTE_NS = 60 * NS
_DAY_NS = 86400 * NS
MEDIAN = 0.5


@dataclass(frozen=True)
class Grid:
    """A history on the model's regular grid (what ``trainers.forecast.prepare`` makes, without darts)."""

    stamps: np.ndarray  # int64 ns since the epoch (UTC), one per grid row
    values: np.ndarray  # target on the original scale
    observed: np.ndarray  # False where a gap was forward-filled


def native_reason(model: Any) -> str | None:
    """None when ``model`` (a ``trainers.backend.TrainedModel``) can use this path, else why not."""
    meta = model.metadata
    if meta.get("model_type") != "lightgbm":
        return f"{meta.get('model_type')} models run in darts"
    if model.autoencoder is not None:
        return "the autoencoder detector runs in torch"
    if meta["features"].get("supplied_future_covariates"):
        return "supplied future covariates run in darts"
    dm = model.model
    container = getattr(dm, "_model_container", None)
    lags = getattr(dm, "lags", {})
    if (
        getattr(dm, "output_chunk_length", None) != 1
        or getattr(dm, "output_chunk_shift", 0) != 0
        or not isinstance(container, dict)
        or MEDIAN not in container
        or set(lags) - {"target", "future"}
        or "target" not in lags
        or meta["features"]["past_covariates"]
        or getattr(dm, "uses_static_covariates", False)
        or (getattr(dm, "encoders", None) is not None and dm.encoders.encoding_available)
    ):
        return "the darts model's layout is not the one trainers.models builds for lightgbm"
    return None


def gil_holding_predict(booster: Any) -> Callable[[np.ndarray], np.ndarray]:
    """``booster.predict(x, num_threads=1)`` through LightGBM's C API, without releasing the GIL.

    Why: ctypes releases the GIL around every foreign call. A forecast makes one short booster call per
    step (24 for a day), and a thread that gives the GIL back 24 times per batch waits up to the
    interpreter's switch interval (5 ms) to get it back each time while the event loop is busy: a 3 ms
    batch took over 100 ms under load. Held through the call (``ctypes.PyDLL``), a batch runs in one go.
    The same C function and arguments as ``Booster.predict`` (so the same numbers); if this LightGBM
    build lacks what it needs, ``booster.predict`` is used."""
    try:
        from lightgbm.libpath import _LIB

        fn = ctypes.PyDLL(_LIB._name).LGBM_BoosterPredictForMat
        handle = booster._handle
        num_iteration = int(booster.best_iteration)
    except (ImportError, AttributeError, OSError):
        return lambda x: np.asarray(booster.predict(x, num_threads=1), dtype=float)
    params = ctypes.c_char_p(b"num_threads=1")

    def predict(x: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray(x, dtype=np.float64)
        out = np.empty(x.shape[0], dtype=np.float64)
        n_out = ctypes.c_int64(0)
        rc = fn(
            handle,
            x.ctypes.data_as(ctypes.c_void_p),
            ctypes.c_int(1),  # C_API_DTYPE_FLOAT64
            ctypes.c_int32(x.shape[0]),
            ctypes.c_int32(x.shape[1]),
            ctypes.c_int(1),  # row major
            ctypes.c_int(0),  # C_API_PREDICT_NORMAL
            ctypes.c_int(0),  # start iteration
            ctypes.c_int(num_iteration),
            params,
            ctypes.byref(n_out),
            out.ctypes.data_as(ctypes.POINTER(ctypes.c_double)),
        )
        if rc != 0 or n_out.value != x.shape[0]:
            return np.asarray(booster.predict(x, num_threads=1), dtype=float)  # LightGBM raises the reason
        return out

    return predict


def calendar_ns(stamps: np.ndarray) -> np.ndarray:
    """``trainers.frames.calendar`` from int64 ns stamps: (n, 4) hour sin/cos, day-of-week sin/cos.

    The same float operations in the same order as the pandas version, so the values are identical."""
    hour = (stamps // _HOUR_NS) % 24 + ((stamps // _MINUTE_NS) % 60) / 60.0
    dow = (stamps // _DAY_NS + 3) % 7 + hour / 24.0  # 1970-01-01 was a Thursday (dayofweek 3)
    return np.stack(
        [
            np.sin(2 * np.pi * hour / 24.0),
            np.cos(2 * np.pi * hour / 24.0),
            np.sin(2 * np.pi * dow / 7.0),
            np.cos(2 * np.pi * dow / 7.0),
        ],
        axis=1,
    )


class NativeLightGBM:
    """Forecasts and one-step residual verdicts of one LightGBM bundle, numpy + boosters only."""

    def __init__(self, model: Any) -> None:
        why = native_reason(model)
        if why is not None:
            raise ValueError(why)
        meta = model.metadata
        dm = model.model
        self.meta = meta
        self.input_length = int(model.input_length)
        self.day_steps = int(meta["day_steps"])
        self.freq_ns = round(float(meta["freq_seconds"]) * NS)
        self.stats = [float(v) for v in meta["scaler"]["value"]]
        self.target_lags = np.asarray(dm.lags["target"], dtype=np.int64)  # negative, ascending
        self.future_lags = np.asarray(dm.lags.get("future", []), dtype=np.int64)
        self.max_lag = int(-self.target_lags.min())
        self.lag = tt.lag_of(meta)  # > 0: the boosters forecast the day-ago difference of the target
        self.boosters = {float(q): est.booster_ for q, est in dm._model_container.items()}
        self.quantiles = sorted(self.boosters)
        self._predictors = {q: gil_holding_predict(b) for q, b in self.boosters.items()}
        self.step_q = np.asarray(meta["step_error_q"], dtype=float)
        self.floor = float(meta["residual_floor"])
        self.residual = model.residual
        n_future = len(meta["features"]["future_covariates"]) if meta["future_covariates"] else 0
        if len(self.future_lags) and n_future != 4:
            raise ValueError("native path knows the 4 calendar covariates only")
        self.n_features = len(self.target_lags) + len(self.future_lags) * n_future
        if self.n_features != self.boosters[MEDIAN].num_feature():
            raise ValueError("feature count differs from the booster's")

    # --- inputs ---------------------------------------------------------------------------------------
    def grid(self, stamps: np.ndarray, values: np.ndarray, *, for_predict: bool) -> Grid:
        """Sorted, unique int64 ns stamps and finite values -> the regular grid ``prepare`` builds.

        A predict uses the same trailing context as ``TrainedModel.predict`` (input length plus eight
        days), so a gap-filled grid is anchored where darts' would be."""
        if for_predict:
            keep = self.input_length + 8 * self.day_steps
            stamps, values = stamps[-keep:], values[-keep:]
        if len(stamps) < 2:
            raise PredictionError("history has fewer than 2 usable rows")
        if (np.diff(stamps) == self.freq_ns).all():
            grid = Grid(stamps, np.asarray(values, dtype=float), np.ones(len(stamps), dtype=bool))
        else:
            frame = pd.DataFrame({"timestamp": pd.to_datetime(stamps, unit="ns", utc=True), "value": values})
            reg = frames.regularize(frame, pd.Timedelta(self.freq_ns, unit="ns"))
            idx = reg.frame.index.asi8.astype(np.int64)
            grid = Grid(idx, reg.frame["value"].to_numpy(dtype=float), np.asarray(reg.observed))
        if for_predict and len(grid.values) < self.input_length:
            raise PredictionError(
                f"history has {len(grid.values)} steps, the model needs {self.input_length}"
            )
        return grid

    def _scale(self, values: np.ndarray) -> np.ndarray:
        return (np.asarray(values, dtype=float) - self.stats[0]) / self.stats[1]

    def _unscale(self, values: np.ndarray) -> np.ndarray:
        return np.asarray(values, dtype=float) * self.stats[1] + self.stats[0]

    def _future(self, stamps: np.ndarray) -> np.ndarray:
        """Future-covariate columns for forecast rows at ``stamps`` (shape (..., lags * 4))."""
        if not len(self.future_lags):
            return np.zeros((*stamps.shape, 0))
        at = stamps[..., None] + self.future_lags * self.freq_ns  # (..., lags)
        cal = calendar_ns(at.reshape(-1)).reshape(*at.shape, 4)
        return cal.reshape(*stamps.shape, -1)  # lag-major, components within a lag (darts' order)

    def _predict(self, q: float, x: np.ndarray) -> np.ndarray:
        """Short calls (a forecast step) keep the GIL; see :func:`gil_holding_predict`."""
        return self._predictors[q](x)

    def _predict_long(self, q: float, x: np.ndarray) -> np.ndarray:
        """Long calls (every row of a detection) give the GIL back while LightGBM works: the event loop
        keeps serving requests on the other core, and three calls can wait at most three switch
        intervals for the GIL."""
        return np.asarray(self.boosters[q].predict(x, num_threads=1), dtype=float)

    # --- forecasts ------------------------------------------------------------------------------------
    def forecast(self, grids: Sequence[Grid], horizons: Sequence[int]) -> list[np.ndarray]:
        """(lower, median, upper) per step for each grid: one booster call per step for all of them."""
        n = len(grids)
        if n == 0:
            return []
        for g in grids:
            if len(g.values) < self.input_length:
                raise PredictionError(
                    f"history has {len(g.values)} steps, the model needs {self.input_length}"
                )
        h_max = max(horizons)
        lag_n, lag = self.max_lag, self.lag
        buf = np.empty((n, lag_n + h_max))
        before = np.empty((n, lag))  # a differenced model: the last day of scaled values
        for i, g in enumerate(grids):
            tail = self._scale(g.values[-(lag_n + lag) :])
            buf[i, :lag_n] = tt.difference(tail, lag) if lag else tail
            before[i] = tail[len(tail) - lag :]
        ends = np.array([g.stamps[-1] for g in grids], dtype=np.int64)
        steps = ends[:, None] + (np.arange(1, h_max + 1, dtype=np.int64) * self.freq_ns)[None, :]
        future = self._future(steps)  # (n, h_max, f)
        n_t = len(self.target_lags)
        x = np.empty((n, self.n_features))
        direct = np.array([h == 1 for h in horizons])
        edge: dict[float, np.ndarray] = {}
        for t in range(h_max):
            x[:, :n_t] = buf[:, lag_n + t + self.target_lags]
            x[:, n_t:] = future[:, t]
            buf[:, lag_n + t] = self._predict(MEDIAN, x)
            if t == 0 and direct.any():  # one-step requests get the model's own 10/90 % quantiles
                edge = {q: self._predict(q, x[direct]) for q in self.quantiles if q != MEDIAN}
        med_s = buf[:, lag_n:]
        if lag:
            med_s = tt.integrate(med_s, before, lag)
            base = before[direct, 0]
            edge = {q: e + base for q, e in edge.items()}
        med_all = self._unscale(med_s)
        out: list[np.ndarray] = []
        k = 0
        for i, h in enumerate(horizons):
            if direct[i]:
                trip = np.array([med_all[i, 0], *(self._unscale(edge[q][k]) for q in edge)])
                out.append(np.sort(trip)[None, :])
                k += 1
                continue
            med = med_all[i, :h]
            q = self.step_q[np.minimum(np.arange(h), len(self.step_q) - 1)]
            out.append(np.stack([med + q[:, 0], med, med + q[:, 1]], axis=1))
        return out

    def forecast_stamps(self, grid: Grid, horizon: int) -> np.ndarray:
        """int64 ns stamps of the ``horizon`` forecast steps after ``grid``."""
        return grid.stamps[-1] + np.arange(1, horizon + 1, dtype=np.int64) * self.freq_ns

    # --- detection ------------------------------------------------------------------------------------
    def one_step(self, grid: Grid) -> tuple[np.ndarray, np.ndarray]:
        """Causal one-step (lower, median, upper) for every row with ``max_lag`` rows before it, as
        darts' ``historical_forecasts(forecast_horizon=1, retrain=False)`` gives them."""
        n = len(grid.values)
        if n <= self.input_length:
            raise PredictionError(f"history has {n} steps, the model needs more than {self.input_length}")
        lag = self.lag
        pos = np.arange(self.max_lag + lag, n)
        scaled = self._scale(grid.values)
        target = tt.difference(scaled, lag) if lag else scaled  # row j is grid row j + lag
        x = np.empty((len(pos), self.n_features))
        n_t = len(self.target_lags)
        x[:, :n_t] = target[pos[:, None] - lag + self.target_lags[None, :]]
        x[:, n_t:] = self._future(grid.stamps[pos])
        preds = np.stack([self._predict_long(q, x) for q in self.quantiles], axis=1)
        if lag:
            preds = preds + scaled[pos - lag][:, None]
        return pos, np.sort(self._unscale(preds), axis=1)

    def detect(self, grid: Grid) -> dict[str, np.ndarray]:
        """``TrainedModel.detect`` for the residual detector: observed rows with a one-step forecast.

        Keys: stamps, value, expected, lower, upper, score, is_anomaly, kind."""
        pos, trip = self.one_step(grid)
        values = grid.values[pos]
        judged = self.residual.judge(values, trip[:, 1], trip[:, 0], trip[:, 2], self.floor)
        score, flag = judged.score, judged.flag
        keep = grid.observed[pos]
        return {
            "stamps": grid.stamps[pos][keep],
            "value": values[keep],
            "expected": trip[keep, 1],
            "lower": trip[keep, 0],
            "upper": trip[keep, 2],
            "score": score[keep],
            "is_anomaly": flag[keep],
            "kind": judged.kind[keep],
        }


# --- rolling-origin forecasts (backtests) -----------------------------------------------------------------
def median_boosters(dm: Any) -> list[Any]:
    """The median boosters of a fitted darts LightGBM model, one per target component (in column order).

    A univariate model holds one ``LGBMRegressor`` per quantile; a multivariate one (output chunk 1) a
    darts ``MultiOutputRegressor`` whose ``estimators_`` are the components' regressors."""
    container = getattr(dm, "_model_container", None)
    if not isinstance(container, dict) or MEDIAN not in container:
        raise ValueError("not a quantile LightGBM model with a 0.5 quantile")
    est = container[MEDIAN]
    estimators = getattr(est, "estimators_", None) or [est]
    return [e.booster_ for e in estimators]


def rolling_medians(
    dm: Any, scaled: np.ndarray, stamps: np.ndarray, origins: np.ndarray, horizon: int
) -> np.ndarray:
    """Autoregressive median forecasts of a fitted darts LightGBM model from many origins at once.

    ``scaled``: (rows, components) on the model's scale; ``stamps``: int64 ns of each row (a regular grid);
    ``origins``: the row of each forecast's first step (every origin needs ``max_lag`` rows before it).
    Returns (origins, horizon, components), the numbers darts' ``historical_forecasts(retrain=False,
    last_points_only=False)`` gives for the same model, origins and calendar future covariates, but with
    one booster call per step and component for all origins (darts loops over origins in Python: 0.13 s
    an origin at horizon 96 x 7 components, ~6 min for a 2,880-row test split).

    Layout (darts' ``create_lagged_data``): target lags oldest first, every component within a lag, then
    each future-covariate lag's 4 calendar columns. Only output chunk 1, no past covariates."""
    lags = getattr(dm, "lags", {})
    if (
        getattr(dm, "output_chunk_length", None) != 1
        or getattr(dm, "output_chunk_shift", 0) != 0
        or set(lags) - {"target", "future"}
        or "target" not in lags
    ):
        raise ValueError("rolling_medians needs output chunk 1, target lags and calendar future lags only")
    scaled = np.asarray(scaled, dtype=float)
    if scaled.ndim == 1:
        scaled = scaled[:, None]
    origins = np.asarray(origins, dtype=np.int64)
    target_lags = np.asarray(lags["target"], dtype=np.int64)  # negative, ascending
    future_lags = np.asarray(lags.get("future", []), dtype=np.int64)
    boosters = median_boosters(dm)
    n_comp = scaled.shape[1]
    if len(boosters) != n_comp:
        raise ValueError(f"model has {len(boosters)} target components, data has {n_comp}")
    lag_n = int(-target_lags.min())
    if len(origins) and (origins.min() < lag_n or origins.max() > len(scaled)):
        raise ValueError(f"every origin needs {lag_n} rows before it and must lie in the data")
    n_t = len(target_lags) * n_comp
    n_features = n_t + len(future_lags) * 4
    if n_features != boosters[0].num_feature():
        raise ValueError(f"feature count {n_features} differs from the booster's {boosters[0].num_feature()}")
    freq_ns = int(stamps[1] - stamps[0])
    n = len(origins)
    buf = np.empty((n, lag_n + horizon, n_comp))
    buf[:, :lag_n] = scaled[origins[:, None] + np.arange(-lag_n, 0)[None, :]]
    first = stamps[origins - 1] + freq_ns
    steps = first[:, None] + (np.arange(horizon, dtype=np.int64) * freq_ns)[None, :]  # (n, horizon)
    future = np.zeros((n, horizon, 0))
    if len(future_lags):
        at = steps[..., None] + future_lags * freq_ns
        future = calendar_ns(at.reshape(-1)).reshape(n, horizon, -1)
    x = np.empty((n, n_features))
    for t in range(horizon):
        x[:, :n_t] = buf[:, lag_n + t + target_lags, :].reshape(n, n_t)
        x[:, n_t:] = future[:, t]
        for j, booster in enumerate(boosters):
            buf[:, lag_n + t, j] = booster.predict(x, num_threads=1)
    return buf[:, lag_n:]
