"""Backtest every model type at horizon 24 on the shared energy data -> bench/results/backtest.md.

Run: ``.venv/bin/python -m bench.backtest_models [--models lightgbm,tide] [--epochs 3 --samples 3000]``.
Same code path as ``kilowatch backtest`` (split 0.7/0.1/0.2 by rows, scaler fitted on train, stride 1).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from trainers import backtest, metrics

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "energy"
# PJM: the last three years of the file (2015-08 .. 2018-08), 26,280 hourly rows.
DATASETS = {
    "steel (15 min, Usage_kWh)": (DATA / "steel_industry_2018_15min.csv", "Usage_kWh", None),
    "PJM East (hourly, last 26,280 rows)": (DATA / "pjm_east_hourly.csv", "PJME_MW", 26_280),
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--models", default="lightgbm,tide,lstm,tft")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--samples", type=int, default=3000)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "backtest.md")
    args = parser.parse_args()
    lines = [
        "# Backtests at horizon 24 (`python -m bench.backtest_models`)",
        "",
        f"Split 0.7/0.1/0.2 by rows, stride 1, torch models {args.epochs} epochs x {args.samples} samples, "
        "1 thread. MASE: scaled by the training split's seasonal-naive MAE (season = 1 day); "
        "rel. = model MAE / seasonal-naive MAE on the same windows.",
        "",
        "| data | model | fit s | MAE | RMSE | sMAPE % | MASE | seasonal-naive MASE | rel. |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, (path, target, rows) in DATASETS.items():
        data, freq = backtest.read_targets(path, [target])
        if rows:
            data = data.iloc[-rows:]
        for model in args.models.split(","):
            params = {"threads": 1} | (
                {"n_epochs": args.epochs, "max_samples": args.samples} if model != "lightgbm" else {}
            )
            t0 = time.perf_counter()
            res = backtest.run(data, freq, model, 24, metrics.parse_split("0.7/0.1/0.2"), params=params)
            r, sn = res.rows[model], res.rows["seasonal_naive"]
            lines.append(
                f"| {name} | {model} | {res.fit_seconds:.1f} | {r['mae']:.2f} | {r['rmse']:.2f} "
                f"| {r['smape']:.1f} | {r['mase']:.3f} | {sn['mase']:.3f} | {r['mae'] / sn['mae']:.2f} |"
            )
            print(lines[-1], f"({time.perf_counter() - t0:.0f} s)", flush=True)
    args.out.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
