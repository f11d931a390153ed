"""Metric functions, baselines, splits and CSV loading of the trainers (pure; no ML stack needed)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from trainers import frames, metrics
from trainers.errors import TrainingError


def test_point_metrics_by_hand() -> None:
    a = np.array([1.0, 2.0, 3.0, 4.0])
    p = np.array([2.0, 2.0, 1.0, 4.0])
    assert metrics.mae(a, p) == pytest.approx(0.75)
    assert metrics.mse(a, p) == pytest.approx(1.25)
    assert metrics.rmse(a, p) == pytest.approx(math.sqrt(1.25))
    # sMAPE terms: 2*1/3, 0, 2*2/4, 0 -> mean 0.29167 -> 29.17 %
    assert metrics.smape(a, p) == pytest.approx(100 * (2 / 3 + 1.0) / 4)
    assert metrics.smape(np.zeros(3), np.zeros(3)) == 0.0


def test_mase_uses_in_sample_seasonal_differences() -> None:
    insample = np.array([1.0, 5.0, 2.0, 6.0, 4.0, 8.0])  # season 2 differences: 1, 1, 2, 2 -> scale 1.5
    assert metrics.naive_scale(insample, 2) == pytest.approx(1.5)
    assert metrics.mase(np.array([3.0, 3.0]), np.array([0.0, 6.0]), insample, 2) == pytest.approx(3.0 / 1.5)
    with pytest.raises(ValueError, match="more than 6"):
        metrics.naive_scale(insample, 6)


def test_seasonal_naive_and_baselines_agree() -> None:
    values = np.arange(20, dtype=float) % 4 * 10 + np.arange(20)  # season 4 plus a trend
    origins = np.array([8, 9, 13])
    base = metrics.baseline_forecasts(values, origins, 6, 4)
    for row, o in enumerate(origins):
        np.testing.assert_array_equal(base["seasonal_naive"][row], metrics.seasonal_naive(values[:o], 6, 4))
        np.testing.assert_array_equal(base["repeat_last"][row], np.full(6, values[o - 1]))
    np.testing.assert_array_equal(metrics.seasonal_naive(values[:8], 6, 4), values[[4, 5, 6, 7, 4, 5]])
    # a purely periodic series is forecast exactly
    periodic = np.tile([1.0, 2.0, 3.0], 10)
    np.testing.assert_array_equal(metrics.seasonal_naive(periodic[:12], 5, 3), periodic[12:17])


def test_baselines_multivariate_shape() -> None:
    values = np.random.default_rng(0).normal(size=(50, 3))
    base = metrics.baseline_forecasts(values, np.array([10, 20]), 7, 5)
    assert base["seasonal_naive"].shape == (2, 7, 3)
    np.testing.assert_array_equal(base["repeat_last"][1, 3], values[19])
    np.testing.assert_array_equal(metrics.rolling_windows(values, np.array([10]), 7)[0], values[10:17])


def test_split_rows_by_boundaries() -> None:
    assert metrics.split_rows(1000, (0.7, 0.1, 0.2)) == (700, 800)
    assert metrics.split_rows(1000, metrics.parse_split("7/1/2")) == (700, 800)
    assert metrics.split_rows(10, (0.6, 0.0, 0.4)) == (6, 6)
    with pytest.raises(ValueError):
        metrics.split_rows(10, (0.0, 0.5, 0.5))
    for bad in ("0.7/0.3", "a/b/c"):
        with pytest.raises(ValueError):
            metrics.parse_split(bad)


def _csv(rows: list[str]) -> bytes:
    return ("Datetime,PJME_MW,temp\n" + "\n".join(rows)).encode()


def test_load_frame_sorts_averages_duplicates_and_uses_utc() -> None:
    rows = [f"2018-01-01 {h:02d}:00:00,{100 + h},{h}" for h in range(24)]
    rows += [f"2018-01-02 {h:02d}:00:00,{200 + h},{h}" for h in range(24)]
    rows += [f"2018-01-03 {h:02d}:00:00,{300 + h},{h}" for h in range(5)]
    rows = [*rows[::-1], "2018-01-01 05:00:00,115,5"]  # reversed order, one duplicate (105 and 115)
    frame = frames.load_frame(_csv(rows), target="PJME_MW")
    assert list(frame.columns) == ["timestamp", "value", "temp"]
    assert frame["timestamp"].is_monotonic_increasing and frame["timestamp"].is_unique
    assert str(frame["timestamp"].dt.tz) == "UTC"
    assert len(frame) == 53
    dup = frame[frame["timestamp"] == pd.Timestamp("2018-01-01 05:00", tz="UTC")]
    assert dup["value"].item() == pytest.approx(110.0)


def test_load_frame_errors_are_clear() -> None:
    with pytest.raises(TrainingError, match="no timestamp column"):
        frames.load_frame(b"a,b\n1,2\n")
    with pytest.raises(TrainingError, match="no target column 'value'"):
        frames.load_frame(_csv(["2018-01-01 00:00:00,1,2"]))
    with pytest.raises(TrainingError, match="too few rows"):
        frames.load_frame(_csv(["2018-01-01 00:00:00,1,2"]), target="PJME_MW")
    with pytest.raises(TrainingError, match="no numeric values"):
        frames.load_frame(b"timestamp,value\n2018-01-01,abc\n")


def test_regularize_forward_fills_gaps_and_marks_them() -> None:
    ts = pd.to_datetime(["2018-01-01 00:00", "2018-01-01 01:00", "2018-01-01 04:00"], utc=True)
    frame = pd.DataFrame({"timestamp": ts, "value": [1.0, 2.0, 5.0]})
    freq = frames.infer_freq(frame["timestamp"])
    assert freq == pd.Timedelta(hours=1)
    reg = frames.regularize(frame, freq)
    assert reg.frame["value"].tolist() == [1.0, 2.0, 2.0, 2.0, 5.0]
    assert reg.observed.tolist() == [True, True, False, False, True]
    cal = frames.calendar(reg.frame.index)
    assert np.allclose(cal["hour_sin"] ** 2 + cal["hour_cos"] ** 2, 1.0)
