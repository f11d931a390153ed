"""Event contracts: normalisation, validation and the generated documents."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import yaml
from pydantic import ValidationError

from schemas.events import Anomaly, Reading, anomaly_event_id
from stream_app.devtools.export import TOPICS, asyncapi, render
from stream_app.settings import TOPIC_KINDS, Settings


def test_device_payload_with_covariates_and_offset_timestamp() -> None:
    r = Reading.model_validate(
        {
            "asset_id": "m1",
            "timestamp": "2025-07-03T12:00:00+02:00",
            "value": 120.5,
            "temp": 25.1,
            "production": 500,
        }
    )
    assert r.timestamp == datetime(2025, 7, 3, 10, 0, tzinfo=UTC)
    assert r.covariates == {"temp": 25.1, "production": 500.0}


def test_naive_timestamp_is_utc() -> None:
    r = Reading.model_validate({"asset_id": "m1", "timestamp": "2025-07-03T10:00:00", "value": 1})
    assert r.timestamp.tzinfo is UTC and r.timestamp.hour == 10


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"asset_id": "m1", "timestamp": "2025-07-03T10:00:00Z", "value": float("nan")}, "value"),
        ({"asset_id": "m1", "timestamp": "2025-07-03T10:00:00Z", "value": float("inf")}, "value"),
        ({"asset_id": "m1", "timestamp": "2025-07-03T10:00:00Z", "value": "12.5"}, "value"),
        ({"asset_id": "m1", "timestamp": "2025-07-03T10:00:00Z", "value": True}, "value"),
        ({"asset_id": "m1", "timestamp": "03.07.2025", "value": 1.0}, "timestamp"),
        ({"asset_id": "has space", "timestamp": "2025-07-03T10:00:00Z", "value": 1.0}, "asset_id"),
        (
            {"asset_id": "m1", "timestamp": "2025-07-03T10:00:00Z", "value": 1.0, "temp": float("nan")},
            "covariates",
        ),
    ],
)
def test_invalid_readings_name_the_field(payload: dict, field: str) -> None:
    with pytest.raises(ValidationError) as info:
        Reading.model_validate(payload)
    assert field in str(info.value)


def test_anomaly_event_id_is_deterministic_and_timezone_insensitive() -> None:
    a = anomaly_event_id("m1", datetime(2025, 7, 3, 10, tzinfo=UTC), "online")
    b = anomaly_event_id("m1", datetime.fromisoformat("2025-07-03T12:00:00+02:00"), "online")
    assert a == b
    assert a != anomaly_event_id("m2", datetime(2025, 7, 3, 10, tzinfo=UTC), "online")
    assert a != anomaly_event_id("m1", datetime(2025, 7, 3, 10, tzinfo=UTC), "lightgbm")


def test_anomaly_score_must_be_in_unit_interval() -> None:
    base = {
        "event_id": anomaly_event_id("m1", datetime(2025, 1, 1, tzinfo=UTC), "d"),
        "asset_id": "m1",
        "timestamp": "2025-01-01T00:00:00Z",
        "value": 2.0,
        "expected": 1.0,
        "lower": 0.5,
        "upper": 1.5,
        "type": "spike",
        "reason": "Exceeds predicted value by 100%",
        "detector": "d",
        "model_version": "1",
        "detected_at": "2025-01-01T00:00:01Z",
    }
    Anomaly.model_validate({**base, "score": 0.99})
    with pytest.raises(ValidationError):
        Anomaly.model_validate({**base, "score": 1.5})


def test_asyncapi_documents_every_topic_with_resolvable_refs() -> None:
    doc = asyncapi(Settings.model_construct())
    assert set(TOPICS) == set(TOPIC_KINDS)
    addresses = {c["address"] for c in doc["channels"].values()}
    assert addresses == {f"kilowatch.{k}" for k in TOPIC_KINDS}
    text = yaml.safe_dump(doc)
    for ref in {line.split("$ref: ")[1].strip().strip("'") for line in text.splitlines() if "$ref: " in line}:
        node = doc
        for part in ref.removeprefix("#/").split("/"):
            node = node[part]
        assert node, ref


def test_generated_files_are_current() -> None:
    from stream_app.devtools.export import GENERATED

    for name, text in render(Settings.model_construct()).items():
        assert (GENERATED / name).read_text() == text, f"{name} is stale: run `kilowatch schemas export`"
