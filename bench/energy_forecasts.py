"""Every model type at horizon 24 on the shared energy data -> bench/results/energy_forecasts.{json,md}.

Run: ``scripts/energy-forecasts`` (or ``.venv/bin/python -m bench.energy_forecasts [--models ...]``).
Same code path as ``kilowatch backtest`` (``trainers.backtest.run``: split 0.7/0.1/0.2 by rows, scaler
fitted on the train rows, every test row with a full horizon after it is an origin, stride 1), with the
same-run seasonal-naive and repeat-last rows. MASE: scaled by the train rows' daily seasonal-naive MAE.

LightGBM's target transform (plain or seasonally differenced, ``trainers.target_transform``) is chosen by
the served rule on the validation rows; each LightGBM row says which one and both validation MAEs.
``--merge FILE`` keeps FILE's rows for the (data, model) pairs this run does not redo, so the torch models
and LightGBM can run at different times into one table (each row records when it was measured).
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from pathlib import Path
from typing import Any

import pandas as pd

from trainers import backtest, metrics

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
# Per-data settings, each chosen on that data set's validation rows (``--validation-only``), never on its
# test rows; applied to the test-row runs (an explicit ``--param`` overrides them). TFT's input length on
# PJM's last 4,000 rows: 12 steps (validation MASE 1.629) against 24 (1.670), the served default 48 (1.843)
# and 168 (1.936); on PJM 3 years and steel the default stays (docs/forecasting-energy.md, "TFT's lookback").
CHOSEN: dict[str, dict[str, dict[str, Any]]] = {"pjm-last-4000": {"tft": {"input_length": 12}}}


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def load(name: str) -> tuple[pd.DataFrame, pd.Timedelta]:
    path, target, rows = DATASETS[name]
    data, freq = backtest.read_targets(path, [target])
    return (data.iloc[-rows:] if rows else data), freq


def model_row(
    data: pd.DataFrame,
    freq: pd.Timedelta,
    model: str,
    epochs: int,
    samples: int,
    extra: dict[str, Any] | None = None,
    validation_only: bool = False,
    chosen: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One model's backtest. ``validation_only``: the test rows are cut off and the model, trained on
    the train rows for its whole epoch budget (no early stopping: the validation rows are what it is
    scored on), is scored on the validation rows (for choosing settings without looking at test rows).
    ``chosen``: this data set's settings chosen on its validation rows (``CHOSEN``; test-row runs only)."""
    params: dict[str, Any] = {"threads": 1}
    if model == "lightgbm":  # the served rule: plain or differenced target, chosen on validation rows
        params["target_transform"] = "auto"
    else:
        params |= {"n_epochs": epochs, "max_samples": samples}
    chosen = {} if validation_only else dict(chosen or {})
    params |= chosen | (extra or {})
    split: tuple[float, float, float] = SPLIT
    if validation_only:
        train_end, val_end = metrics.split_rows(len(data), SPLIT)
        data, split = data.iloc[:val_end], (float(train_end), 0.0, float(val_end - train_end))
    lookback = params.pop("input_length", None)
    t0, c0 = time.perf_counter(), _cpu()
    res = backtest.run(data, freq, model, HORIZON, split, lookback=lookback, params=params)
    return {
        "model": model,
        "label": _label(model, extra, validation_only),
        "chosen_on_validation": chosen,
        "params": params | ({"input_length": lookback} if lookback else {}),
        "measured": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "target_transform": res.target_transform,
        "transform_val_mae": res.transform_val_mae,
        "epochs": res.epochs,
        "best_epoch": res.best_epoch,
        "fit_seconds": round(res.fit_seconds, 1),
        "fit_cpu_seconds": round(float(getattr(res, "fit_cpu_seconds", float("nan"))), 1),
        "run_seconds": round(time.perf_counter() - t0, 1),
        "run_cpu_seconds": round(_cpu() - c0, 1),
        "origins": res.origins,
        "split": list(res.split),
        "scores": {k: {m: float(v) for m, v in row.items()} for k, row in res.rows.items()},
    }


def _label(model: str, extra: dict[str, Any] | None, validation_only: bool) -> str:
    label = model + "".join(f" {k}={v}" for k, v in (extra or {}).items())
    return label + (" (val rows)" if validation_only else "")


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
            label = row.get("label", row["model"])
            chosen = row.get("chosen_on_validation") or {}
            if chosen:
                label += " [" + ", ".join(f"{k}={v}" for k, v in chosen.items()) + ": chosen on val rows]"
            if row.get("target_transform"):
                maes = row.get("transform_val_mae") or {}
                label += (
                    f" ({row['target_transform']}"
                    + "".join(f"; val MAE {k} {v:.3f}" for k, v in maes.items())
                    + ")"
                )
            lines.append(
                f"| {name} | {label} | {row['fit_seconds']:.1f} | {row.get('fit_cpu_seconds', '')} "
                f"| {row.get('run_cpu_seconds', '')} "
                f"| {m['mae']:.2f} | {m['mase']:.3f} | {sn['mase']:.3f} | {rl['mase']:.3f} "
                f"| {m['mae'] / sn['mae']:.2f} |"
            )
    lines += ["", f"Written {results['measured']} on the shared 2-core machine (other jobs running)."]
    when = sorted({r["measured"] for rows in results["datasets"].values() for r in rows if "measured" in r})
    if when:
        lines.append(f"Rows measured between {when[0]} and {when[-1]}.")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", default=DEFAULT_MODELS)
    parser.add_argument("--datasets", default=",".join(DATASETS))
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--samples", type=int, default=4000)
    parser.add_argument(
        "--merge",
        type=Path,
        action="append",
        default=[],
        help="results JSON whose rows are kept where this run does not redo the (data, model) pair",
    )
    parser.add_argument(
        "--param",
        type=backtest.parse_param,
        action="append",
        default=[],
        help="extra model param key=value (a number or a word): rin=1, loss=mse",
    )
    parser.add_argument(
        "--validation-only", action="store_true", help="score on the validation rows (test rows cut off)"
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=ROOT / "bench" / "results" / "energy_forecasts",
        help="path stem: STEM.json and STEM.md are written (a dot in the name is kept: run.tft-lb24)",
    )
    args = parser.parse_args()
    results: dict[str, Any] = {"epochs": args.epochs, "samples": args.samples, "datasets": {}}
    run_models = [m for m in args.models.split(",") if m and m != "none"]  # none: only merge
    extra = dict(args.param)
    for path in args.merge:
        old = json.loads(path.read_text())
        for name, rows in old["datasets"].items():
            results["datasets"].setdefault(name, []).extend(r for r in rows if "scores" in r)
    for name in args.datasets.split(","):
        data, freq = load(name)
        redo = {_label(m, extra, args.validation_only) for m in run_models}
        rows = [r for r in results["datasets"].get(name, []) if r.get("label", r["model"]) not in redo]
        for model in run_models:
            chosen = CHOSEN.get(name, {}).get(model)
            rows.append(
                model_row(data, freq, model, args.epochs, args.samples, extra, args.validation_only, chosen)
            )
            print(name, model, rows[-1]["scores"][model]["mase"], flush=True)
        order = {m: i for i, m in enumerate(DEFAULT_MODELS.split(","))}
        results["datasets"][name] = sorted(
            rows, key=lambda r: (order.get(r["model"], len(order)), r.get("label", ""))
        )
    results["measured"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    stem = args.out.with_name(args.out.name.removesuffix(".json").removesuffix(".md"))
    stem.with_name(stem.name + ".json").write_text(json.dumps(results, indent=2) + "\n")
    stem.with_name(stem.name + ".md").write_text(render(results))
    print(render(results))


if __name__ == "__main__":
    main()
