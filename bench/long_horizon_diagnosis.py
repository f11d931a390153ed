"""Why multivariate TiDE lost to repeat-last on ETTh2 (issue 16): one TiDE fitted as the issue's run did
(all 7 columns as one multivariate series, hidden 64, 8 epochs, batch 64, lr 3e-3, no instance
normalisation), then scored on train, validation and test windows (stride 24), per column, next to
repeat-last; prints the scaled level of each split and the quantile component order.

    nice -n 19 .venv/bin/python -m bench.long_horizon_diagnosis          # the issue's configuration
    nice -n 19 .venv/bin/python -m bench.long_horizon_diagnosis --rin    # the same with RevIN

Since issue 16 a cosine learning-rate decay is always on, so figures differ slightly from the run recorded
in docs/forecasting-long-horizon.md (made with the code before that change).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

from bench.long_horizon import DATA, HORIZON, LOOKBACK, ROWS, TARGETS
from trainers import backtest, frames, metrics, models


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rin", action="store_true", help="reversible instance normalisation on")
    args = ap.parse_args()
    from darts import TimeSeries

    data, freq = backtest.read_targets(DATA, TARGETS)
    data = data.iloc[:ROWS]
    values = data.to_numpy(float)
    tr, ve = 8640, 11520
    mean, std = values[:tr].mean(0), values[:tr].std(0)
    scaled = (values - mean) / std
    for name, sl in (("train", slice(0, tr)), ("val", slice(tr, ve)), ("test", slice(ve, None))):
        print(f"scaled {name}: mean {np.round(scaled[sl].mean(0), 2)} std {np.round(scaled[sl].std(0), 2)}")
    series = TimeSeries.from_times_and_values(data.index, scaled, columns=list(data.columns))
    cal_index = pd.date_range(data.index[0], periods=len(data) + HORIZON, freq=freq)
    cal = TimeSeries.from_dataframe(frames.calendar(cal_index))
    params = {
        "n_epochs": 8,
        "hidden_size": 64,
        "batch_size": 64,
        "lr": 3e-3,
        "dropout": 0.1,
        "max_samples": 4000,
        "rin": int(args.rin),
        "threads": 1,
    }
    model = models.build("tide", params, models.Shape(HORIZON, 24, False), LOOKBACK, 0, tr)
    c0 = time.process_time()
    models.fit(model, "tide", params, series[:tr], None, cal, None, None)
    print(f"fit CPU {time.process_time() - c0:.1f} s")
    names = [f"{c}_q0.500" for c in series.components]
    for label, start, end in (("train", LOOKBACK, tr), ("val", tr, ve), ("test", ve, len(data))):
        hf = model.historical_forecasts(
            series=series[:end],
            future_covariates=cal,
            forecast_horizon=HORIZON,
            stride=24,
            retrain=False,
            last_points_only=False,
            start=start,
            start_format="position",
            overlap_end=False,
            show_warnings=False,
            verbose=False,
            predict_likelihood_parameters=True,
        )
        origins = data.index.get_indexer([ts.start_time() for ts in hf])
        pred = np.stack([ts[names].values() for ts in hf])
        act = metrics.rolling_windows(scaled, origins, HORIZON)
        last = metrics.baseline_forecasts(scaled, origins, HORIZON, 24)["repeat_last"]
        print(
            f"{label}: tide MSE {metrics.mse(act, pred):.3f}, repeat-last {metrics.mse(act, last):.3f}; "
            f"tide per column {np.round(((act - pred) ** 2).mean((0, 1)), 2)}"
        )
    print("quantile components:", list(hf[0].components)[:6], "...")


if __name__ == "__main__":
    main()
