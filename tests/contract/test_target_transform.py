"""A seasonally differenced LightGBM bundle (trainers.target_transform) serves forecasts of the target, not
of its difference: every path that forecasts (darts predict and detect, the native engine, the hold-out
evaluation's rolling forecasts, the backtest's) rebuilds y_{T+k} = z_{T+k} + y_{T+k-day} the same way.

Real data: PJM East's last 4,000 hourly rows (spring trains, July tests: the case the transform is for).
The expected forecasts here are rebuilt by a plain loop from darts' own forecast of the difference, not
with ``target_transform.integrate``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from tests.conftest import DATA_DIR
from tests.contract.conftest import require_ml

ROWS = 4000
DAY = 24
PARAMS = {"n_estimators": 60, "threads": 1}


@pytest.fixture(scope="module")
def pjm() -> pd.DataFrame:
    from trainers.backend import load_frame

    path = DATA_DIR / "energy" / "pjm_east_hourly.csv"
    if not path.is_file():
        pytest.fail(f"shared data not found at {path}")
    from trainers import frames

    raw = load_frame(path, target="PJME_MW").iloc[-ROWS:]
    grid = frames.regularize(raw, pd.Timedelta(hours=1)).frame  # a few hours are missing: forward-filled
    return pd.DataFrame({"timestamp": grid.index.tz_localize("UTC"), "value": grid["value"].to_numpy()})


@pytest.fixture(scope="module")
def bundle(pjm: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A bundle trained with the difference asked for, saved and loaded back."""
    require_ml()
    from trainers.backend import TrainSpec, load_model, train

    model = train(pjm, TrainSpec("lightgbm", {**PARAMS, "target_transform": "seasonal_difference"}))
    directory = Path(tmp_path_factory.mktemp("sdiff"))
    model.save(directory)
    return load_model(directory)


def _scaled(model: Any, values: np.ndarray) -> np.ndarray:
    mean, std = model.metadata["scaler"]["value"]
    return (np.asarray(values, dtype=float) - mean) / std


def _unscale(model: Any, values: np.ndarray) -> np.ndarray:
    mean, std = model.metadata["scaler"]["value"]
    return np.asarray(values, dtype=float) * std + mean


def _calendar(index: pd.DatetimeIndex, extra: int) -> Any:
    from darts import TimeSeries

    from trainers import frames

    full = pd.date_range(index[0], periods=len(index) + extra, freq=index[1] - index[0])
    return TimeSeries.from_dataframe(frames.calendar(full))


def _z_series(model: Any, history: pd.DataFrame) -> tuple[Any, np.ndarray, pd.DatetimeIndex]:
    from darts import TimeSeries

    index = pd.DatetimeIndex(history["timestamp"]).tz_convert(None)
    y = _scaled(model, history["value"].to_numpy())
    z = y[DAY:] - y[:-DAY]
    return TimeSeries.from_times_and_values(index[DAY:], z[:, None], columns=["value"]), y, index


def test_the_bundle_records_the_transform(bundle: Any) -> None:
    meta = bundle.metadata
    assert meta["target_transform"] == "seasonal_difference"
    assert meta["target_transform_lag"] == DAY
    assert meta["format_version"] == 2  # an install reading format 1 only refuses it
    max_lag = -min(bundle.model.lags["target"])
    assert meta["input_length"] == max_lag + DAY


def test_served_forecasts_rebuild_the_target(bundle: Any, pjm: pd.DataFrame) -> None:
    from stream_app.serving.model import serve

    history = pjm.iloc[: ROWS - 100].reset_index(drop=True)
    horizon = 2 * DAY + 5  # past one day: later steps sit on forecast values, not on history
    z_series, y, index = _z_series(bundle, history)
    z_hat = (
        bundle.model.predict(
            n=horizon, series=z_series, future_covariates=_calendar(index, horizon), verbose=False
        )
        .values()[:, 0]
        .astype(float)
    )
    expected = np.empty(horizon)
    for k in range(horizon):
        prev = y[len(y) - DAY + k] if k < DAY else expected[k - DAY]
        expected[k] = z_hat[k] + prev
    expected = _unscale(bundle, expected)

    darts_out = bundle.predict(history, horizon)["predicted_value"].to_numpy()
    np.testing.assert_allclose(darts_out, expected, rtol=1e-9, atol=1e-6)
    native = serve(bundle, native=True)
    assert native.engine == "native"
    ts = (pd.DatetimeIndex(history["timestamp"]).asi8 // 10**9).astype(float)
    points = native.plan(list(ts), list(history["value"].astype(float)), horizon)
    np.testing.assert_allclose([p.value for p in points], expected, rtol=1e-9, atol=1e-6)
    # the forecast is of the load (MW), on the level of the last day, not of a day-ago difference
    assert abs(expected[0] - history["value"].iloc[-DAY]) < 0.5 * history["value"].std()


def test_detection_rebuilds_the_one_step_forecast(bundle: Any, pjm: pd.DataFrame) -> None:
    from stream_app.serving.model import serve

    history = pjm.iloc[-600:].reset_index(drop=True)
    z_series, y, index = _z_series(bundle, history)
    hf = bundle.model.historical_forecasts(
        series=z_series,
        future_covariates=_calendar(index, 1),
        forecast_horizon=1,
        retrain=False,
        last_points_only=True,
        predict_likelihood_parameters=True,
        show_warnings=False,
        verbose=False,
    )
    pos = index.get_indexer(hf.time_index)
    median = _unscale(bundle, np.sort(hf.values(), axis=1)[:, 1] + y[pos - DAY])
    got = bundle.detect(history)
    want = pd.Series(median, index=index[pos].tz_localize("UTC"))
    stamps = pd.DatetimeIndex(got["timestamp"])
    np.testing.assert_allclose(got["expected"].to_numpy(), want.loc[stamps].to_numpy(), rtol=1e-9)
    native = serve(bundle, native=True)
    d = native.detect(index.asi8, history["value"].to_numpy(dtype=float), history)
    np.testing.assert_allclose(d.expected, got["expected"].to_numpy(), rtol=1e-9, atol=1e-6)


def test_evaluation_and_backtest_forecasts_agree(bundle: Any, pjm: pd.DataFrame) -> None:
    """The hold-out evaluation (darts' historical forecasts, ``trainers.forecast.multi_step``) and the
    backtest's vectorised path (``transform_choice.rolling``) give the same rebuilt forecasts."""
    from trainers import target_transform as tt
    from trainers import transform_choice
    from trainers.forecast import multi_step, prepare

    meta = bundle.metadata
    prep = prepare(pjm, meta, extend=DAY)
    origins, med = multi_step(bundle.model, meta, prep, ROWS - 300, DAY, 7)
    y = _scaled(bundle, prep.values)
    vec = transform_choice.rolling(
        bundle.model, tt.SEASONAL_DIFFERENCE, DAY, y, prep.index.asi8, origins, DAY
    )
    np.testing.assert_allclose(med, _unscale(bundle, vec[..., 0]), rtol=1e-9, atol=1e-6)


def test_auto_keeps_the_difference_on_pjm_and_beats_seasonal_naive(pjm: pd.DataFrame) -> None:
    """The rule (``target_transform=auto``) compares both on validation rows (the last 1/8 of the train
    rows) and keeps the difference here; the hold-out (never seen by the rule) then beats seasonal naive."""
    require_ml()
    from trainers.backend import TrainSpec, train

    model = train(pjm, TrainSpec("lightgbm", {**PARAMS, "target_transform": "auto"}))
    meta = model.metadata
    choice = meta["target_transform_choice"]
    val_start, val_end = choice["validation_rows"]
    assert val_end == meta["training_range"]["rows"] and val_start < val_end
    maes = choice["validation_mae_scaled"]
    assert meta["target_transform"] == min(maes, key=maes.get) == "seasonal_difference"
    assert meta["metrics"]["mase"] < meta["metrics"]["seasonal_naive_mase"]
