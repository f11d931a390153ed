"""What the TiDE paper's ETTh2 settings would cost on this machine: CPU seconds of one training epoch of
darts' TiDE (through ``trainers.models``, as kilowatch trains it) per training window, for the settings
``bench/long_horizon.py`` runs and for the paper's (google-research ``tide/scripts/etth2.sh``), on
ETTh2's train rows only (first 8,640 rows, 7 columns as channel-independent series, scaled with the
train rows' mean/std), lookback 720, horizon 96. A sample of windows per channel is fitted for one
epoch; the cost of a full run is extrapolated from it (every train window x the epoch count).

Writes bench/results/tide_cost.{json,md}. No validation or test row is read.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
from pathlib import Path
from typing import Any

from bench.common import ETTH2_HORIZON as HORIZON
from bench.common import ETTH2_LOOKBACK as LOOKBACK
from bench.common import ETTH2_WINDOWS_PER_CHANNEL as WINDOWS_PER_CHANNEL
from bench.common import etth2_epoch_cost

OUT = Path(__file__).resolve().parent / "results"
CONFIGS: dict[str, dict[str, Any]] = {
    # bench/long_horizon.py's TiDE (the row in docs/forecasting-long-horizon.md)
    "kilowatch bench": {"hidden_size": 256, "batch_size": 256, "lr": 1e-3, "dropout": 0.3},
    # tide/scripts/etth2.sh (hidden 512, 2 layers, decoder output 32, final decoder hidden 16, layer
    # norm, dropout 0.2, batch 512, lr 2.24e-4)
    "TiDE paper (ETTh2)": {
        "hidden_size": 512,
        "num_encoder_layers": 2,
        "num_decoder_layers": 2,
        "decoder_output_dim": 32,
        "temporal_decoder_hidden": 16,
        "layer_norm": 1,
        "dropout": 0.2,
        "batch_size": 512,
        "lr": 2.24e-4,
    },
}
PAPER_EPOCHS = 100  # train.py: up to 100 epochs, early stopping with patience 40 on validation


def measure(name: str, params: dict[str, Any], per_channel: int) -> dict[str, Any]:
    cost = etth2_epoch_cost("tide", params, per_channel)
    epoch = cost.cpu_per_window * 7 * WINDOWS_PER_CHANNEL
    return {
        "params": params,
        "windows_fitted": cost.windows,
        "cpu_seconds": round(cost.cpu, 1),
        "wall_seconds": round(cost.wall, 1),
        "cpu_ms_per_window": round(1000 * cost.cpu_per_window, 2),
        "cpu_seconds_per_full_epoch": round(epoch, 0),
        "weights": cost.weights,
    }


def render(res: dict[str, Any]) -> str:
    lines = [
        "# TiDE training cost on this machine (bench/tide_cost.py)",
        "",
        f"ETTh2 train rows only, 7 channels, lookback {LOOKBACK}, horizon {HORIZON}, one torch thread, "
        f"`nice -n 19`; one epoch over {res['per_channel']} sampled windows per channel, extrapolated to "
        f"every train window ({WINDOWS_PER_CHANNEL:,} per channel). Training only: validation passes "
        "and the 2,785 x 7 test forecasts are extra.",
        "",
        "| settings | weights | CPU ms / window | CPU s / full epoch | CPU h for 10 epochs "
        f"| CPU h for {PAPER_EPOCHS} epochs |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, r in res["configs"].items():
        e = r["cpu_seconds_per_full_epoch"]
        lines.append(
            f"| {name} | {r['weights']:,} | {r['cpu_ms_per_window']:.2f} | {e:,.0f} | {10 * e / 3600:.1f} "
            f"| {PAPER_EPOCHS * e / 3600:.1f} |"
        )
    lines += ["", f"Machine: {res['machine']}"]
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--per-channel", type=int, default=250, help="sampled windows per channel")
    args = ap.parse_args()
    res: dict[str, Any] = {
        "per_channel": args.per_channel,
        "configs": {n: measure(n, p, args.per_channel) for n, p in CONFIGS.items()},
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, torch threads 1, nice 19",
    }
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "tide_cost.json").write_text(json.dumps(res, indent=2) + "\n")
    (OUT / "tide_cost.md").write_text(render(res))
    print(render(res))


if __name__ == "__main__":
    main()
