"""bench/energy_forecasts: per-data settings chosen on validation rows reach the test-row runs only."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
import pytest

from bench import energy_forecasts as ef


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """backtest.run replaced by a recorder (no model is fitted): what model_row asked it for."""
    seen: list[dict[str, Any]] = []

    def fake_run(data: pd.DataFrame, freq: Any, model: str, horizon: int, split: Any, **kw: Any) -> Any:
        seen.append({"rows": len(data), "split": split, **kw})
        score = {"mase": 1.0, "mae": 1.0}
        return SimpleNamespace(
            target_transform="",
            transform_val_mae=None,
            epochs=1,
            best_epoch=0,
            fit_seconds=0.0,
            origins=1,
            split=(1, 1, 1),
            rows={model: score, "seasonal_naive": score, "repeat_last": score},
        )

    monkeypatch.setattr(ef.backtest, "run", fake_run)
    return seen


def _data() -> pd.DataFrame:
    index = pd.date_range("2018-01-01", periods=400, freq="h")
    return pd.DataFrame({"y": np.arange(400.0)}, index=index)


def test_chosen_setting_reaches_the_test_row_run(calls: list[dict[str, Any]]) -> None:
    row = ef.model_row(_data(), pd.Timedelta(hours=1), "tft", 10, 4000, chosen={"input_length": 24})
    assert calls[0]["lookback"] == 24
    assert calls[0]["rows"] == 400  # test rows kept: this is the test-row run
    assert row["chosen_on_validation"] == {"input_length": 24}
    assert row["params"]["input_length"] == 24
    assert row["label"] == "tft"  # same identity as the served default's row: --merge replaces it


def test_validation_only_runs_ignore_the_chosen_setting(calls: list[dict[str, Any]]) -> None:
    """Candidates are compared on validation rows against the served default, not the chosen value."""
    row = ef.model_row(
        _data(), pd.Timedelta(hours=1), "tft", 10, 4000, validation_only=True, chosen={"input_length": 24}
    )
    assert calls[0]["lookback"] is None
    assert calls[0]["rows"] == 320  # the test rows (0.2) are cut off
    assert row["chosen_on_validation"] == {}


def test_an_explicit_param_overrides_the_chosen_setting(calls: list[dict[str, Any]]) -> None:
    ef.model_row(
        _data(),
        pd.Timedelta(hours=1),
        "tft",
        10,
        4000,
        extra={"input_length": 168},
        chosen={"input_length": 24},
    )
    assert calls[0]["lookback"] == 168


def test_rendered_table_says_the_setting_was_chosen_on_validation_rows(calls: list[dict[str, Any]]) -> None:
    row = ef.model_row(_data(), pd.Timedelta(hours=1), "tft", 10, 4000, chosen={"input_length": 24})
    text = ef.render({"epochs": 10, "samples": 4000, "measured": "now", "datasets": {"pjm-last-4000": [row]}})
    assert "tft [input_length=24: chosen on val rows]" in text
