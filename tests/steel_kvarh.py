"""The steel plant's consumption with its lagging reactive power as the covariate ``kvarh`` (issue 16's
covariate tests), and the reading points that carry it as a top-level field (the devices' wire format)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

KVARH = "Lagging_Current_Reactive.Power_kVarh"


def steel_with_kvarh(data_dir: Path, nrows: int) -> pd.DataFrame:
    """The first ``nrows`` rows: ``timestamp`` (UTC), ``value`` (Usage_kWh) and ``kvarh``."""
    df = pd.read_csv(data_dir / "energy" / "steel_industry_2018_15min.csv", nrows=nrows)
    return pd.DataFrame(
        {
            "timestamp": pd.to_datetime(df["timestamp"], utc=True),
            "value": df["Usage_kWh"].astype(float),
            "kvarh": df[KVARH].astype(float),
        }
    )


def kvarh_points(frame: pd.DataFrame, with_kvarh: bool = True) -> list[dict[str, Any]]:
    """One reading a row: ``{"timestamp", "value"[, "kvarh"]}``, as a device or a predict body sends it."""
    pts = []
    for t, v, k in zip(frame["timestamp"], frame["value"], frame["kvarh"], strict=True):
        p: dict[str, Any] = {"timestamp": t.strftime("%Y-%m-%dT%H:%M:%SZ"), "value": float(v)}
        if with_kvarh:
            p["kvarh"] = float(k)
        pts.append(p)
    return pts
