"""Real-data helpers shared by the online-detector tests; ``KILOWATCH_DATA_DIR`` overrides the data dir."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[2]


def data_dir() -> Path:
    d = Path(os.environ.get("KILOWATCH_DATA_DIR", ROOT / ".." / "shared" / "data"))
    if not d.is_dir():
        pytest.skip(f"shared data not found at {d}")
    return d


def epoch(ts: pd.Series) -> np.ndarray:
    return (pd.to_datetime(ts).astype("int64") // 10**9).to_numpy(dtype=float)


def steel(rows: int = 15_000) -> tuple[np.ndarray, np.ndarray]:
    df = pd.read_csv(data_dir() / "energy" / "steel_industry_2018_15min.csv", nrows=rows)
    return epoch(df["timestamp"]), df["Usage_kWh"].to_numpy(dtype=float)


def nab(name: str) -> tuple[np.ndarray, np.ndarray]:
    df = pd.read_csv(data_dir() / "nab" / "realKnownCause" / name)
    return epoch(df["timestamp"]), df["value"].to_numpy(dtype=float)


def pjm() -> tuple[np.ndarray, np.ndarray]:
    df = pd.read_csv(data_dir() / "energy" / "pjm_east_hourly.csv")
    return epoch(df["Datetime"]), df["PJME_MW"].to_numpy(dtype=float)


def test_shared_data_is_what_the_tests_expect() -> None:
    ts, vs = steel(2000)
    assert len(ts) == 2000 and np.all(np.diff(ts) == 900.0) and np.isfinite(vs).all()
    t2, v2 = nab("nyc_taxi.csv")
    assert len(t2) == len(v2) > 10_000
