"""Every model type at horizon 24 on the shared energy data -> bench/results/energy_forecasts.{json,md}.

Run: ``scripts/energy-forecasts`` (or ``.venv/bin/python -m bench.energy_forecasts [--models ...]``).
Same code path as ``kilowatch backtest`` (``trainers.backtest.run``: split 0.7/0.1/0.2 by rows, scaler
fitted on the train rows, every test row with a full horizon after it is an origin, stride 1), with the
same-run seasonal-naive and repeat-last rows. MASE: scaled by the train rows' daily seasonal-naive MAE.

Besides the model types, one experiment that is *not* a served model: LightGBM on the seasonally
differenced series (z_t = y_t - y_{t-day}, y rebuilt from the forecast z), scored on the validation rows
and the test rows, to show what the PJM summer case needs (docs/forecasting-energy.md).
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from trainers import backtest, frames, metrics, models
from trainers.native import rolling_medians

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "energy"
SPLIT = (0.7, 0.1, 0.2)
HORIZON = 24
# name -> (file, target column, rows: None = all, +N = the last N rows)
DATASETS: dict[str, tuple[Path, str, int | None]] = {
    "steel": (DATA / "steel_industry_2018_15min.csv", "Usage_kWh", None),
    "pjm": (DATA / "pjm_east_hourly.csv", "PJME_MW", 26_280),
    "pjm-last-4000": (DATA / "pjm_east_hourly.csv", "PJME_MW", 4_000),
}
DEFAULT_MODELS = "lightgbm,tide,lstm,tft,dlinear,nlinear"


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def load(name: str) -> tuple[pd.DataFrame, pd.Timedelta]:
    path, target, rows = DATASETS[name]
    data, freq = backtest.read_targets(path, [target])
    return (data.iloc[-rows:] if rows else data), freq


def model_row(
    data: pd.DataFrame, freq: pd.Timedelta, model: str, epochs: int, samples: int
) -> dict[str, Any]:
    params: dict[str, Any] = {"threads": 1}
    if model != "lightgbm":
        params |= {"n_epochs": epochs, "max_samples": samples}
    t0, c0 = time.perf_counter(), _cpu()
    res = backtest.run(data, freq, model, HORIZON, SPLIT, params=params)
    return {
        "model": model,
        "fit_seconds": round(res.fit_seconds, 1),
        "fit_cpu_seconds": round(float(getattr(res, "fit_cpu_seconds", float("nan"))), 1),
        "run_seconds": round(time.perf_counter() - t0, 1),
        "run_cpu_seconds": round(_cpu() - c0, 1),
        "origins": res.origins,
        "split": list(res.split),
        "scores": {k: {m: float(v) for m, v in row.items()} for k, row in res.rows.items()},
    }


def sdiff_experiment(data: pd.DataFrame, freq: pd.Timedelta, upto: str) -> dict[str, Any]:
    """LightGBM (the served defaults) on z_t = y_t - y_{t-day} of the scaled series; forecasts of y rebuilt
    step by step (y_{t+k} = z_{t+k} + y_{t+k-day}, a forecast y where that lies in the future). Scored on
    the validation rows (``upto="val"``: the test rows are cut off first) or the test rows."""
    from darts import TimeSeries

    n_all = len(data)
    train_end, val_end = metrics.split_rows(n_all, SPLIT)
    end, first = (val_end, train_end) if upto == "val" else (n_all, val_end)
    data = data.iloc[:end]
    day = frames.steps_per_day(freq)
    values = data.to_numpy(dtype=float)
    mean, std = values[:train_end].mean(axis=0), values[:train_end].std(axis=0)
    scaled = (values - mean) / std
    z, idx = scaled[day:] - scaled[:-day], data.index[day:]
    series = TimeSeries.from_times_and_values(idx, z, columns=[str(c) for c in data.columns])
    cal_index = pd.date_range(idx[0], periods=len(idx) + HORIZON, freq=freq)
    cal = TimeSeries.from_dataframe(frames.calendar(cal_index))
    params = {"threads": 1}
    model = models.build("lightgbm", params, models.Shape(HORIZON, day, False), 0, 0, train_end)
    t0 = time.perf_counter()
    models.fit(model, "lightgbm", params, series[: train_end - day], None, cal, None, None)
    fit = time.perf_counter() - t0
    origins = np.arange(first, len(data) - HORIZON + 1)
    zp = rolling_medians(model, z, idx.asi8, origins - day, HORIZON)
    pred = np.empty_like(zp)
    for k in range(HORIZON):
        pred[:, k] = zp[:, k] + (scaled[origins - day + k] if k < day else pred[:, k - day])
    actual = metrics.rolling_windows(scaled, origins, HORIZON)
    base = metrics.baseline_forecasts(scaled, origins, HORIZON, day)
    rows = {"lightgbm-sdiff": pred, **base}
    insample = values[:train_end]
    return {
        "model": f"lightgbm-sdiff ({upto} rows)",
        "fit_seconds": round(fit, 1),
        "origins": len(origins),
        "scores": {
            k: {m: float(v) for m, v in backtest.score(actual, p, mean, std, insample, day).items()}
            for k, p in rows.items()
        },
    }


def plain_on_validation(data: pd.DataFrame, freq: pd.Timedelta) -> dict[str, Any]:
    """The served LightGBM scored on the validation rows (test rows cut off; split by the full length)."""
    train_end, val_end = metrics.split_rows(len(data), SPLIT)
    res = backtest.run(
        data.iloc[:val_end],
        freq,
        "lightgbm",
        HORIZON,
        (train_end, 0, val_end - train_end),
        params={"threads": 1},
    )
    return {
        "model": "lightgbm (val rows)",
        "fit_seconds": round(res.fit_seconds, 1),
        "origins": res.origins,
        "scores": {k: {m: float(v) for m, v in row.items()} for k, row in res.rows.items()},
    }


def render(results: dict[str, Any]) -> str:
    lines = [
        "# Energy forecasts at horizon 24 (`scripts/energy-forecasts`)",
        "",
        f"Split {'/'.join(map(str, SPLIT))} by rows, stride 1, scaler on train rows; torch models "
        f"{results['epochs']} epochs max x {results['samples']} samples, 1 thread; LightGBM its served "
        "defaults. MASE scaled by the train rows' daily seasonal-naive MAE; rel. = MAE / same-run "
        "seasonal-naive MAE. Rows marked (val rows) are scored on the validation rows only.",
        "",
        "| data | model | fit s | fit CPU s | run CPU s | MAE | MASE | seasonal naive MASE "
        "| repeat last MASE | rel. |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, rows in results["datasets"].items():
        for row in rows:
            s = row["scores"]
            key = next(k for k in s if k not in ("seasonal_naive", "repeat_last"))
            m, sn, rl = s[key], s["seasonal_naive"], s["repeat_last"]
            lines.append(
                f"| {name} | {row['model']} | {row['fit_seconds']:.1f} | {row.get('fit_cpu_seconds', '')} "
                f"| {row.get('run_cpu_seconds', '')} "
                f"| {m['mae']:.2f} | {m['mase']:.3f} | {sn['mase']:.3f} | {rl['mase']:.3f} "
                f"| {m['mae'] / sn['mae']:.2f} |"
            )
    lines += ["", f"Measured {results['measured']} on the shared 2-core machine (other jobs running)."]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", default=DEFAULT_MODELS)
    parser.add_argument("--datasets", default=",".join(DATASETS))
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--samples", type=int, default=4000)
    parser.add_argument("--no-experiment", action="store_true", help="skip the seasonal-difference rows")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "energy_forecasts")
    args = parser.parse_args()
    results: dict[str, Any] = {"epochs": args.epochs, "samples": args.samples, "datasets": {}}
    for name in args.datasets.split(","):
        data, freq = load(name)
        rows: list[dict[str, Any]] = []
        for model in args.models.split(","):
            rows.append(model_row(data, freq, model, args.epochs, args.samples))
            print(name, model, rows[-1]["scores"][model]["mase"], flush=True)
        if not args.no_experiment:
            rows.append(plain_on_validation(data, freq))
            rows.append(sdiff_experiment(data, freq, "val"))
            rows.append(sdiff_experiment(data, freq, "test"))
        results["datasets"][name] = rows
    results["measured"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    args.out.with_suffix(".json").write_text(json.dumps(results, indent=2) + "\n")
    args.out.with_suffix(".md").write_text(render(results))
    print(render(results))


if __name__ == "__main__":
    main()
