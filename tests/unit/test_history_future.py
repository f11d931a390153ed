"""The history sink skips readings dated too far ahead (issue 14): counted by reason, never stored."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from stream_app import metrics
from stream_app.sinks.history import decode
from stream_app.sinks.sink import Record

NOW = datetime(2026, 1, 1, tzinfo=UTC)
DAY_S = 86_400.0


def _record(offset: int, ts: datetime) -> Record:
    return Record("readings", 0, offset, b"m1", f'{{"timestamp": "{ts.isoformat()}", "value": 1.0}}'.encode())


def _skipped() -> float:
    return metrics.HISTORY_SKIPPED.labels("future")._value.get()


def test_far_future_readings_are_skipped_and_counted() -> None:
    before = _skipped()
    records = [
        _record(0, NOW),
        _record(1, NOW + timedelta(hours=23)),
        _record(2, NOW + timedelta(days=2)),
        _record(3, datetime(2999, 1, 1, tzinfo=UTC)),
    ]
    rows, invalid = decode(records, max_bytes=1024, max_future_s=DAY_S, now=NOW)
    assert [r[1] for r in rows] == [NOW, NOW + timedelta(hours=23)]
    assert invalid == []  # not invalid readings: skipped by this sink only
    assert _skipped() - before == 2


@given(ahead_s=st.floats(min_value=-10 * DAY_S, max_value=1000 * DAY_S, allow_nan=False))
def test_a_reading_is_stored_iff_within_the_bound(ahead_s: float) -> None:
    ts = NOW + timedelta(seconds=ahead_s)
    rows, invalid = decode([_record(0, ts)], max_bytes=1024, max_future_s=DAY_S, now=NOW)
    assert invalid == []
    assert len(rows) == (1 if ts <= NOW + timedelta(seconds=DAY_S) else 0)
