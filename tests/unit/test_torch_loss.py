"""The torch models' ``loss`` param (quantile or mse), its serving policy, and the backtest's
validation-only mode used to choose TiDE settings (issue 16)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from trainers import backend, backtest, models
from trainers.errors import TrainingError

TINY = {"n_epochs": 1, "max_samples": 40, "hidden_size": 8, "batch_size": 32, "threads": 1}


def _frame(rows: int = 700) -> tuple[pd.DataFrame, pd.Timedelta]:
    index = pd.date_range("2024-01-01", periods=rows, freq="h")
    t = np.arange(rows)
    rng = np.random.default_rng(0)
    data = pd.DataFrame(
        {
            "a": np.sin(2 * np.pi * t / 24) + 0.1 * rng.standard_normal(rows),
            "b": np.cos(2 * np.pi * t / 24) + 0.05 * t / rows + 0.1 * rng.standard_normal(rows),
        },
        index=index,
    )
    return data, pd.Timedelta(hours=1)


@pytest.mark.parametrize("model_type", models.TORCH_TYPES)
def test_every_torch_model_takes_both_losses(model_type: str) -> None:
    for loss in models.LOSSES:
        models.check_params(model_type, {"loss": loss})
    assert models.point_forecast(model_type, {"loss": "mse"})
    assert not models.point_forecast(model_type, {})  # quantile stays the default
    assert not models.point_forecast(model_type, {"loss": "quantile"})


def test_loss_is_not_a_lightgbm_param() -> None:
    with pytest.raises(models.ParamError) as err:
        models.check_params("lightgbm", {"loss": "mse"})
    assert err.value.param == "loss"


@given(st.one_of(st.text(max_size=20), st.integers(), st.floats(), st.none(), st.lists(st.integers())))
def test_any_other_loss_is_refused_naming_the_param(value: Any) -> None:
    if value in models.LOSSES:
        return
    with pytest.raises(models.ParamError) as err:
        models.check_params("tide", {"loss": value})
    assert err.value.param == "loss"
    assert "loss" in str(err.value)


def test_mse_loss_builds_a_point_model_and_quantile_a_quantile_model() -> None:
    pytest.importorskip("darts")
    shape = models.Shape(horizon=4, day=24, past_covariates=False)
    point = models.build("tide", {"loss": "mse"}, shape, 16, 0, 200)
    assert point.likelihood is None
    assert type(point.model_params["loss_fn"]).__name__ == "MSELoss"
    quant = models.build("tide", {}, shape, 16, 0, 200)
    assert quant.likelihood is not None
    assert list(quant.likelihood.quantiles) == list(models.QUANTILES)


def test_a_served_model_refuses_the_mse_loss_naming_the_param() -> None:
    with pytest.raises(models.ParamError) as err:
        backend.TrainSpec("tide", {"loss": "mse"}).validate()
    assert err.value.param == "loss"
    assert "quantile" in str(err.value)
    backend.TrainSpec("tide", {"loss": "quantile"}).validate()  # the default stays servable


def test_backtest_of_an_mse_model_scores_its_point_forecast() -> None:
    pytest.importorskip("darts")
    data, freq = _frame()
    result = backtest.run(
        data, freq, "tide", 12, (400.0, 150.0, 150.0), 48, 6, True, None, {**TINY, "loss": "mse"}
    )
    row = result.rows["tide"]
    assert np.isfinite(row["mse_scaled"]) and row["mse_scaled"] > 0
    assert result.forecasts is not None and result.forecasts.shape[1:] == (12, 2)


def test_validation_mode_never_reads_the_test_rows() -> None:
    pytest.importorskip("darts")
    data, freq = _frame()
    poisoned = data.copy()
    poisoned.iloc[550:] = 1e6  # the test rows (split 400/150/150)
    split = (400.0, 150.0, 150.0)
    runs = [
        backtest.run(d, freq, "tide", 12, split, 48, 1, True, None, dict(TINY), evaluate="validation")
        for d in (data, poisoned)
    ]
    assert runs[0].evaluated == "validation"
    assert runs[0].origins == 150 - 12 + 1  # every validation row with a full horizon after it
    assert runs[0].rows == runs[1].rows
    # scoring the test rows of the same fitted model sees the poisoned rows
    test = backtest.run(
        poisoned, freq, "tide", 12, split, 48, 1, True, None, dict(TINY), fitted=runs[1].model
    )
    assert test.evaluated == "test"
    assert test.rows["tide"]["mse_scaled"] > 1e3


def test_validation_mode_is_for_torch_models_only() -> None:
    data, freq = _frame()
    with pytest.raises(TrainingError, match="evaluate"):
        backtest.run(data, freq, "tide", 12, (400.0, 150.0, 150.0), 48, evaluate="holdout")
    with pytest.raises(TrainingError, match="torch model"):
        backtest.run(data, freq, "lightgbm", 12, (400.0, 150.0, 150.0), 48, evaluate="validation")


def test_the_training_api_answers_422_naming_params_loss() -> None:
    from api.http.errors import ApiError
    from api.routes.training_jobs import check_spec
    from stream_app.settings import Settings

    class _Res:
        settings = Settings()
        extensions: dict[str, Any] = {}

    for loss in ("mse", "mae", 3):
        with pytest.raises(ApiError) as caught:
            check_spec(_Res(), "tide", {"loss": loss})  # type: ignore[arg-type]
        assert caught.value.status == 422
        assert caught.value.details[0]["loc"] == ["body", "params", "loss"]  # type: ignore[index]
    check_spec(_Res(), "tide", {"loss": "quantile"})  # type: ignore[arg-type]


def test_cli_validation_only_scores_the_validation_rows_of_an_mse_model(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("darts")
    from stream_app import cli

    data, _ = _frame(600)
    src = tmp_path / "s.csv"
    data.rename_axis("timestamp").to_csv(src)
    args = ["-q", "backtest", "--csv", str(src), "--target", "a,b", "--horizon", "12", "--model", "tide"]
    args += ["--lookback", "48", "--split", "400/100/100", "--validation-only"]
    for key, value in TINY.items():
        args += ["--param", f"{key}={value}"]
    assert cli.main([*args, "--param", "loss=mse"]) == 0
    out = capsys.readouterr().out
    assert "split rows train/val/test: 400/100/0; 89 forecast origins (validation rows)" in out
    assert cli.main([*args, "--param", "loss=l1"]) != 0
    refused = capsys.readouterr()
    assert "param loss must be one of" in refused.err + refused.out
