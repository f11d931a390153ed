"""ETTh2 long-horizon protocol: first 14,400 rows, 8,640/2,880/2,880, scaler fitted on the train rows,
lookback 720, horizon 96, stride 1 (2,785 test origins), MSE/MAE on the scaled values, all 7 columns,
with same-run seasonal-naive and repeat-last rows. Writes bench/results/long_horizon.{json,md}.

Each model is merged into the JSON as it finishes (``--models tide`` re-runs one model, keeping the
others). Settings are fixed before the run; the only data-driven choice, the epoch whose weights are
kept, is made on the validation rows (early stopping). The test rows are scored once.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from trainers import backtest

DATA = Path(os.environ.get("KW_SHARED_DATA", "/work/shared/data")) / "ett" / "ETTh2.csv"
TARGETS = ["HUFL", "HULL", "MUFL", "MULL", "LUFL", "LULL", "OT"]
ROWS, SPLIT, LOOKBACK, HORIZON = 14_400, (8640.0, 2880.0, 2880.0), 720, 96
OUT = Path(__file__).resolve().parent / "results"
# Per model: params (fixed a priori; early stopping on validation picks the epoch) and channel handling.
RUNS: dict[str, dict[str, Any]] = {
    "tide": {
        "params": {
            "hidden_size": 256,
            "batch_size": 256,
            "lr": 1e-3,
            "dropout": 0.3,
            "n_epochs": 12,
            "patience": 3,
            "max_samples": 4000,
            "threads": 1,
        },
        "channels": "independent",
    },
    "dlinear": {
        "params": {"batch_size": 256, "lr": 5e-3, "n_epochs": 15, "patience": 3, "threads": 1},
        "channels": "independent",
    },
    "nlinear": {
        "params": {"batch_size": 64, "lr": 5e-3, "n_epochs": 40, "patience": 4, "threads": 1},
        "channels": "independent",
    },
    # issue 16: LSTM (darts BlockRNN) with kilowatch's defaults, RevIN on as for the others; fixed before
    # the run. TFT is not run: one epoch of 4,000 windows per channel costs ~296 CPU s at lookback 720
    # (bench/long_horizon_cost.py), ~50 CPU min for 10 epochs before its forecasts.
    "lstm": {
        "params": {
            "hidden_dim": 32,
            "batch_size": 64,
            "lr": 3e-3,
            "rin": 1,
            "n_epochs": 8,
            "patience": 3,
            "max_samples": 4000,
            "threads": 1,
        },
        "channels": "independent",
    },
}
PUBLISHED = {  # ETTh2, H=96, scaled MSE / MAE as published
    "tide": (0.270, 0.336, "Das et al. 2023, TiDE, table 2"),
    "dlinear": (0.289, 0.353, "Zeng et al. 2023, LTSF-Linear, table 2 (multivariate, 336 lookback)"),
    "nlinear": (0.277, 0.338, "Zeng et al. 2023, LTSF-Linear, table 2 (multivariate, 336 lookback)"),
}


def run_one(model: str) -> dict[str, Any]:
    data, freq = backtest.read_targets(DATA, TARGETS)
    data = data.iloc[:ROWS]
    spec = RUNS[model]
    result = backtest.run(
        data,
        freq,
        model,
        HORIZON,
        SPLIT,
        LOOKBACK,
        1,
        True,
        None,
        dict(spec["params"]),
        channels=spec["channels"],
    )
    return {
        "params": spec["params"],
        "channels": spec["channels"],
        "split": list(result.split),
        "origins": result.origins,
        "fit_seconds": round(result.fit_seconds, 1),
        "fit_cpu_seconds": round(result.fit_cpu_seconds, 1),
        "epochs": result.epochs,
        "best_epoch": result.best_epoch + 1,
        "rows": {k: {m: round(v, 4) for m, v in row.items()} for k, row in result.rows.items()},
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def render(results: dict[str, Any]) -> str:
    lines = [
        "# ETTh2 long-horizon protocol (bench/long_horizon.py)",
        "",
        f"First {ROWS:,} rows, train/val/test 8,640/2,880/2,880, scaler fitted on train, "
        f"lookback {LOOKBACK}, horizon {HORIZON}, stride 1, all 7 columns; MSE/MAE on scaled values. "
        "Baselines are the same run's.",
        "",
        "| model | MSE | MAE | seasonal naive MSE | repeat last MSE | published MSE/MAE | fit wall s "
        "| fit CPU s | epochs (best) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for model, r in results["models"].items():
        row, pub = r["rows"][model], PUBLISHED.get(model)
        snaive, last = r["rows"]["seasonal_naive"], r["rows"]["repeat_last"]
        lines.append(
            f"| {model} | {row['mse_scaled']:.3f} | {row['mae_scaled']:.3f} | "
            f"{snaive['mse_scaled']:.3f} | {last['mse_scaled']:.3f} | "
            f"{f'{pub[0]:.3f} / {pub[1]:.3f}' if pub else '-'} | {r['fit_seconds']:.0f} | "
            f"{r['fit_cpu_seconds']:.0f} | {r['epochs']} ({r['best_epoch']}) |"
        )
    any_run = next(iter(results["models"].values()), None)
    if any_run:
        for base in ("seasonal_naive", "repeat_last"):
            row = any_run["rows"][base]
            lines.append(f"| {base} | {row['mse_scaled']:.3f} | {row['mae_scaled']:.3f} | | | | | | |")
    lines += ["", f"Machine: {results['machine']}"]
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--models", default=",".join(RUNS), help="comma-separated: " + ", ".join(RUNS))
    args = ap.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / "long_horizon.json"
    for model in [m.strip() for m in args.models.split(",") if m.strip()]:
        one = run_one(model)
        # read just before writing: another run (another model) may have finished meanwhile
        results = json.loads(path.read_text()) if path.is_file() else {"models": {}}
        results["machine"] = f"{platform.machine()}, {os.cpu_count()} cores, torch threads 1, nice 19"
        results["models"][model] = one
        path.write_text(json.dumps(results, indent=2) + "\n")
        (OUT / "long_horizon.md").write_text(render(results))
        print(render(results))


if __name__ == "__main__":
    main()
