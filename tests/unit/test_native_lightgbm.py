"""Contract: the native LightGBM path gives darts' own numbers (trainers.backend) on the steel data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.conftest import DATA_DIR
from trainers import frames
from trainers.backend import TrainedModel, TrainSpec, train
from trainers.forecast import PredictionError
from trainers.native import NativeLightGBM, calendar_ns, native_reason

pytestmark = pytest.mark.ml


@pytest.fixture(scope="module")
def steel() -> pd.DataFrame:
    df = pd.read_csv(
        DATA_DIR / "energy" / "steel_industry_2018_15min.csv", usecols=["timestamp", "Usage_kWh"]
    )
    return pd.DataFrame(
        {"timestamp": pd.to_datetime(df["timestamp"], utc=True), "value": df["Usage_kWh"].astype(float)}
    )


@pytest.fixture(scope="module")
def model(steel: pd.DataFrame) -> TrainedModel:
    """A small LightGBM as the trainers build it (lags 1-24, 95-97; calendar future covariates), on the
    plain target (the histories below are sized for its input length; the seasonally differenced layout
    is checked native == darts in tests/contract/test_target_transform.py)."""
    spec = TrainSpec("lightgbm", {"n_estimators": 40, "threads": 1, "target_transform": "none"}, horizon=24)
    return train(steel.iloc[:2400].reset_index(drop=True), spec)


def ns(col: pd.Series) -> np.ndarray:
    return col.dt.tz_convert("UTC").dt.tz_localize(None).astype("datetime64[ns]").astype(np.int64).to_numpy()


def grid_of(nat: NativeLightGBM, hist: pd.DataFrame, for_predict: bool = True):  # type: ignore[no-untyped-def]
    return nat.grid(ns(hist["timestamp"]), hist["value"].to_numpy(), for_predict=for_predict)


def darts_triples(out: pd.DataFrame) -> np.ndarray:
    return out[["lower", "predicted_value", "upper"]].to_numpy()


@pytest.mark.parametrize("start", [200, 3000, 20000])
@pytest.mark.parametrize("horizon", [1, 24, 40])
def test_forecast_equals_darts(model: TrainedModel, steel: pd.DataFrame, start: int, horizon: int) -> None:
    nat = NativeLightGBM(model)
    hist = steel.iloc[start : start + 168].reset_index(drop=True)
    ref = model.predict(hist, horizon)
    grid = grid_of(nat, hist)
    (out,) = nat.forecast([grid], [horizon])
    np.testing.assert_allclose(out, darts_triples(ref), rtol=1e-12, atol=1e-9)
    assert (nat.forecast_stamps(grid, horizon) == ns(ref["timestamp"])).all()


def test_one_batch_equals_one_call_per_history(model: TrainedModel, steel: pd.DataFrame) -> None:
    nat = NativeLightGBM(model)
    hists = [steel.iloc[s : s + 120 + s % 50].reset_index(drop=True) for s in (500, 4000, 9000, 15000)]
    horizons = [1, 24, 7, 30]
    batch = nat.forecast([grid_of(nat, h) for h in hists], horizons)
    for hist, h, out in zip(hists, horizons, batch, strict=True):
        np.testing.assert_allclose(out, darts_triples(model.predict(hist, h)), rtol=1e-12, atol=1e-9)


def test_detect_equals_darts_and_flags_a_spike(model: TrainedModel, steel: pd.DataFrame) -> None:
    nat = NativeLightGBM(model)
    hist = steel.iloc[2400:3000].reset_index(drop=True)
    hist.loc[400, "value"] = hist["value"].max() * 3
    ref = model.detect(hist)
    got = nat.detect(grid_of(nat, hist, for_predict=False))
    assert (got["stamps"] == ns(ref["timestamp"])).all()
    for key in ("value", "expected", "lower", "upper", "score"):
        np.testing.assert_allclose(got[key], ref[key].to_numpy(), rtol=1e-12, atol=1e-9)
    assert (got["is_anomaly"] == ref["is_anomaly"].to_numpy()).all()
    spike = np.flatnonzero(got["stamps"] == ns(hist["timestamp"])[400])
    assert len(spike) == 1 and got["is_anomaly"][spike[0]]


def test_gaps_are_filled_as_darts_fills_them(model: TrainedModel, steel: pd.DataFrame) -> None:
    nat = NativeLightGBM(model)
    hist = steel.iloc[5000:5300].drop(index=[5050, 5051, 5200]).reset_index(drop=True)
    (out,) = nat.forecast([grid_of(nat, hist)], [24])
    np.testing.assert_allclose(out, darts_triples(model.predict(hist, 24)), rtol=1e-12, atol=1e-9)
    ref = model.detect(hist)
    got = nat.detect(grid_of(nat, hist, for_predict=False))
    assert len(got["value"]) == len(ref)  # the filled rows are not reported
    np.testing.assert_allclose(got["expected"], ref["expected"].to_numpy(), rtol=1e-12, atol=1e-9)


def test_calendar_equals_the_trainers_calendar() -> None:
    rng = np.random.default_rng(3)
    stamps = np.sort(rng.integers(-(10**18), 3 * 10**18, size=2000))  # before 1970 and sub-second too
    expected = frames.calendar(pd.DatetimeIndex(stamps.astype("datetime64[ns]"))).to_numpy()
    assert (calendar_ns(stamps) == expected).all()


def test_too_short_history_is_a_prediction_error(model: TrainedModel, steel: pd.DataFrame) -> None:
    nat = NativeLightGBM(model)
    with pytest.raises(PredictionError, match="needs 97"):
        grid_of(nat, steel.iloc[:60])


def test_other_models_are_not_native(steel: pd.DataFrame, tmp_path: Path) -> None:
    naive = train(steel.iloc[:2400].reset_index(drop=True), TrainSpec("seasonal_naive", {}))
    assert native_reason(naive) == "seasonal_naive models run in darts"
    with pytest.raises(ValueError, match="run in darts"):
        NativeLightGBM(naive)
