"""Predict/detect bodies: the fast parser agrees with pydantic, and every bad input names its field."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import numpy as np
import orjson
import pytest
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel

from api.http.errors import ApiError
from api.routes.inference import body_doc, iso
from api.services.inference_body import fast_points, parse
from api.services.inference_input import (
    DetectCreate,
    DetectOptions,
    PredictCreate,
    PredictOptions,
    Series,
    check_horizon,
    check_span,
    require_points,
    series_of,
)

FIELD = "historical_data"
T0 = datetime(2018, 3, 1, tzinfo=UTC)


def points(n: int = 6, fmt: str = "%Y-%m-%dT%H:%M:%SZ", **extra: Any) -> list[dict[str, Any]]:
    return [
        {"timestamp": datetime.fromtimestamp(T0.timestamp() + 900 * i, UTC).strftime(fmt), "value": 10.0 + i}
        | extra
        for i in range(n)
    ]


def predict(body: Any, max_points: int = 1000) -> tuple[Series, PredictOptions]:
    return parse(orjson.dumps(body), PredictCreate, PredictOptions, FIELD, max_points)


def slow(body: dict[str, Any]) -> Series:
    """The reference: pydantic validation, then the checks of api.services.inference_input."""
    return series_of(PredictCreate.model_validate(body).historical_data, FIELD, 1000)


def loc_of(exc: pytest.ExceptionInfo[Any]) -> list[Any]:
    err = exc.value
    if isinstance(err, RequestValidationError):
        return [list(e["loc"]) for e in err.errors()]
    assert isinstance(err, ApiError)
    assert isinstance(err.details, list)
    return [d["loc"] for d in err.details]


@pytest.mark.parametrize("fmt", ["%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%dT%H:%M:%S"])
def test_fast_path_equals_pydantic(fmt: str) -> None:
    body = {FIELD: points(200, fmt), "forecast_horizon": 12}
    assert fast_points(body[FIELD]) is not None  # this shape is the fast one
    series, opts = predict(body)
    ref = slow(body)
    assert (series.stamps == ref.stamps).all() and (series.values == ref.values).all()
    assert opts.forecast_horizon == 12
    assert series.stamps[0] == int(T0.timestamp()) * 10**9


@pytest.mark.parametrize(
    "point",
    [
        {"timestamp": "2018-03-01T02:00:00+02:00", "value": 10},  # offset
        {"timestamp": 1519862400, "value": 10},  # epoch seconds
        {"timestamp": "2018-03-01T00:00:00.250Z", "value": 10},  # fraction
        {"timestamp": "2018-03-01T00:00:00Z", "value": 10, "temp": -3.5},  # covariate
    ],
)
def test_other_shapes_take_the_pydantic_path(point: dict[str, Any]) -> None:
    body = {FIELD: [point]}
    assert fast_points(body[FIELD]) is None
    series, opts = predict(body)
    expected = int(T0.timestamp()) * 10**9 + (250_000_000 if "250" in str(point["timestamp"]) else 0)
    assert series.stamps[0] == expected and opts.forecast_horizon == 24
    assert series.covariates == ({"temp": pytest.approx(np.array([-3.5]))} if "temp" in point else {})


@pytest.mark.parametrize(
    ("bad", "loc"),
    [
        ({"value": "NaN"}, ["body", FIELD, 2, "value"]),  # JSON has no NaN: strings are refused
        ({"value": "12.5"}, ["body", FIELD, 2, "value"]),  # numbers only
        ({"value": True}, ["body", FIELD, 2, "value"]),
        ({"timestamp": "yesterday"}, ["body", FIELD, 2, "timestamp"]),
        ({"timestamp": "2018-02-30T00:00:00Z"}, ["body", FIELD, 2, "timestamp"]),
        ({"temp": "NaN"}, ["body", FIELD, 2, "temp"]),
        ({"temp": 1e300}, ["body", FIELD, 2, "temp"]),
        ({"value": 1e300}, ["body", FIELD, 2, "value"]),  # would overflow the models' arithmetic
        ({"timestamp": "9999-01-01T00:00:00Z"}, ["body", FIELD, 2, "timestamp"]),  # beyond int64 ns
        ({"pressure": "high"}, ["body", FIELD, 2, "pressure"]),
    ],
)
def test_bad_values_are_422_at_their_field(bad: dict[str, Any], loc: list[Any]) -> None:
    body = {FIELD: points()}
    body[FIELD][2].update(bad)
    with pytest.raises((RequestValidationError, ApiError)) as exc:
        predict(body)
    assert loc in loc_of(exc)
    if isinstance(exc.value, ApiError):
        assert exc.value.status == 422


def test_json_infinity_literal_is_refused() -> None:
    raw = orjson.dumps({FIELD: points()}).replace(b'"value":12.0', b'"value":1e400')
    with pytest.raises(RequestValidationError) as exc:
        parse(raw, PredictCreate, PredictOptions, FIELD, 1000)
    assert ["body", FIELD, 2, "value"] in loc_of(exc)


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        (b"{not json", ["body"]),
        (b"[]", ["body"]),
        (orjson.dumps({"forecast_horizon": 3}), ["body", FIELD]),
        (orjson.dumps({FIELD: []}), ["body", FIELD]),
        (orjson.dumps({FIELD: points(), "forecast_horizon": 0}), ["body", "forecast_horizon"]),
        (orjson.dumps({FIELD: points(), "forecast_horizon": "24"}), ["body", "forecast_horizon"]),
        (orjson.dumps({FIELD: points(), "colour": "red"}), ["body", "colour"]),
        (orjson.dumps({FIELD: [{"value": 1.0}]}), ["body", FIELD, 0, "timestamp"]),
    ],
)
def test_malformed_bodies_are_422(body: bytes, loc: list[Any]) -> None:
    with pytest.raises(RequestValidationError) as exc:
        parse(body, PredictCreate, PredictOptions, FIELD, 1000)
    assert loc in loc_of(exc)


@pytest.mark.parametrize("fast", [True, False])
def test_unsorted_and_repeated_timestamps_are_400_per_point(fast: bool) -> None:
    pts = points(8) if fast else points(8, temp=1.0)
    pts[3]["timestamp"], pts[4]["timestamp"] = pts[4]["timestamp"], pts[3]["timestamp"]
    pts[7]["timestamp"] = pts[6]["timestamp"]
    with pytest.raises(ApiError) as exc:
        predict({FIELD: pts})
    assert exc.value.status == 400
    assert isinstance(exc.value.details, list)
    assert [(d["loc"], d["type"]) for d in exc.value.details] == [
        (["body", FIELD, 4, "timestamp"], "unsorted_timestamps"),
        (["body", FIELD, 7, "timestamp"], "duplicate_timestamp"),
    ]
    assert "strictly increasing" in exc.value.details[0]["msg"]


def test_points_1900_and_2200_apart_are_in_order() -> None:
    """Their distance in ns overflows int64: a subtraction called them unsorted."""
    pts = [
        {"timestamp": "1900-01-01T00:00:00Z", "value": 1.0},
        {"timestamp": "2199-12-31T00:00:00Z", "value": 2.0},
    ]
    series, _ = predict({FIELD: pts})
    assert len(series) == 2
    with pytest.raises(ApiError) as exc:
        predict({FIELD: pts[::-1]})
    assert [d["type"] for d in exc.value.details] == ["unsorted_timestamps"]  # type: ignore[union-attr]


def test_too_many_points_is_422_before_anything_else() -> None:
    with pytest.raises(ApiError) as exc:
        predict({FIELD: points(11)}, max_points=10)
    assert exc.value.status == 422 and loc_of(exc) == [["body", FIELD]]


def test_model_needs_enough_points_a_horizon_in_range_and_its_covariates() -> None:
    series, _ = predict({FIELD: points(5)})
    with pytest.raises(ApiError) as exc:
        require_points(series, 6, "the online model")
    assert exc.value.status == 400 and loc_of(exc) == [["body", FIELD]]
    assert exc.value.details[0]["type"] == "too_short"  # type: ignore[index]
    assert exc.value.details[0]["ctx"] == {"needed": 6, "got": 5}  # type: ignore[index]
    require_points(series, 5, "the online model")
    with pytest.raises(ApiError) as exc:
        check_horizon(25, 24)
    assert exc.value.status == 422 and loc_of(exc) == [["body", "forecast_horizon"]]
    pts = points(4, temp=1.0)
    del pts[2]["temp"]
    series, _ = predict({FIELD: pts})
    assert "temp" not in series.covariates
    with pytest.raises(ApiError) as exc:
        series.require(["temp"])
    assert exc.value.status == 400 and loc_of(exc) == [["body", FIELD, 2, "temp"]]


def test_points_spanning_too_many_model_steps_are_400() -> None:
    pts = points(3)
    pts[2]["timestamp"] = "2019-03-01T00:00:00Z"  # a year of 15-minute steps between two points
    series, _ = predict({FIELD: pts})
    check_span(series, 900.0, 40_000)
    with pytest.raises(ApiError) as exc:
        check_span(series, 900.0, 30_000)
    assert exc.value.status == 400 and loc_of(exc) == [["body", FIELD]]


def test_detect_bodies_have_no_options() -> None:
    raw = orjson.dumps({"data_stream": points(3)})
    series, _ = parse(raw, DetectCreate, DetectOptions, "data_stream", 100)
    assert series.field == "data_stream" and len(series) == 3
    with pytest.raises(RequestValidationError) as exc:
        parse(
            orjson.dumps({"data_stream": points(3), "forecast_horizon": 3}),
            DetectCreate,
            DetectOptions,
            "data_stream",
            100,
        )
    assert ["body", "forecast_horizon"] in loc_of(exc)


def test_response_timestamps_are_written_as_pydantic_writes_them() -> None:
    class Stamp(BaseModel):
        t: datetime

    stamps = np.array([0, 1_519_862_400_000_000_000, 1_519_862_400_250_000_000, 1_519_862_400_000_001_000])
    expected = [
        orjson.loads(
            Stamp(
                t=datetime.fromtimestamp(int(s) // 10**9, UTC).replace(microsecond=int(s) % 10**9 // 1000)
            ).model_dump_json()
        )["t"]
        for s in stamps
    ]
    assert iso(stamps) == expected


def test_documented_body_is_the_request_model_inlined() -> None:
    doc = body_doc(PredictCreate)["requestBody"]["content"]["application/json"]["schema"]
    assert "$defs" not in orjson.dumps(doc).decode() and "$ref" not in orjson.dumps(doc).decode()
    item = doc["properties"][FIELD]["items"]
    assert set(item["required"]) == {"timestamp", "value"} and "temp" in item["properties"]
