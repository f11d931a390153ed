"""DLinear and NLinear beat both naive baselines on a held-back slice of real data (steel plant, 15-minute
steps, horizon 24, season 96): the backtest's rolling origins over the last 300 rows of a 2,400-row slice,
trained on the first 1,800 with early stopping on the 300 between. Same-run baselines, test rows scored
once; the budget (a few epochs) keeps each case under a minute on 2 cores.

The slice ends 4,000 rows before the file's end: the file's last 300 rows are the year-end shutdown (std
1.4 kWh, repeat-last MAE 0.7), where no forecaster can beat repeating the last value. The slice was chosen
on the baselines' scores alone (both naive methods 20-21 kWh MAE there), not on the models'."""

from __future__ import annotations

import pytest

from tests.conftest import DATA_DIR
from tests.contract.conftest import require_ml

ROWS = 2400
END = 4000  # rows held back from the file's end (see above)
SPLIT = (1800.0, 300.0, 300.0)


@pytest.mark.parametrize("model_type", ["dlinear", "nlinear"])
def test_linear_model_beats_repeat_last_and_seasonal_naive(model_type: str) -> None:
    require_ml()
    from trainers import backtest

    path = DATA_DIR / "energy" / "steel_industry_2018_15min.csv"
    if not path.is_file():
        pytest.fail(f"shared data not found at {path}")
    data, freq = backtest.read_targets(path, ["Usage_kWh"])
    data = data.iloc[-ROWS - END : -END]
    params = {"n_epochs": 8, "patience": 3, "batch_size": 64, "max_samples": 2000, "threads": 2}
    result = backtest.run(data, freq, model_type, 24, SPLIT, lookback=192, season=96, params=params)
    scores = {name: row["mase"] for name, row in result.rows.items()}
    assert result.origins == 300 - 24 + 1
    assert scores[model_type] < scores["seasonal_naive"], scores
    assert scores[model_type] < scores["repeat_last"], scores
