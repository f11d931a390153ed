"""A dataset's new zone (pure): naive wall times are read again in the new zone, offsets keep instants."""

from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from stream_app.analytics.ingest import localize_naive
from stream_app.analytics.rezone import naive_source, rezone

ZONES = ["UTC", "Europe/Paris", "America/New_York", "Asia/Shanghai", "Australia/Lord_Howe", "Asia/Kathmandu"]


def uploaded(wall: pd.DatetimeIndex, zone: str) -> pd.DataFrame:
    """What an upload of naive ``wall`` times in ``zone`` stores (as the ingest localizes them)."""
    utc, _ = localize_naive(wall, zone)
    keep = ~utc.isna()
    values = [float(i) for i, k in enumerate(keep) if k]
    frame = pd.DataFrame({"value": values}, index=utc[keep].tz_convert(zone))
    frame.index.name = "timestamp"
    return frame


def test_a_naive_noon_in_paris_becomes_noon_in_new_york() -> None:
    frame = uploaded(pd.date_range("2007-01-01 10:00", periods=4, freq="h"), "Europe/Paris")
    out = rezone(frame, "Europe/Paris", "America/New_York", naive=True)
    assert out.shifted and out.dropped == 0
    assert list(out.frame.index.tz_localize(None)) == list(frame.index.tz_localize(None))
    assert out.frame.index[2] == pd.Timestamp("2007-01-01 12:00", tz="America/New_York")
    assert out.frame.index[2].tz_convert("UTC") == pd.Timestamp("2007-01-01 17:00", tz="UTC")
    assert list(out.frame["value"]) == list(frame["value"])


def test_wall_times_the_new_zone_skips_are_dropped() -> None:
    # 2007-03-11 02:00 does not exist in New York (clocks jump from 02:00 to 03:00); it does in Paris.
    frame = uploaded(pd.date_range("2007-03-11 00:00", periods=5, freq="h"), "Europe/Paris")
    out = rezone(frame, "Europe/Paris", "America/New_York", naive=True)
    assert out.dropped == 1 and len(out.frame) == 4
    assert pd.Timestamp("2007-03-11 02:00") not in out.frame.index.tz_localize(None)
    assert list(out.frame["value"]) == [0.0, 1.0, 3.0, 4.0]


def test_offsets_keep_their_instants() -> None:
    frame = uploaded(pd.date_range("2018-01-01", periods=3, freq="15min"), "Europe/Berlin")
    out = rezone(frame, "Europe/Berlin", "Asia/Tokyo", naive=False)
    assert not out.shifted and out.dropped == 0
    assert list(out.frame.index) == list(frame.index) and str(out.frame.index.tz) == "Asia/Tokyo"


@pytest.mark.parametrize(("source", "naive"), [("override", True), ("default", True), ("offsets", False)])
def test_the_detection_says_whether_timestamps_were_naive(source: str, naive: bool) -> None:
    assert naive_source({"timezone_source": source}) is naive


@given(
    start=st.datetimes(
        min_value=pd.Timestamp("1990-01-01").to_pydatetime(),
        max_value=pd.Timestamp("2035-01-01").to_pydatetime(),
    ),
    n=st.integers(min_value=0, max_value=200),
    step_min=st.sampled_from([15, 30, 60, 1440]),
    old=st.sampled_from(ZONES),
    new=st.sampled_from(ZONES),
)
def test_any_series_and_zones_keep_wall_times_and_values(
    start: object, n: int, step_min: int, old: str, new: str
) -> None:
    wall = pd.date_range(pd.Timestamp(start).floor("min"), periods=n, freq=f"{step_min}min")
    frame = uploaded(wall, old)
    out = rezone(frame, old, new, naive=True)
    assert len(out.frame) + out.dropped >= len(frame) >= len(out.frame)
    assert out.frame.index.is_monotonic_increasing and out.frame.index.is_unique
    kept_wall = dict(zip(frame.index.tz_localize(None), frame["value"], strict=True))
    for t, v in zip(out.frame.index.tz_localize(None), out.frame["value"], strict=True):
        assert kept_wall[t] == v  # the same file row, at the same wall-clock time
