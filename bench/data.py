"""Real readings for the benchmarks: a fleet cut from the steel plant's 15-minute consumption.

Asset ``k`` replays its own stretch of the year (offset ``k * stride`` rows), scaled by a per-asset
factor, on a common clock: every asset reports at the same 15-minute ticks, as a fleet would.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from pathlib import Path

import numpy as np
import orjson
import pandas as pd

from bench.common import ROOT

CSV = (
    Path(os.environ.get("KILOWATCH_DATA_DIR", ROOT.parent / "shared" / "data"))
    / "energy"
    / "steel_industry_2018_15min.csv"
)
STEP = timedelta(minutes=15)


@lru_cache(maxsize=1)
def steel_usage() -> tuple[datetime, np.ndarray]:
    df = pd.read_csv(Path(CSV), usecols=["timestamp", "Usage_kWh"])
    start = pd.to_datetime(df["timestamp"].iloc[0]).to_pydatetime().replace(tzinfo=UTC)
    return start, df["Usage_kWh"].to_numpy(dtype=float)


@dataclass(frozen=True)
class Fleet:
    """``n_assets`` x ``n_rows`` real readings; ``spike`` multiplies selected readings (latency bench)."""

    n_assets: int
    n_rows: int
    prefix: str = "meter"
    spike_after: int = 0  # readings per asset before spikes start (0 = no spikes)
    spike_every: int = 40
    spike_factor: float = 3.0

    def asset(self, k: int) -> str:
        return f"{self.prefix}-{k:05d}"

    def timestamps(self) -> list[str]:
        start, _ = steel_usage()
        return [(start + i * STEP).strftime("%Y-%m-%dT%H:%M:%SZ") for i in range(self.n_rows)]

    def values(self) -> np.ndarray:
        """(n_assets, n_rows) matrix of real values: stretches of the year, scaled 0.5x-2.0x."""
        _, usage = steel_usage()
        n = len(usage)
        stride = max(1, (n - self.n_rows) // max(self.n_assets, 1))
        out = np.empty((self.n_assets, self.n_rows))
        for k in range(self.n_assets):
            lo = (k * stride) % max(1, n - self.n_rows)
            out[k] = usage[lo : lo + self.n_rows] * (0.5 + 1.5 * ((k * 37) % 100) / 99)
        if self.spike_after:
            cols = np.arange(self.n_rows)
            spikes = (cols >= self.spike_after) & (
                (cols - self.spike_after) % self.spike_every == self.spike_every - 1
            )
            # a spike needs a base to stand on: lift near-zero readings to the asset's median first
            med = np.median(out, axis=1, keepdims=True)
            base = np.maximum(out[:, spikes], med)
            out[:, spikes] = base * self.spike_factor
        return np.round(out, 3)

    def is_spike(self, row: int) -> bool:
        return (
            bool(self.spike_after)
            and row >= self.spike_after
            and (row - self.spike_after) % self.spike_every == (self.spike_every - 1)
        )

    def messages(self, rows: range | None = None) -> Iterator[tuple[int, int, bytes, bytes]]:
        """(row, asset index, key, JSON value), time-interleaved: all assets at tick 0, then tick 1..."""
        ts = self.timestamps()
        vals = self.values()
        keys = [self.asset(k).encode() for k in range(self.n_assets)]
        for i in rows if rows is not None else range(self.n_rows):
            t = ts[i]
            for k in range(self.n_assets):
                yield i, k, keys[k], orjson.dumps({"timestamp": t, "value": float(vals[k, i])})
