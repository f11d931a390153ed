"""LightGBM on the ETTh2 long-horizon protocol: darts' per-origin loop vs the vectorised recursion.

Run: ``.venv/bin/python -m bench.lightgbm_etth2 [--darts-stride 10]``
-> bench/results/lightgbm_etth2.{json,md}.
Protocol: ETTh2's first 14,400 rows, 8,640/2,880/2,880, scaler on the train rows, LightGBM's own lags
(1-24, 167-169: what the trainers build; lookback 720 would be 5,040 lag features), horizon 96, stride 1,
all 7 columns, MSE/MAE on the scaled values, same-run seasonal-naive and repeat-last rows.

"before" is darts' ``historical_forecasts`` (what ``kilowatch backtest`` called): timed on every
``--darts-stride``-th origin and extrapolated to all of them (the whole loop takes ~6 min of CPU); its
forecasts are checked equal to the vectorised ones on those origins.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from trainers import backtest, frames, metrics, models
from trainers.native import rolling_medians

ROOT = Path(__file__).resolve().parents[1]
ETT = ROOT.parent / "shared" / "data" / "ett" / "ETTh2.csv"
COLUMNS = ["HUFL", "HULL", "MUFL", "MULL", "LUFL", "LULL", "OT"]
TRAIN, VAL, TEST, H = 8640, 2880, 2880, 96


def _clock() -> tuple[float, float]:
    return time.perf_counter(), time.process_time()


def main() -> None:
    from darts import TimeSeries

    parser = argparse.ArgumentParser()
    parser.add_argument("--darts-stride", type=int, default=10)
    parser.add_argument("--lookback", type=int, default=None, help="LightGBM input_length (sparse lags)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "lightgbm_etth2")
    args = parser.parse_args()
    data, freq = backtest.read_targets(ETT, COLUMNS)
    data = data.iloc[: TRAIN + VAL + TEST]
    n, val_end = len(data), TRAIN + VAL
    values = data.to_numpy(dtype=float)
    mean, std = values[:TRAIN].mean(axis=0), values[:TRAIN].std(axis=0)
    scaled = (values - mean) / std
    series = TimeSeries.from_times_and_values(data.index, scaled, columns=COLUMNS)
    cal = TimeSeries.from_dataframe(frames.calendar(pd.date_range(data.index[0], periods=n + H, freq=freq)))
    params = {"threads": 1} | ({"input_length": args.lookback} if args.lookback else {})
    model = models.build("lightgbm", params, models.Shape(H, 24, False), args.lookback or 0, 0, TRAIN)
    w0, c0 = _clock()
    models.fit(model, "lightgbm", params, series[:TRAIN], None, cal, None, None)
    w1, c1 = _clock()
    origins = np.arange(val_end, n - H + 1)
    pred = rolling_medians(model, scaled, data.index.asi8, origins, H)
    w2, c2 = _clock()
    hf = model.historical_forecasts(
        series=series,
        future_covariates=cal,
        forecast_horizon=H,
        stride=args.darts_stride,
        retrain=False,
        last_points_only=False,
        start=val_end,
        start_format="position",
        overlap_end=False,
        show_warnings=False,
        verbose=False,
    )
    w3, c3 = _clock()
    sub = data.index.get_indexer([ts.start_time() for ts in hf])
    darts_pred = np.stack([ts.values(copy=False) for ts in hf])
    max_diff = float(np.abs(darts_pred - pred[sub - val_end]).max())
    scale = len(origins) / len(sub)
    actual = metrics.rolling_windows(scaled, origins, H)
    rows = {"lightgbm": pred, **metrics.baseline_forecasts(scaled, origins, H, 24)}
    scores = {k: {"mse": metrics.mse(actual, p), "mae": metrics.mae(actual, p)} for k, p in rows.items()}
    result: dict[str, Any] = {
        "origins": len(origins),
        "fit": {"wall_s": round(w1 - w0, 1), "cpu_s": round(c1 - c0, 1)},
        "forecast_vectorised": {"wall_s": round(w2 - w1, 1), "cpu_s": round(c2 - c1, 1)},
        "forecast_darts_measured": {
            "origins": len(sub),
            "wall_s": round(w3 - w2, 1),
            "cpu_s": round(c3 - c2, 1),
        },
        "forecast_darts_all_origins_estimate": {
            "wall_s": round((w3 - w2) * scale, 1),
            "cpu_s": round((c3 - c2) * scale, 1),
        },
        "max_abs_difference_darts_vs_vectorised": max_diff,
        "scores": scores,
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        "measured": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }
    fit, vec = result["fit"], result["forecast_vectorised"]
    lags = f"lookback {args.lookback}: {len(model.lags['target'])}" if args.lookback else "default: 28"
    result["lags"] = model.lags["target"]
    args.out.with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n")
    est, got = result["forecast_darts_all_origins_estimate"], result["forecast_darts_measured"]
    md = [
        "# LightGBM on ETTh2, horizon 96 x 7 columns (`python -m bench.lightgbm_etth2`)",
        "",
        f"First 14,400 rows, {TRAIN}/{VAL}/{TEST}, scaler on train rows, LightGBM's own lags, stride 1: "
        f"{len(origins)} origins. 1 thread. Measured {result['measured']} (shared 2-core machine).",
        "",
        "| step | wall s | CPU s |",
        "|---|---:|---:|",
        f"| fit (21 boosters: 7 columns x 3 quantiles; lags {lags}) | {fit['wall_s']} | {fit['cpu_s']} |",
        f"| forecasts, before: darts historical_forecasts, all origins (estimated from {got['origins']} "
        f"origins: {got['wall_s']} s wall, {got['cpu_s']} s CPU) | {est['wall_s']} | {est['cpu_s']} |",
        f"| forecasts, after: trainers.native.rolling_medians, all origins "
        f"| {vec['wall_s']} | {vec['cpu_s']} |",
        "",
        f"Largest difference between the two on the shared origins: {max_diff:.3g} (scaled units).",
        "",
        "| method | MSE (scaled) | MAE (scaled) |",
        "|---|---:|---:|",
        *(f"| {k} | {v['mse']:.4f} | {v['mae']:.4f} |" for k, v in scores.items()),
    ]
    args.out.with_suffix(".md").write_text("\n".join(md) + "\n")
    print("\n".join(md))


if __name__ == "__main__":
    main()
