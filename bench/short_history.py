"""``python -m bench.short_history``: what predict answers from a short history (issue 17).

An asset nobody registered, or a history shorter than the asset's trained model reads, is answered by
the online model from the posted points (``api.services.inference``), from two points on. This measures
how good that answer is, by history length, with the same code the route runs (``oneshot.forecast``
with the served detector parameters), against same-run baselines on the same windows:

* repeat-last: every step = the history's last value;
* history mean: every step = the mean of the posted points;
* seasonal naive (one day): only where the history holds a whole day.

Data: the household in Sceaux (hourly kWh = ``Global_active_power`` / 60) and the steel plant
(``Usage_kWh``, 15 min). Origins: ``--origins`` per dataset drawn with a fixed seed among positions whose
history and horizon are gap-free, the same origins for every history length and method. Nothing is fitted
or chosen here (the online model's constants are the served defaults), so there is no split to respect.
Metrics per (dataset, history length, method): MAE over the horizon (kWh per step) averaged over origins,
MAE relative to repeat-last, and for the online model the share of actual values inside its
[lower, upper] band (nominal ``detector.interval_level``) and its CPU time per forecast.
Writes ``bench/results/short_history.md`` and ``.json``.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from stream_app.core import oneshot
from stream_app.settings import Settings
from tests.conftest import DATA_DIR

RESULTS = Path(__file__).with_name("results")
LENGTHS = (2, 4, 8, 16, 32, 96, 168, 336)
HORIZON = 24


@dataclass(frozen=True)
class Dataset:
    name: str
    stamps: np.ndarray  # epoch seconds
    values: np.ndarray
    step_s: float
    day: int  # steps per day


def household() -> Dataset:
    df = pd.read_csv(
        DATA_DIR / "energy" / "household_sceaux_hourly.csv", usecols=["datetime", "Global_active_power"]
    )
    ts = pd.to_datetime(df["datetime"]).dt.tz_localize("UTC")
    return Dataset(
        "household (Sceaux, 1 h, kWh)",
        (ts.astype("int64") // 10**9).to_numpy(dtype=float),
        (df["Global_active_power"] / 60.0).to_numpy(dtype=float),
        3600.0,
        24,
    )


def steel() -> Dataset:
    df = pd.read_csv(
        DATA_DIR / "energy" / "steel_industry_2018_15min.csv", usecols=["timestamp", "Usage_kWh"]
    )
    ts = pd.to_datetime(df["timestamp"], utc=True)
    return Dataset(
        "steel plant (15 min, kWh)",
        (ts.astype("int64") // 10**9).to_numpy(dtype=float),
        df["Usage_kWh"].to_numpy(dtype=float),
        900.0,
        96,
    )


def origins(ds: Dataset, count: int, seed: int) -> np.ndarray:
    """Positions o with a gap-free, finite window [o - max(LENGTHS), o + HORIZON)."""
    back = max(LENGTHS)
    regular = np.diff(ds.stamps) == ds.step_s
    ok_step = np.concatenate([[False], regular])  # ok_step[i]: stamp i follows i-1 by one step
    finite = np.isfinite(ds.values)
    span = back + HORIZON
    good = ok_step & finite
    run = np.convolve(good.astype(int), np.ones(span - 1, dtype=int), mode="valid")  # windows of span-1 steps
    starts = np.flatnonzero(run == span - 1)  # good[s .. s+span-2] all true -> window s-1 .. s+span-2
    candidates = starts - 1 + back
    candidates = candidates[(candidates - back >= 0) & (candidates + HORIZON <= len(ds.values))]
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(candidates, size=min(count, len(candidates)), replace=False))


def evaluate(ds: Dataset, picks: np.ndarray, settings: Settings) -> list[dict[str, Any]]:
    params = settings.detector.params()
    rows: list[dict[str, Any]] = []
    for n in LENGTHS:
        errs: dict[str, list[float]] = {
            "online": [],
            "repeat-last": [],
            "history mean": [],
            "seasonal naive": [],
        }
        inside, cpu = [], 0.0
        for o in picks:
            ts, hist = ds.stamps[o - n : o], ds.values[o - n : o]
            actual = ds.values[o : o + HORIZON]
            started = time.process_time()
            points = oneshot.forecast(params, ts.tolist(), hist.tolist(), HORIZON)
            cpu += time.process_time() - started
            pred = np.array([p.value for p in points])
            lower, upper = np.array([p.lower for p in points]), np.array([p.upper for p in points])
            errs["online"].append(float(np.mean(np.abs(pred - actual))))
            inside.append(float(np.mean((actual >= lower) & (actual <= upper))))
            errs["repeat-last"].append(float(np.mean(np.abs(hist[-1] - actual))))
            errs["history mean"].append(float(np.mean(np.abs(hist.mean() - actual))))
            if n >= ds.day:
                seasonal = np.resize(hist[-ds.day :], HORIZON)
                errs["seasonal naive"].append(float(np.mean(np.abs(seasonal - actual))))
        base = float(np.mean(errs["repeat-last"]))
        for method, e in errs.items():
            if not e:
                continue
            mae = float(np.mean(e))
            row: dict[str, Any] = {
                "dataset": ds.name,
                "history": n,
                "method": method,
                "mae": mae,
                "relative_to_repeat_last": mae / base if base > 0 else None,
            }
            if method == "online":
                row["band_coverage"] = float(np.mean(inside))
                row["cpu_ms_per_forecast"] = 1000.0 * cpu / len(picks)
            rows.append(row)
    return rows


def markdown(rows: list[dict[str, Any]], meta: dict[str, Any]) -> str:
    out = [
        "# Predict from a short history: the online model vs same-run baselines",
        "",
        f"`python -m bench.short_history` ({meta['when']}): {meta['origins']} origins per dataset (seed "
        f"{meta['seed']}, gap-free windows), horizon {HORIZON} steps, the served detector parameters "
        f"(band nominal {meta['interval_level']:.0%}). MAE in kWh per step, averaged over origins; "
        "'rel.' = MAE / repeat-last's MAE on the same windows.",
        "",
    ]
    for name in dict.fromkeys(r["dataset"] for r in rows):
        out += [
            f"## {name}",
            "",
            "| history points | online MAE (rel.) | band coverage | CPU ms | repeat-last MAE "
            "| history mean (rel.) | seasonal naive (rel.) |",
            "|---|---|---|---|---|---|---|",
        ]
        for n in LENGTHS:
            by = {r["method"]: r for r in rows if r["dataset"] == name and r["history"] == n}
            on, rl, hm = by["online"], by["repeat-last"], by["history mean"]
            sn = by.get("seasonal naive")
            sn_cell = f"{sn['mae']:.3f} ({sn['relative_to_repeat_last']:.2f})" if sn else "—"
            out.append(
                f"| {n} | {on['mae']:.3f} ({on['relative_to_repeat_last']:.2f}) | {on['band_coverage']:.1%} "
                f"| {on['cpu_ms_per_forecast']:.2f} | {rl['mae']:.3f} | {hm['mae']:.3f} "
                f"({hm['relative_to_repeat_last']:.2f}) | {sn_cell} |"
            )
        out.append("")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--origins", type=int, default=300)
    ap.add_argument("--seed", type=int, default=17)
    args = ap.parse_args(argv)
    settings = Settings()
    rows: list[dict[str, Any]] = []
    for ds in (household(), steel()):
        rows += evaluate(ds, origins(ds, args.origins, args.seed), settings)
    meta = {
        "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "origins": args.origins,
        "seed": args.seed,
        "horizon": HORIZON,
        "interval_level": settings.detector.interval_level,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "short_history.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=2) + "\n")
    (RESULTS / "short_history.md").write_text(markdown(rows, meta))
    print(markdown(rows, meta))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
