"""``kilowatch simulate``: a fleet of meters replaying the steel plant's real year, with faults.

Each asset is a different stretch of the real series (so the fleet does not move in lockstep); faults
(spike, dip, sustained drop, flatline) are planted by ``stream_app.core.faults`` and listed in a
manifest so a viewer can tell injected faults from the detector's other findings.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd

from schemas.errors import DataError
from stream_app.core.faults import InjectedFault, inject_faults
from stream_app.settings import Settings

DEFAULT_CSV = Path("../shared/data/energy/steel_industry_2018_15min.csv")


@dataclass
class Meter:
    asset_id: str
    timestamps: list[str]
    values: np.ndarray
    faults: list[InjectedFault]


def build_fleet(csv: Path, assets: int, rows: int, faults_every: int, seed: int = 0) -> list[Meter]:
    """``assets`` meters of ``rows`` readings each, faults planted every ``faults_every`` readings."""
    try:
        df = pd.read_csv(csv)
    except OSError as exc:
        raise DataError(f"cannot read {csv}: {exc}") from None
    if "Usage_kWh" not in df.columns:
        raise DataError(f"{csv}: expected the steel-plant columns (timestamp, Usage_kWh, ...)")
    ts = pd.to_datetime(df["timestamp"]).dt.strftime("%Y-%m-%dT%H:%M:%SZ").tolist()
    values = df["Usage_kWh"].to_numpy(dtype=float)
    rows = min(rows, len(df))
    stride = max(1, (len(df) - rows) // max(assets, 1))
    fleet = []
    for k in range(assets):
        lo = (k * stride) % max(1, len(df) - rows + 1)
        v = values[lo : lo + rows]
        faults: list[InjectedFault] = []
        if faults_every:
            v, faults = inject_faults(v, rng_seed=seed + k, every=faults_every, start=400)
        fleet.append(Meter(f"line-{k:03d}", ts[lo : lo + rows], v, faults))
    return fleet


def manifest(fleet: list[Meter]) -> list[dict[str, Any]]:
    return [
        {"asset_id": m.asset_id, "timestamp": m.timestamps[f.index], "kind": f.kind, "length": f.length}
        for m in fleet
        for f in m.faults
    ]


def run_fleet(settings: Settings, fleet: list[Meter], rate: float, progress: bool = True) -> int:
    """Publish the fleet time-step by time-step (all meters' reading i, then i+1 ...)."""
    from stream_app.kafka.clients import produce, producer

    prod = producer(settings)
    topic = settings.kafka.topic("readings")
    keys = [m.asset_id.encode() for m in fleet]
    sent, start = 0, time.perf_counter()
    rows = min(len(m.timestamps) for m in fleet)
    for i in range(rows):
        for key, m in zip(keys, fleet, strict=True):
            payload = orjson.dumps({"timestamp": m.timestamps[i], "value": round(float(m.values[i]), 4)})
            produce(prod, topic, key, payload)
            sent += 1
        prod.poll(0)
        if rate > 0:
            ahead = sent / rate - (time.perf_counter() - start)
            if ahead > 0:
                time.sleep(ahead)
        if progress and i % 500 == 0:
            print(f"simulator: {sent} readings sent", file=sys.stderr)
    prod.flush(60)
    return sent


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "simulate", help="replay a fleet of meters with injected faults"
    )
    p.add_argument("--csv", type=Path, default=DEFAULT_CSV)
    p.add_argument("--assets", type=int, default=20)
    p.add_argument("--rows", type=int, default=4000, help="readings per asset")
    p.add_argument("--rate", type=float, default=2000.0, help="readings per second in total (0 = max)")
    p.add_argument("--faults-every", type=int, default=300, help="readings between planted faults (0 = none)")
    p.add_argument("--manifest", type=Path, default=None, help="write the planted faults here (JSON)")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    from stream_app.kafka.topics import ensure_topics

    ensure_topics(settings)
    fleet = build_fleet(args.csv, args.assets, args.rows, args.faults_every)
    if args.manifest:
        args.manifest.write_text(json.dumps(manifest(fleet), indent=1))
    n = run_fleet(settings, fleet, args.rate)
    print(f"simulator: done, {n} readings", file=sys.stderr)
    return 0
