"""LightGBM, as ``kilowatch backtest`` trains and forecasts it (the served defaults), beats the same-run
seasonal-naive and repeat-last forecasts at horizon 24 on held-back rows of real shared data.

Held back: the test rows of a 0.7/0.1/0.2 split by rows (the scaler and the model see the train rows only).
Known exception, kept out on purpose and documented in docs/forecasting-energy.md: PJM's last 4,000 rows
(train February to June, test in July's peaks above anything in training), where LightGBM loses.
"""

from __future__ import annotations

import time

import pytest

from tests.conftest import DATA_DIR
from trainers import backtest

pytestmark = pytest.mark.ml

CASES = {
    # name: (file, target, last rows)
    "steel, last 6,000 rows (15 min)": ("steel_industry_2018_15min.csv", "Usage_kWh", 6_000),
    "PJM East, last 2 years (hourly)": ("pjm_east_hourly.csv", "PJME_MW", 17_520),
}


@pytest.mark.parametrize("case", list(CASES))
def test_lightgbm_beats_seasonal_naive_and_repeat_last(case: str) -> None:
    file, target, rows = CASES[case]
    data, freq = backtest.read_targets(DATA_DIR / "energy" / file, [target])
    t0 = time.perf_counter()
    res = backtest.run(
        data.iloc[-rows:], freq, "lightgbm", 24, (0.7, 0.1, 0.2), params={"n_estimators": 100, "threads": 1}
    )
    assert time.perf_counter() - t0 < 60, "the LightGBM backtest must stay fast"
    assert res.origins > 1000
    model, naive, last = (res.rows[k]["mae"] for k in ("lightgbm", "seasonal_naive", "repeat_last"))
    assert model < 0.9 * naive, res.rows
    assert model < 0.9 * last, res.rows
