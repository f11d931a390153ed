"""Trainer API edges: spec validation, too little data, cancellation, bundle checks (real data slices)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import DATA_DIR
from trainers.backend import TrainSpec, load_frame, load_model, train
from trainers.errors import BundleError, TrainingCanceled, TrainingError

pytestmark = pytest.mark.ml


@pytest.fixture(scope="module")
def pjm() -> pd.DataFrame:
    frame = load_frame(DATA_DIR / "energy" / "pjm_east_hourly.csv", target="PJME_MW")
    return frame.iloc[-2500:].reset_index(drop=True)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (TrainSpec("prophet", {}), "unknown model type 'prophet'"),
        (TrainSpec("lightgbm", {"n_layers": 3}), "unknown params for lightgbm: \\['n_layers'\\]"),
        (TrainSpec("tide", {"n_epochs": 0}), "n_epochs must be > 0"),
        (TrainSpec("tide", {"n_epochs": "many"}), "n_epochs must be a number"),
        (TrainSpec("lightgbm", {"detector": "magic"}), "detector must be one of"),
        (TrainSpec("lightgbm", {}, horizon=0), "horizon must be"),
        (TrainSpec("lightgbm", {}, quantile=1.5), "quantile must be"),
        (TrainSpec("lightgbm", {}, holdout_fraction=0.9), "holdout_fraction must be"),
    ],
)
def test_bad_specs_are_rejected_clearly(spec: TrainSpec, message: str) -> None:
    with pytest.raises(TrainingError, match=message):
        spec.validate()


def test_too_little_data_says_how_many_rows(pjm: pd.DataFrame) -> None:
    with pytest.raises(TrainingError, match=r"too little data: 300 rows .* needs at least \d+ rows"):
        train(pjm.iloc[:300], TrainSpec("lightgbm", {"n_estimators": 10}))


@pytest.mark.parametrize("model_type", ["lightgbm", "tide"])
def test_should_stop_cancels_promptly(pjm: pd.DataFrame, model_type: str) -> None:
    calls: list[float] = []
    params = {"n_estimators": 500} if model_type == "lightgbm" else {"n_epochs": 50, "max_samples": 256}
    with pytest.raises(TrainingCanceled):
        train(
            pjm,
            TrainSpec(model_type, {**params, "threads": 1}),
            progress=lambda pct, _msg: calls.append(pct),
            should_stop=lambda: True,
        )
    assert all(p < 80 for p in calls)  # stopped inside the fit, not after it


def test_seasonal_naive_round_trip_and_bundle_checks(pjm: pd.DataFrame, tmp_path: Path) -> None:
    seen: list[float] = []
    model = train(pjm, TrainSpec("seasonal_naive", {}), progress=lambda pct, _m: seen.append(pct))
    assert seen[0] == 0 and seen[-1] == 100 and seen == sorted(seen)
    meta = model.metadata
    assert meta["metrics"]["mase"] == pytest.approx(meta["metrics"]["seasonal_naive_mase"])
    assert meta["freq_seconds"] == 3600 and meta["season"] == 24
    model.save(tmp_path / "ok")
    pd.testing.assert_frame_equal(load_model(tmp_path / "ok").predict(pjm, 30), model.predict(pjm, 30))

    def broken(name: str, edit: dict[str, object]) -> Path:
        target = tmp_path / name
        model.save(target)
        meta_path = target / "metadata.json"
        raw = json.loads(meta_path.read_text())
        raw.update(edit)
        meta_path.write_text(json.dumps(raw))
        return target

    with pytest.raises(BundleError, match="bundle format 99"):
        load_model(broken("format", {"format_version": 99}))
    with pytest.raises(BundleError, match="unknown model type"):
        load_model(broken("type", {"model_type": "prophet"}))
    with pytest.raises(BundleError, match=r"trained with numpy 1\.0\.0"):
        load_model(broken("lib", {"library_versions": {"numpy": "1.0.0"}}))
    tampered = tmp_path / "tampered"
    model.save(tampered)
    (tampered / "detector.json").write_text((tampered / "detector.json").read_text().replace("0", "1", 1))
    with pytest.raises(BundleError, match=r"sha256 mismatch for detector\.json"):
        load_model(tampered)
    with pytest.raises(BundleError, match=r"cannot read metadata\.json"):
        load_model(tmp_path / "missing")


def test_backtest_rolls_over_every_test_row_and_scores_baselines() -> None:
    import numpy as np

    from trainers import backtest, metrics

    path = DATA_DIR / "energy" / "steel_industry_2018_15min.csv"
    data, freq = backtest.read_targets(path, ["Usage_kWh", "CO2(tCO2)"])
    data = data.iloc[-2400:]
    result = backtest.run(
        data, freq, "lightgbm", 8, (0.7, 0.1, 0.2), params={"n_estimators": 100, "threads": 1}
    )
    assert result.split == (1680, 240, 480)
    assert result.origins == 480 - 8 + 1  # stride 1 over the whole test split
    values = data.to_numpy()
    origins = np.arange(1920, 2400 - 8 + 1)
    snaive = metrics.baseline_forecasts(values, origins, 8, 96)["seasonal_naive"]
    actual = metrics.rolling_windows(values, origins, 8)
    assert result.rows["seasonal_naive"]["mae"] == pytest.approx(metrics.mae(actual, snaive))
    expected_mase = np.mean(
        [metrics.mase(actual[..., j], snaive[..., j], values[:1680, j], 96) for j in range(2)]
    )
    assert result.rows["seasonal_naive"]["mase"] == pytest.approx(expected_mase)
    assert set(result.rows) == {"lightgbm", "seasonal_naive", "repeat_last"}
    assert result.rows["lightgbm"]["mae_scaled"] < result.rows["repeat_last"]["mae_scaled"]
    assert "mse_scaled" in backtest.render(result)


def test_backtest_torch_model_uses_its_median_quantile() -> None:
    import numpy as np

    from trainers import backtest

    data, freq = backtest.read_targets(DATA_DIR / "energy" / "pjm_east_hourly.csv", ["PJME_MW"])
    data = data.iloc[-1500:]
    params = {"n_epochs": 1, "max_samples": 200, "threads": 1}
    first = backtest.run(data, freq, "tide", 6, (0.7, 0.1, 0.2), params=params)
    again = backtest.run(data, freq, "tide", 6, (0.7, 0.1, 0.2), params=params)
    assert first.origins == 300 - 6 + 1
    assert np.isfinite(first.rows["tide"]["mae"])
    assert first.rows["tide"] == again.rows["tide"]  # the median, not a random sample: reproducible
