"""Pure parts of the results sink and the ingestion route: decoding, ids, the published wire format."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson

from api.routes.readings import device_payload, future_errors
from schemas.events import Forecast, Reading, anomaly_event_id
from stream_app.core.decode import decode_fast, decode_reading
from stream_app.sinks.results import decode
from stream_app.sinks.sink import Record
from stream_app.store.results import forecast_id

A, F = "p.anomalies", "p.forecasts"


def anomaly(asset: str, minute: int, score: float = 0.999) -> bytes:
    ts = datetime(2018, 1, 1, tzinfo=UTC) + timedelta(minutes=minute)
    return orjson.dumps(
        {
            "event_id": str(anomaly_event_id(asset, ts, "online-seasonal")),
            "asset_id": asset,
            "timestamp": ts.isoformat(),
            "value": 9.0,
            "expected": 3.0,
            "lower": 1.0,
            "upper": 5.0,
            "score": score,
            "type": "spike",
            "reason": "Exceeds predicted value by 200%",
            "detector": "online-seasonal",
            "model_version": "online-seasonal/2",
            "detected_at": "2026-01-01T00:00:00Z",
        }
    )


def forecast(asset: str, version: str = "online-seasonal/2") -> bytes:
    return orjson.dumps(
        {
            "asset_id": asset,
            "issued_at": "2018-01-01T06:00:00Z",
            "model_id": "online-seasonal",
            "model_version": version,
            "points": [
                {"timestamp": "2018-01-01T06:15:00Z", "predicted_value": 3.0, "lower": 2.0, "upper": 4.0}
            ],
        }
    )


def test_decode_splits_by_topic_dedupes_by_id_and_reports_what_it_skips() -> None:
    records = [
        Record(A, 0, 0, b"m1", anomaly("m1", 15)),
        Record(A, 0, 1, b"m1", anomaly("m1", 15)),  # a redelivered copy in the same batch
        Record(A, 0, 2, b"m1", anomaly("m1", 30)),
        Record(A, 1, 0, b"m2", b"{not json"),
        Record(A, 1, 1, b"m2", anomaly("m2", 15, score=1.5)),
        Record(F, 0, 0, b"m1", forecast("m1")),
        Record(F, 0, 1, b"m1", forecast("m1")),
        Record(F, 0, 2, b"m1", forecast("m1", "online-seasonal/3")),
        Record(F, 0, 3, b"m1", None),
    ]
    rows, invalid = decode(records, A)
    assert [str(a.timestamp) for a in rows.anomalies] == [
        "2018-01-01 00:15:00+00:00",
        "2018-01-01 00:30:00+00:00",
    ]
    assert [f.model_version for f in rows.forecasts] == ["online-seasonal/2", "online-seasonal/3"]
    assert rows.messages == {"anomalies": 3, "forecasts": 3}  # valid messages, copies included
    assert [(r.topic, r.partition, r.offset) for r, _ in invalid] == [(A, 1, 0), (A, 1, 1), (F, 0, 3)]
    assert "score" in invalid[1][1] and "tombstone" in invalid[2][1]


def test_forecast_id_is_deterministic_and_names_the_model_version() -> None:
    f1 = Forecast.model_validate_json(forecast("m1"))
    f2 = Forecast.model_validate_json(forecast("m1"))
    f3 = Forecast.model_validate_json(forecast("m1", "online-seasonal/3"))
    assert forecast_id(f1) == forecast_id(f2) != forecast_id(f3)
    assert forecast_id(f1) != forecast_id(Forecast.model_validate_json(forecast("m2")))


def test_published_payload_is_what_both_stream_decoders_read_back() -> None:
    item = {
        "asset_id": "site/meter-1",
        "timestamp": "2018-03-25T02:30:00+02:00",
        "value": 7,
        "unit": "kWh",
        "temp": 3.5,
        "production": 120,
    }
    reading = Reading.model_validate(item)
    payload = device_payload(reading)
    assert orjson.loads(payload) == {
        "asset_id": "site/meter-1",
        "timestamp": "2018-03-25T00:30:00+00:00",
        "value": 7.0,
        "unit": "kWh",
        "temp": 3.5,
        "production": 120.0,
    }
    key = reading.asset_id.encode()
    assert decode_reading(key, payload, max_bytes=4096) == reading
    fast = decode_fast(key, payload, max_bytes=4096)
    assert (fast.asset_id, fast.ts, fast.value) == ("site/meter-1", reading.timestamp.timestamp(), 7.0)


def test_future_errors_point_at_each_reading_beyond_the_clock_skew() -> None:
    now = datetime.now(UTC)
    readings = [
        Reading(asset_id="m", timestamp=now, value=1.0),
        Reading(asset_id="m", timestamp=now + timedelta(hours=2), value=1.0),
        Reading(asset_id="m", timestamp=now + timedelta(minutes=30), value=1.0),
    ]
    errors = future_errors(readings, max_skew_s=3600)
    assert [e["loc"] for e in errors] == [["body", "readings", 1, "timestamp"]]
