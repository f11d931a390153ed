"""The long-horizon protocol pieces: row-count splits, first-N-rows, best-epoch weights kept."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from trainers import models, torch_defaults
from trainers.backtest import split_bounds
from trainers.errors import TrainingError


def test_row_count_split_is_the_benchmark_split() -> None:
    assert split_bounds(14_400, (8640, 2880, 2880)) == (8640, 11520, 14400)
    # rows after the test rows are not used: the whole ETTh2 file gives the same boundaries
    assert split_bounds(17_420, (8640, 2880, 2880)) == (8640, 11520, 14400)
    # ratios still work, on all rows
    assert split_bounds(14_400, (6, 2, 2)) == (8640, 11520, 14400)
    assert split_bounds(1000, (70, 10, 20)) == (700, 800, 1000)


def test_row_count_split_longer_than_the_data_fails() -> None:
    with pytest.raises(TrainingError, match="needs 14400 rows, the data has 14000"):
        split_bounds(14_000, (8640, 2880, 2880))
    with pytest.raises(TrainingError, match="train and test rows must be > 0"):
        split_bounds(14_000, (0, 2880, 2880))


@given(st.integers(1, 5000), st.integers(0, 5000), st.integers(1, 5000), st.integers(0, 5000))
def test_any_row_count_split_is_cumulative(a: int, b: int, c: int, spare: int) -> None:
    if a + b + c <= 100:
        return  # whole numbers adding up to at most 100 are ratios
    assert split_bounds(a + b + c + spare, (a, b, c)) == (a, a + b, a + b + c)


def test_best_weights_are_restored_at_the_end() -> None:
    import torch

    module = torch.nn.Linear(2, 1)
    cb = torch_defaults.best_weights_callback()
    kept = None
    for epoch, loss in enumerate([3.0, 1.0, 2.0, 5.0]):
        with torch.no_grad():
            module.weight.fill_(float(epoch))
        trainer = SimpleNamespace(
            sanity_checking=False, current_epoch=epoch, callback_metrics={"val_loss": torch.tensor(loss)}
        )
        cb.on_validation_epoch_end(trainer, module)
        if epoch == 1:
            kept = module.weight.detach().clone()
    cb.on_fit_end(SimpleNamespace(), module)
    assert cb.best_epoch == 1
    assert torch.equal(module.weight, kept)


def test_linear_models_are_torch_types_with_params() -> None:
    for model_type in ("dlinear", "nlinear"):
        assert model_type in models.MODEL_TYPES and model_type in models.TORCH_TYPES
        models.check_params(model_type, {"n_epochs": 3, "patience": 2, "rin": 0, "lr": 1e-3})
    models.check_params("dlinear", {"kernel_size": 25})
    with pytest.raises(models.ParamError, match="rin"):
        models.check_params("tide", {"rin": 2})


def test_epoch_budget_is_larger_with_early_stopping() -> None:
    assert models.epochs_of("tide", {}) == torch_defaults.DEFAULTS["tide"]["n_epochs"]
    assert models.epochs_of("tide", {}, validation=True) == torch_defaults.DEFAULTS["tide"]["max_epochs"]
    assert models.epochs_of("tide", {"n_epochs": 3}, validation=True) == 3


def test_cli_runs_the_protocol_on_the_first_rows_of_an_uncut_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from stream_app import cli

    n = 700
    t = np.datetime64("2024-01-01T00:00") + np.arange(n) * np.timedelta64(1, "h")
    v = 10 + 3 * np.sin(np.arange(n) * 2 * np.pi / 24) + np.random.default_rng(0).normal(0, 0.2, n)
    v[450:] += 1000  # rows past --rows-from-start: a forecast that saw them would be far off
    src = tmp_path / "s.csv"
    src.write_text("timestamp,value\n" + "".join(f"{a},{b:.4f}\n" for a, b in zip(t, v, strict=True)))
    args = ["-q", "backtest", "--csv", str(src), "--target", "value", "--horizon", "6"]
    args += ["--model", "lightgbm", "--param", "n_estimators=20", "--rows-from-start", "400"]
    assert cli.main([*args, "--split", "250/50/100"]) == 0
    out = capsys.readouterr().out
    assert "split rows train/val/test: 250/50/100; 95 forecast origins" in out
    repeat_last = next(line for line in out.splitlines() if line.startswith("repeat_last"))
    assert float(repeat_last.split()[3]) < 5  # original-scale MAE: rows 450.. (+1000) never reached
    assert cli.main([*args, "--split", "250/50/200"]) != 0  # more rows than the first 400
