"""Supplied future covariates (issue 16): training with a column declared as a future covariate, the
bundle's record of it, predict's checks, and the payloads that carry the values (predict's
``future_covariates``, the covariate-forecasts topic's ``CovariateForecast``).

The model tests train a small LightGBM on the steel plant's data with its lagging reactive power
(``kvarh``, measured with the consumption) declared as the future covariate: the values stand in for a
forecast of it, as in training. A strong covariate, so a change of the supplied values shows."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from api.http.errors import ApiError
from api.services.inference_input import PredictOptions, check_future
from schemas.covariates import MAX_FUTURE_STEPS, CovariateForecast
from schemas.events import MAX_ABS
from tests.conftest import DATA_DIR
from tests.steel_kvarh import steel_with_kvarh
from trainers import models
from trainers.backend import TrainedModel, TrainSpec, supplied_values, train
from trainers.errors import TrainingError
from trainers.forecast import PredictionError, supplied_frame


@pytest.fixture(scope="module")
def steel() -> pd.DataFrame:
    return steel_with_kvarh(DATA_DIR, 2400)


@pytest.fixture(scope="module")
def model(steel: pd.DataFrame) -> TrainedModel:
    params = {"future_covariates": ["kvarh"], "n_estimators": 30, "threads": 1}
    return train(steel.iloc[:2000].reset_index(drop=True), TrainSpec("lightgbm", params, horizon=8))


# --- training ---------------------------------------------------------------------------------------------


@pytest.mark.ml
def test_the_bundle_records_the_supplied_future_covariate(model: TrainedModel) -> None:
    feats = model.metadata["features"]
    assert feats["supplied_future_covariates"] == ["kvarh"]
    assert feats["future_covariates"][-1] == "kvarh"  # after the calendar columns
    assert feats["past_covariates"] == []  # a column is a past or a future covariate, not both
    assert "kvarh" in model.metadata["scaler"]
    assert model.supplied_future_covariates == ["kvarh"]


@pytest.mark.ml
def test_the_forecast_follows_the_supplied_values(model: TrainedModel, steel: pd.DataFrame) -> None:
    hist = steel.iloc[1000:1400].reset_index(drop=True)
    low = model.predict(hist, 8, {"kvarh": [0.0] * 8})["predicted_value"].to_numpy()
    high = model.predict(hist, 8, {"kvarh": [60.0] * 8})["predicted_value"].to_numpy()
    # reactive power rises with the plant's load: a high supplied kvarh forecasts more consumption
    assert high.mean() > low.mean() + 10.0


@pytest.mark.ml
def test_predict_without_the_values_names_the_covariate(model: TrainedModel, steel: pd.DataFrame) -> None:
    hist = steel.iloc[1000:1400].reset_index(drop=True)
    with pytest.raises(PredictionError, match="'kvarh': the model needs 8 values"):
        model.predict(hist, 8)
    with pytest.raises(PredictionError, match=r"8 values needed .* got 3"):
        model.predict(hist, 8, {"kvarh": [1.0, 1.0, 1.0]})
    with pytest.raises(PredictionError, match="lacks covariate columns \\['kvarh'\\]"):
        model.predict(hist.drop(columns=["kvarh"]), 8, {"kvarh": [1.0] * 8})


@pytest.mark.ml
def test_lightgbm_with_a_supplied_covariate_is_served_by_darts(model: TrainedModel) -> None:
    from trainers.native import native_reason

    assert native_reason(model) == "supplied future covariates run in darts"


def test_a_missing_column_is_refused(steel: pd.DataFrame) -> None:
    spec = TrainSpec("lightgbm", {"future_covariates": ["temperature"]})
    with pytest.raises(TrainingError, match="future_covariates \\['temperature'\\] not in the data"):
        train(steel, spec)


@pytest.mark.parametrize("model_type", ["lstm", "seasonal_naive"])
def test_models_without_future_covariates_refuse_them(model_type: str) -> None:
    with pytest.raises(models.ParamError, match=r"param future_covariates: .* models that take them"):
        models.check_params(model_type, {"future_covariates": ["temp"]})


@pytest.mark.parametrize(
    "value", ["temp", [1], ["a", "a"], [""], ["x" * 200], [f"c{i}" for i in range(models.MAX_COVARIATES + 1)]]
)
def test_bad_future_covariates_params_are_refused(value: Any) -> None:
    with pytest.raises(models.ParamError, match="future_covariates must be a list"):
        models.check_params("tide", {"future_covariates": value})


# --- pure parts ---------------------------------------------------------------------------------------------


def test_supplied_frame_puts_the_history_then_the_supplied_values() -> None:
    index = pd.date_range("2024-01-01", periods=6, freq="h")
    data = pd.DataFrame({"t": [1.0, 2.0, 3.0]}, index=index[:3])
    scaler = {"t": [1.0, 2.0]}
    out = supplied_frame(data, ["t"], index, scaler, {"t": np.array([9.0, 11.0])})
    # history 1, 2, 3; supplied 9, 11; the step past them repeats 11; all scaled by (x - 1) / 2
    assert out["t"].tolist() == [0.0, 0.5, 1.0, 4.0, 5.0, 5.0]
    blind = supplied_frame(data, ["t"], index, scaler, None)
    assert blind["t"].tolist() == [0.0, 0.5, 1.0, 1.0, 1.0, 1.0]


META = {"features": {"supplied_future_covariates": ["temp"]}}


@given(n=st.integers(0, 40), horizon=st.integers(1, 30))
def test_supplied_values_needs_exactly_the_horizon(n: int, horizon: int) -> None:
    future = {"temp": [0.5] * n}
    if n == horizon:
        got = supplied_values(META, future, horizon)
        assert got is not None and got["temp"].shape == (horizon,)
    else:
        with pytest.raises(PredictionError, match=f"{horizon} values needed"):
            supplied_values(META, future, horizon)


def test_supplied_values_without_any_needed_is_none() -> None:
    assert supplied_values({"features": {}}, {"temp": [1.0]}, 3) is None


# --- the API's payload and checks ------------------------------------------------------------------


@given(
    needed=st.lists(st.sampled_from(["temp", "plan", "price"]), unique=True, max_size=3),
    sent=st.dictionaries(
        st.sampled_from(["temp", "plan", "other"]),
        st.lists(st.floats(-1e6, 1e6), min_size=0, max_size=12),
        max_size=3,
    ),
    horizon=st.integers(1, 10),
)
@settings(max_examples=200)
def test_check_future_answers_each_case(
    needed: list[str], sent: dict[str, list[float]], horizon: int
) -> None:
    first_bad = next((c for c in needed if len(sent.get(c, [])) != horizon or c not in sent), None)
    if first_bad is None:
        got = check_future(needed, sent, horizon)
        assert got == ({c: sent[c] for c in needed} if needed else None)
        return
    with pytest.raises(ApiError) as err:
        check_future(needed, sent, horizon)
    detail = err.value.details[0]  # type: ignore[index]
    assert detail["loc"] == ["body", "future_covariates", first_bad]
    assert detail["ctx"] == {"needed": horizon, "got": len(sent.get(first_bad, []))}
    assert err.value.status == (400 if first_bad not in sent else 422)


finite = st.floats(-MAX_ABS, MAX_ABS, allow_nan=False, allow_infinity=False)
anything = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(-(10**20), 10**20),
    st.text(max_size=3),
    st.booleans(),
    st.none(),
)


@given(values=st.lists(finite, min_size=1, max_size=50))
def test_finite_future_values_are_taken(values: list[float]) -> None:
    opts = PredictOptions.model_validate({"future_covariates": {"temperature": values}})
    assert opts.future_covariates == {"temperature": values}


@given(value=anything)
@settings(max_examples=200)
def test_anything_else_is_refused_naming_the_field(value: Any) -> None:
    ok = (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and abs(value) <= MAX_ABS
    )
    body = {"future_covariates": {"temperature": [1.0, value]}}
    if ok:
        PredictOptions.model_validate(body)
        return
    with pytest.raises(ValidationError) as err:
        PredictOptions.model_validate(body)
    assert err.value.errors()[0]["loc"][:2] == ("future_covariates", "temperature")


def test_future_payload_bounds() -> None:
    too_long = {"future_covariates": {"t": [1.0] * (MAX_FUTURE_STEPS + 1)}}
    too_many = {"future_covariates": {f"c{i}": [1.0] for i in range(40)}}
    bad_name = {"future_covariates": {"1bad name": [1.0]}}
    empty: dict[str, Any] = {"future_covariates": {"t": []}}
    for body in (too_long, too_many, bad_name, empty):
        with pytest.raises(ValidationError):
            PredictOptions.model_validate(body)
    assert PredictOptions.model_validate({}).future_covariates is None


def test_the_json_body_refuses_huge_and_non_finite_values() -> None:
    for raw in (b'{"future_covariates": {"t": [1e400]}}', b'{"future_covariates": {"t": [1e16]}}'):
        with pytest.raises(ValidationError, match=r"future_covariates\.t\.0"):
            PredictOptions.model_validate_json(raw)
    with pytest.raises(ValidationError):
        PredictOptions.model_validate_json(b'{"future_covariates": {"t": ["12.5"]}}')


# --- the covariate-forecasts topic's payload --------------------------------------------------------


@given(
    lengths=st.lists(st.integers(1, 5), min_size=1, max_size=3),
    step=st.one_of(st.floats(-10, 10 * 24 * 3600.0), st.just(float("nan")), st.just(float("inf"))),
)
def test_covariate_forecast_wants_equal_lengths_and_a_bounded_step(lengths: list[int], step: float) -> None:
    body = {
        "asset_id": "meter-1",
        "start": "2024-01-01T00:00:00Z",
        "step_seconds": step,
        "covariates": {f"c{i}": [1.0] * n for i, n in enumerate(lengths)},
    }
    ok = len(set(lengths)) == 1 and 0 < step <= 7 * 24 * 3600.0
    if ok:
        msg = CovariateForecast.model_validate(body)
        assert len(next(iter(msg.covariates.values()))) == lengths[0]
    else:
        with pytest.raises(ValidationError):
            CovariateForecast.model_validate(body)
