"""Dataset anomalies on slices of the real household file with planted faults: the streaming method is
the stream's own detector, the autoencoder places the anomaly on the planted readings; the dashboard."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from schemas.analytics import (
    ANOMALY_TYPE_DISPLAY,
    DEFAULT_PERIODS,
    DatasetAnomaliesParams,
)
from schemas.errors import DataError
from stream_app.analytics.anomalies import dataset_anomalies, expected_values
from stream_app.analytics.dashboard import dashboard
from stream_app.core.oneshot import detect
from stream_app.core.online import OnlineParams
from tests.unit.analytics_frames import household


@pytest.fixture(scope="module")
def slice_(data_dir: Path) -> pd.DataFrame:
    return household(data_dir).loc["2008-01-01":"2008-03-31"].copy()  # 91 days


def _plant(frame: pd.DataFrame, at: str, factor: float) -> pd.DataFrame:
    out = frame.copy()
    out.loc[pd.Timestamp(at, tz="UTC"), "value"] *= factor
    return out


def test_streaming_is_the_streams_detector(slice_: pd.DataFrame) -> None:
    planted = _plant(slice_, "2008-03-12 04:00", 12.0)  # a night hour at twelve times its value
    result = dataset_anomalies(planted, DatasetAnomaliesParams(method="streaming"))
    assert result.threshold == OnlineParams().threshold and result.window_hours is None
    ts = (planted.index.asi8 // 10**9).astype(float).tolist()
    flagged = detect(OnlineParams(), ts, planted["value"].tolist())
    assert result.points_flagged == len(flagged) and result.points_scored == len(planted)
    assert {a.peak_at.timestamp() for a in result.anomalies} <= {v.ts for v in flagged}
    hit = [a for a in result.anomalies if a.peak_at == pd.Timestamp("2008-03-12 04:00", tz="UTC")]
    assert len(hit) == 1 and hit[0].type == "spike" and hit[0].type_display == ANOMALY_TYPE_DISPLAY["spike"]
    peaks = [a.peak_at for a in result.anomalies]
    assert peaks == sorted(peaks, reverse=True)


def test_autoencoder_finds_a_planted_fault(slice_: pd.DataFrame) -> None:
    six_weeks = slice_.loc["2008-02-01":"2008-03-13"]
    base = dataset_anomalies(six_weeks, DatasetAnomaliesParams(window_hours=12))
    planted = six_weeks.copy()
    run = pd.date_range("2008-02-20 01:00", periods=6, freq="h", tz="UTC")
    # six night hours above the slice's maximum
    planted.loc[run, "value"] = planted["value"].max() * np.linspace(1.4, 1.6, len(run))
    result = dataset_anomalies(planted, DatasetAnomaliesParams(window_hours=12))
    assert result.method == "autoencoder" and result.threshold == 0.85 and result.window_hours == 12
    assert result.points_scored == len(planted) - 11
    hit = [a for a in result.anomalies if a.start <= run[-1] and a.end >= run[0]]
    assert len(hit) == 1, result.anomalies
    assert hit[0].type == "sustained_high" and run[0] <= hit[0].peak_at <= run[-1]
    assert hit[0].score >= 0.85
    assert not [a for a in base.anomalies if a.start <= run[-1] and a.end >= run[0]]


def test_expected_values_are_the_rolling_median_of_the_hour(slice_: pd.DataFrame) -> None:
    exp = expected_values(slice_)
    at = slice_.index.get_loc(pd.Timestamp("2008-02-15 19:00", tz="UTC"))
    same_hour = slice_[slice_.index.hour == 19].loc["2008-02-01":"2008-02-29", "value"]
    assert exp[at] == pytest.approx(float(np.median(same_hour)))


def test_bad_parameters(slice_: pd.DataFrame) -> None:
    for bad in ({"threshold": 1.0}, {"threshold": 0}, {"window_hours": 1}, {"method": "lstm"}):
        with pytest.raises(ValidationError):
            DatasetAnomaliesParams.model_validate(bad)
    with pytest.raises(DataError, match="needs at least"):
        dataset_anomalies(slice_.iloc[:40], DatasetAnomaliesParams(window_hours=48))


def test_dashboard(slice_: pd.DataFrame) -> None:
    anomalies = dataset_anomalies(slice_, DatasetAnomaliesParams(method="streaming"))
    board = dashboard(slice_, anomalies)
    assert board.summary.days == 91
    assert board.summary.total_kwh == pytest.approx(slice_["value"].sum())
    last30 = slice_.loc["2008-03-02":"2008-03-31", "value"]
    assert [p.kwh for p in board.load_curve] == pytest.approx(
        last30.groupby(last30.index.hour).mean().tolist()
    )
    assert len(board.daily_trend) == 90 and board.daily_trend[-1].kwh == pytest.approx(
        slice_.loc["2008-03-31", "value"].sum()
    )
    assert [p.period for p in board.period_distribution] == ["peak", "valley", "flat"]
    assert board.period_distribution[0].hours == DEFAULT_PERIODS.peak_hours
    assert board.recent_anomalies == anomalies.anomalies[:10]
    assert dashboard(slice_).recent_anomalies == []


@settings(max_examples=30, deadline=None)
@given(st.lists(st.floats(min_value=-1e6, max_value=1e6, allow_nan=False), min_size=1, max_size=300))
def test_streaming_takes_any_finite_series(values: list[float]) -> None:
    index = pd.date_range("2024-01-01", periods=len(values), freq="15min", tz="UTC", name="timestamp")
    result = dataset_anomalies(
        pd.DataFrame({"value": values}, index=index), DatasetAnomaliesParams(method="streaming")
    )
    assert result.points_scored == len(values)
    assert all(0.0 <= a.score <= 1.0 and a.type in ANOMALY_TYPE_DISPLAY for a in result.anomalies)
