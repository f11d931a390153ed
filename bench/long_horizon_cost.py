"""What LSTM and TFT would cost on the ETTh2 long-horizon protocol on this machine, before running them:
CPU seconds of one training epoch through ``trainers.models`` (kilowatch's defaults for each, as
``trainers.torch_defaults`` sets them), per training window, on ETTh2's train rows only (first 8,640
rows, 7 columns as channel-independent series, scaled with the train rows' mean/std), lookback 720,
horizon 96. A sample of windows per channel is fitted for one epoch; the cost of a run like
``bench/long_horizon.py``'s (at most 4,000 windows per channel per epoch) is extrapolated from it.

Writes bench/results/long_horizon_cost.{json,md}. No validation or test row is read.
Run: ``nice -n 19 .venv/bin/python -m bench.long_horizon_cost [--models lstm,tft] [--per-channel 60]``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path
from typing import Any

from bench.common import ETTH2_HORIZON as HORIZON
from bench.common import ETTH2_LOOKBACK as LOOKBACK
from bench.common import ETTH2_WINDOWS_PER_CHANNEL as WINDOWS_PER_CHANNEL
from bench.common import etth2_epoch_cost

RUN_WINDOWS_PER_CHANNEL = 4000  # bench/long_horizon.py's max_samples
OUT = Path(__file__).resolve().parent / "results"


def measure(model_type: str, per_channel: int) -> dict[str, Any]:
    cost = etth2_epoch_cost(model_type, {}, per_channel)
    per_window = cost.cpu_per_window
    return {
        "windows_fitted": cost.windows,
        "cpu_seconds": round(cost.cpu, 1),
        "wall_seconds": round(cost.wall, 1),
        "cpu_ms_per_window": round(1000 * per_window, 2),
        "cpu_seconds_per_full_epoch": round(per_window * 7 * WINDOWS_PER_CHANNEL, 0),
        "cpu_seconds_per_run_epoch": round(
            per_window * 7 * min(WINDOWS_PER_CHANNEL, RUN_WINDOWS_PER_CHANNEL)
        ),
        "weights": cost.weights,
    }


def render(res: dict[str, Any]) -> str:
    lines = [
        "# LSTM and TFT training cost on the ETTh2 protocol (bench/long_horizon_cost.py)",
        "",
        f"ETTh2 train rows only, 7 channels, lookback {LOOKBACK}, horizon {HORIZON}, kilowatch's defaults "
        f"per model, one torch thread, `nice -n 19`; one epoch over {res['per_channel']} sampled windows "
        f"per channel, extrapolated to every train window ({WINDOWS_PER_CHANNEL:,} per channel) and to "
        f"an epoch of `bench/long_horizon.py` ({RUN_WINDOWS_PER_CHANNEL:,} windows per channel). Training "
        "only: validation passes and the 2,785 x 7 test forecasts are extra.",
        "",
        "| model | weights | CPU ms / window | CPU s / full epoch | CPU s / run epoch (4,000 per channel) "
        "| CPU h for 10 run epochs |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, r in res["models"].items():
        e = r["cpu_seconds_per_run_epoch"]
        lines.append(
            f"| {name} | {r['weights']:,} | {r['cpu_ms_per_window']:.2f} | "
            f"{r['cpu_seconds_per_full_epoch']:,.0f} | {e:,.0f} | {10 * e / 3600:.2f} |"
        )
    lines += ["", f"Measured {res['measured']}; machine: {res['machine']} (shared, other jobs running)"]
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--models", default="lstm,tft")
    ap.add_argument("--per-channel", type=int, default=60, help="sampled windows per channel")
    args = ap.parse_args()
    res: dict[str, Any] = {
        "per_channel": args.per_channel,
        "models": {m: measure(m, args.per_channel) for m in args.models.split(",")},
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, torch threads 1, nice 19",
        "measured": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "long_horizon_cost.json").write_text(json.dumps(res, indent=2) + "\n")
    (OUT / "long_horizon_cost.md").write_text(render(res))
    print(render(res))


if __name__ == "__main__":
    main()
