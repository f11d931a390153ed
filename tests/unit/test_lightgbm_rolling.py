"""The vectorised LightGBM recursion (trainers.native.rolling_medians) gives darts' historical forecasts,
and ``kilowatch backtest`` uses it for LightGBM instead of darts' per-origin loop."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from tests.conftest import DATA_DIR
from trainers import backtest, frames, models
from trainers.native import rolling_medians

pytestmark = pytest.mark.ml

ETT = DATA_DIR / "ett" / "ETTh2.csv"


@pytest.fixture(scope="module")
def ett() -> tuple[pd.DataFrame, pd.Timedelta]:
    data, freq = backtest.read_targets(ETT, ["HUFL", "MULL", "OT"])
    return data.iloc[:1800], freq


def _fitted(data: pd.DataFrame, freq: pd.Timedelta, train_end: int, horizon: int) -> tuple[Any, Any, Any]:
    from darts import TimeSeries

    values = data.to_numpy(dtype=float)
    scaled = (values - values[:train_end].mean(axis=0)) / values[:train_end].std(axis=0)
    series = TimeSeries.from_times_and_values(data.index, scaled, columns=list(data.columns))
    cal_index = pd.date_range(data.index[0], periods=len(data) + horizon, freq=freq)
    cal = TimeSeries.from_dataframe(frames.calendar(cal_index))
    params = {"n_estimators": 15, "threads": 1}
    model = models.build("lightgbm", params, models.Shape(horizon, 24, False), 0, 0, train_end)
    models.fit(model, "lightgbm", params, series[:train_end], None, cal, None, None)
    return model, series, cal


@pytest.mark.parametrize("columns", [["OT"], ["HUFL", "MULL", "OT"]])
def test_rolling_medians_equal_darts_historical_forecasts(
    ett: tuple[pd.DataFrame, pd.Timedelta], columns: list[str]
) -> None:
    data, freq = ett
    data = data[columns]
    horizon = 30
    model, series, cal = _fitted(data, freq, 1200, horizon)
    hf = model.historical_forecasts(
        series=series,
        future_covariates=cal,
        forecast_horizon=horizon,
        stride=37,
        retrain=False,
        last_points_only=False,
        start=1300,
        start_format="position",
        overlap_end=False,
        show_warnings=False,
        verbose=False,
    )
    origins = data.index.get_indexer([ts.start_time() for ts in hf])
    expected = np.stack([ts.values(copy=False) for ts in hf])
    got = rolling_medians(model, series.values(), data.index.asi8, origins, horizon)
    assert got.shape == (len(origins), horizon, len(columns))
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-9)


def test_rolling_medians_refuses_what_it_cannot_do(ett: tuple[pd.DataFrame, pd.Timedelta]) -> None:
    data, freq = ett
    model, series, _ = _fitted(data[["HUFL", "OT"]], freq, 1200, 12)
    values = series.values()
    with pytest.raises(ValueError, match="components"):
        rolling_medians(model, values[:, :1], data.index.asi8, np.array([1300]), 12)
    with pytest.raises(ValueError, match="rows before it"):
        rolling_medians(model, values, data.index.asi8, np.array([10]), 12)


def test_backtest_forecasts_lightgbm_without_darts_per_origin_loop(
    ett: tuple[pd.DataFrame, pd.Timedelta], monkeypatch: pytest.MonkeyPatch
) -> None:
    """darts' historical_forecasts loops over origins in Python (~6 min at horizon 96 x 7 columns on
    ETTh2's test split); the backtest must not call it for LightGBM."""
    from darts.models import LightGBMModel

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("historical_forecasts called for LightGBM")

    monkeypatch.setattr(LightGBMModel, "historical_forecasts", refuse)
    data, freq = ett
    res = backtest.run(
        data, freq, "lightgbm", 24, (1200, 300, 300), params={"n_estimators": 15, "threads": 1}
    )
    assert res.origins == 300 - 24 + 1
    assert res.forecasts is not None and res.forecasts.shape == (res.origins, 24, 3)
    assert np.isfinite(res.rows["lightgbm"]["mse_scaled"])
