"""The upload parser and preprocessing (pure): any bytes give a series or an IngestError naming a field;
generated files round-trip; preprocessing keeps energy totals and counts what it changed."""

from __future__ import annotations

import io
import math
from datetime import UTC, datetime, timedelta

import numpy as np
import openpyxl
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas.datasets import EnergyUnit, IngestOptions, PreprocessParams
from schemas.jobs import JobFailed
from stream_app.analytics.ingest import IngestError, ingest, sniff, unit_of
from stream_app.analytics.preprocess import preprocess

FIELDS = {"file", "sheet", "timestamp_column", "value_column"}
finite = st.floats(min_value=-1e12, max_value=1e12, allow_nan=False, allow_infinity=False)


def _csv(rows: list[tuple[str, str]], header: str = "timestamp,energy_kwh") -> bytes:
    return (header + "\n" + "\n".join(f"{t},{v}" for t, v in rows) + "\n").encode()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=4096))
def test_any_bytes_give_a_series_or_an_error_naming_a_field(data: bytes) -> None:
    try:
        out = ingest(data)
    except IngestError as exc:
        assert exc.field in FIELDS and exc.code == "FILE_FORMAT_ERROR" and exc.message
        return
    assert isinstance(out.frame.index, pd.DatetimeIndex) and out.frame.index.tz is not None
    assert out.frame.index.is_monotonic_increasing and not out.frame.index.has_duplicates


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=2000))
def test_any_text_gives_a_series_or_an_error_naming_a_field(text: str) -> None:
    try:
        ingest(("timestamp,kwh\n" + text).encode())
    except IngestError as exc:
        assert exc.field in FIELDS


@settings(max_examples=150, deadline=None)
@given(
    start=st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2090, 1, 1)),
    step_min=st.sampled_from([1, 5, 15, 30, 60, 1440]),
    values=st.lists(finite, min_size=2, max_size=60),
    unit=st.sampled_from(list(EnergyUnit)),
    offset_h=st.integers(-12, 14),
)
def test_generated_csv_round_trips_values_in_kwh(
    start: datetime, step_min: int, values: list[float], unit: EnergyUnit, offset_h: int
) -> None:
    tz = f"{'+' if offset_h >= 0 else '-'}{abs(offset_h):02d}:00"
    stamps = [(start + timedelta(minutes=step_min * i)).isoformat() + tz for i in range(len(values))]
    data = _csv(
        [(t, repr(v)) for t, v in zip(stamps, values, strict=True)], header=f"time,usage_{unit.value}"
    )
    out = ingest(data)
    det = out.detection
    assert det.timestamp_column == "time" and det.unit is unit and det.unit_source == "column name"
    assert det.interval_s == step_min * 60 and det.timezone_source == "offsets"
    factor = {EnergyUnit.WH: 1e-3, EnergyUnit.KWH: 1.0, EnergyUnit.MWH: 1e3, EnergyUnit.KW: step_min / 60}[
        unit
    ]
    assert out.frame["value"].to_numpy() == pytest.approx(np.array(values) * factor, rel=1e-12, abs=1e-300)
    first = datetime.fromisoformat(stamps[0])
    assert out.frame.index[0] == pd.Timestamp(first) and out.frame.index[0].utcoffset() == first.utcoffset()


@settings(max_examples=100, deadline=None)
@given(
    values=st.lists(st.one_of(finite, st.just(float("nan")), st.just(float("inf"))), min_size=3, max_size=40)
)
def test_text_and_non_finite_values_are_kept_as_missing(values: list[float]) -> None:
    t0 = datetime(2024, 3, 1)
    rows = [
        ((t0 + timedelta(hours=i)).isoformat(), "oops" if math.isnan(v) else repr(v))
        for i, v in enumerate(values)
    ]
    rows.append(((t0 + timedelta(hours=len(values))).isoformat(), "1.0"))
    out = ingest(_csv(rows), IngestOptions(value_column="energy_kwh"))  # mostly text: not detected
    missing = sum(1 for v in values if not math.isfinite(v))
    assert out.detection.missing_values == missing == int(out.frame["value"].isna().sum())


def test_mixed_zones_and_unreadable_stamps_name_the_timestamp_column_and_line() -> None:
    mixed = _csv(
        [("2024-01-01T00:00:00", "1"), ("2024-01-01T01:00:00+02:00", "2"), ("2024-01-01T02:00:00", "3")]
    )
    with pytest.raises(IngestError) as err:
        ingest(mixed)
    assert err.value.field == "timestamp_column" and err.value.details["line"] == 3
    three = _csv([(f"2024-01-01T0{i}:00:00{z}", "1") for i, z in enumerate(["Z", "+08:00", "+05:30", "Z"])])
    with pytest.raises(IngestError, match="mixed time zones"):
        ingest(three)
    # Two offsets an hour apart are one zone's clock change, not a mix.
    dst = _csv(
        [
            ("2024-03-31T00:00:00+01:00", "1"),
            ("2024-03-31T01:00:00+01:00", "1"),
            ("2024-03-31T03:00:00+02:00", "1"),
        ]
    )
    assert ingest(dst).detection.timezone_source == "offsets"
    bad = _csv(
        [("2024-01-01 00:00", "1"), ("2024-01-01 01:00", "2"), ("not a time", "3"), ("2024-01-01 03:00", "4")]
    )
    with pytest.raises(IngestError) as err:
        ingest(bad, IngestOptions(timestamp_column="timestamp"))
    assert err.value.field == "timestamp_column" and err.value.details["line"] == 4


def test_content_decides_the_format_and_binary_is_refused() -> None:
    assert sniff(b"a,b\n1,2\n").value == "csv"
    assert sniff(b"PK\x03\x04rest").value == "xlsx"
    for blob in (b"\x89PNG\r\n\x1a\n\x00\x00", b"\xd0\xcf\x11\xe0legacy", b"", b"  \n"):
        with pytest.raises(IngestError) as err:
            sniff(blob)
        assert err.value.field == "file"
    with pytest.raises(IngestError) as err:
        ingest(b"PK\x03\x04 not really a zip")
    assert err.value.field == "file"


def test_excel_sheets_and_units() -> None:
    wb = openpyxl.Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = "a"
    ws.append(["时间", "用电量 (Wh)"])
    for i in range(5):
        ws.append([datetime(2024, 1, 1) + timedelta(minutes=30 * i), 500 * (i + 1)])
    wb.create_sheet("b").append(["x"])
    buf = io.BytesIO()
    wb.save(buf)
    with pytest.raises(IngestError) as err:
        ingest(buf.getvalue())
    assert err.value.field == "sheet" and err.value.details["sheets"] == ["a", "b"]
    out = ingest(buf.getvalue(), IngestOptions(sheet="a", timezone="Asia/Shanghai"))
    assert out.detection.unit is EnergyUnit.WH and out.detection.interval_s == 1800
    assert list(out.frame["value"]) == [0.5, 1.0, 1.5, 2.0, 2.5]
    assert str(out.frame.index.tz) == "Asia/Shanghai" and out.frame.index[0].hour == 0
    assert unit_of("Usage_kWh") is EnergyUnit.KWH and unit_of("power_kw") is EnergyUnit.KW
    assert unit_of("MWh") is EnergyUnit.MWH and unit_of("Global_active_power") is None


def _series(values: list[float], step_min: int = 60, zone: str = "UTC") -> pd.DataFrame:
    idx = pd.date_range("2024-01-01", periods=len(values), freq=f"{step_min}min", tz=zone, name="timestamp")
    return pd.DataFrame({"value": np.array(values, dtype=float)}, index=idx)


@settings(max_examples=200, deadline=None)
@given(
    values=st.lists(st.one_of(st.floats(0, 1e6), st.just(float("nan"))), min_size=2, max_size=200),
    resample=st.sampled_from([None, "1h", "1d"]),
)
def test_preprocess_without_changes_keeps_the_energy_total(values: list[float], resample: str | None) -> None:
    frame = _series(values)
    params = PreprocessParams(missing="drop", outliers="none", resample=resample)
    out, summary = preprocess(frame, params, 3600, "UTC")
    assert np.nansum(out["value"]) == pytest.approx(np.nansum(values), rel=1e-9, abs=1e-6)
    assert (
        summary.dropped == sum(1 for v in values if math.isnan(v)) and summary.clipped == summary.removed == 0
    )


@settings(max_examples=60, deadline=None)
@given(values=st.lists(st.one_of(finite, st.just(float("nan"))), min_size=1, max_size=200))
def test_preprocess_counts_what_it_changed(values: list[float]) -> None:
    frame = _series(values)
    for missing in ("interpolate", "forward_fill", "drop"):
        for outliers in ("clip", "remove", "none"):
            params = PreprocessParams(missing=missing, outliers=outliers)
            out, s = preprocess(frame, params, 3600, "UTC")
            assert s.rows_in == len(values) and s.rows_out == len(out)
            nan_in = sum(1 for v in values if math.isnan(v))
            assert s.missing_before == nan_in
            assert s.missing_after == int(out["value"].isna().sum())
            if missing == "drop":
                assert s.missing_after == 0 and s.dropped == nan_in + s.removed
            else:
                assert s.filled + s.missing_after == nan_in + s.removed
            if s.lower_fence is not None and s.upper_fence is not None and outliers == "clip":
                present = out["value"].dropna()
                assert (present >= s.lower_fence - 1e-6 * abs(s.lower_fence)).all()
                assert (present <= s.upper_fence + 1e-6 * abs(s.upper_fence)).all()


def test_preprocess_fills_gaps_on_the_grid_and_aligns_days_to_the_zone() -> None:
    frame = _series([1.0, 2.0, 3.0, 4.0, 5.0, 6.0]).drop(index=[pd.Timestamp("2024-01-01 02:00", tz="UTC")])
    out, s = preprocess(frame, PreprocessParams(outliers="none"), 3600, "UTC")
    assert s.gaps_found == 1 and s.filled == 1 and list(out["value"]) == [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
    hourly = _series([1.0] * 48)
    daily, s = preprocess(hourly, PreprocessParams(resample="1d", timezone="Asia/Shanghai"), 3600, "UTC")
    assert s.interval_s_out == 86400 and str(daily.index.tz) == "Asia/Shanghai"
    assert list(daily["value"]) == [16.0, 24.0, 8.0]  # 2024-01-01 00:00 UTC is 08:00 in Shanghai
    with pytest.raises(JobFailed) as err:
        preprocess(hourly, PreprocessParams(resample="15min"), 3600, "UTC")
    assert err.value.details == {"field": "resample"}


def test_clip_and_remove_use_tukey_fences() -> None:
    values = [1.0] * 20 + [2.0] * 20 + [1000.0]
    frame = _series(values)
    out, s = preprocess(frame, PreprocessParams(outliers="clip", outlier_k=3), 3600, "UTC")
    assert (
        s.clipped == 1
        and out["value"].max() == pytest.approx(s.upper_fence)
        and s.upper_fence == pytest.approx(5.0)
    )
    out, s = preprocess(frame, PreprocessParams(outliers="remove", missing="drop"), 3600, "UTC")
    assert s.removed == 1 and s.dropped == 1 and out["value"].max() == 2.0


def test_ingest_times_are_utc_instants_for_naive_local_input() -> None:
    out = ingest(
        _csv([("2024-07-01 00:00", "1"), ("2024-07-01 01:00", "2")]), IngestOptions(timezone="Europe/Paris")
    )
    assert out.frame.index[0].tz_convert(UTC) == pd.Timestamp("2024-06-30 22:00", tz="UTC")


def test_a_sparse_series_is_refused_rather_than_gridded_into_millions_of_rows() -> None:
    # 20 one-second steps, then one row 30 days later: the median step is 1 s, the grid 2.6 million.
    idx = pd.DatetimeIndex(
        [pd.Timestamp("2020-01-01", tz="UTC") + pd.Timedelta(seconds=i) for i in range(20)]
        + [pd.Timestamp("2020-01-31", tz="UTC")],
        name="timestamp",
    )
    frame = pd.DataFrame({"value": np.ones(len(idx))}, index=idx)
    with pytest.raises(JobFailed) as err:
        preprocess(frame, PreprocessParams(), 1, "UTC")
    assert err.value.code == "PROCESSING_ERROR" and err.value.details is not None
    assert err.value.details["field"] == "interval_s" and err.value.details["rows"] == 21
