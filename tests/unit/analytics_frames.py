"""Frames for the analytics tests, cut at run time from the shared real data (never copied)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd


def household_raw(data_dir: Path) -> pd.DataFrame:
    return pd.read_csv(data_dir / "energy" / "household_sceaux_hourly.csv")


def household(data_dir: Path) -> pd.DataFrame:
    """The Sceaux household as kWh per hour (Global_active_power / 60; under-counted hours kept).

    The file's clock observes no daylight-saving change (no gap, no repeated hour): taken as UTC."""
    raw = household_raw(data_dir)
    index = pd.DatetimeIndex(pd.to_datetime(raw["datetime"]).dt.tz_localize("UTC"), name="timestamp")
    return pd.DataFrame({"value": raw["Global_active_power"].to_numpy() / 60.0}, index=index)
