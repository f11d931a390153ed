"""Magnitudes are bounded wherever a reading enters: one bound (``schemas.events.MAX_ABS``), enforced by
the ``Reading`` model, the stream's fast decoder and (through the model) ``POST /readings``; the API's
inference bodies use the same constant. Anything beyond it is refused with the field named."""

from __future__ import annotations

import math
from pathlib import Path

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from api.routes.readings import ReadingsCreate
from api.services import inference_input
from schemas.errors import InvalidReading
from schemas.events import MAX_ABS, DeadLetter, Reading, ScoreRecord
from stream_app.core import decode
from stream_app.core.decode import decode_fast
from stream_app.scoring.pipeline import RawMessage, ScoringPipeline
from stream_app.scoring.state import InMemoryStore
from stream_app.settings import Settings

TS = "2025-07-03T10:00:00Z"
within = st.floats(min_value=-MAX_ABS, max_value=MAX_ABS, allow_nan=False)
beyond = st.one_of(
    st.floats(min_value=MAX_ABS, exclude_min=True, allow_infinity=False),
    st.floats(max_value=-MAX_ABS, exclude_max=True, allow_infinity=False),
)
# Integers too (JSON numbers without a fraction): exact comparisons on both sides of the bound.
ints = st.integers(min_value=-(2**63), max_value=2**64 - 1)


def model_accepts(payload: dict[str, object]) -> bool:
    try:
        Reading.model_validate({"asset_id": "m-1", **payload})
    except ValidationError:
        return False
    return True


def decoder_accepts(payload: dict[str, object]) -> bool:
    """Through the stream's decoder, as Kafka bytes (``decode_fast``, falling back to the model)."""
    try:
        decode_fast(b"m-1", orjson.dumps(payload), max_bytes=10_000)
    except InvalidReading:
        return False
    return True


def test_one_source_of_truth() -> None:
    assert MAX_ABS == 1e15
    assert inference_input.MAX_ABS is MAX_ABS  # the API's inference bound is the schema's


@settings(max_examples=300, deadline=None)
@given(v=within)
def test_any_finite_value_within_the_bound_is_accepted_by_both(v: float) -> None:
    payload = {"timestamp": TS, "value": v}
    assert model_accepts(payload) and decoder_accepts(payload)
    # ... by the fast path itself, not only through its fallback to the model
    assert decode._fast(b"m-1", {"timestamp": TS, "value": v}) is not None


@settings(max_examples=300, deadline=None)
@given(v=beyond)
def test_any_value_beyond_the_bound_is_refused_by_both_with_the_field_named(v: float) -> None:
    payload = {"timestamp": TS, "value": v}
    assert not model_accepts(payload)
    with pytest.raises(InvalidReading) as err:
        decode_fast(b"m-1", orjson.dumps(payload), max_bytes=10_000)
    assert err.value.reason.startswith("value: magnitude")
    assert "must be between -1e15 and 1e15" in err.value.reason


@settings(max_examples=300, deadline=None)
@given(v=st.one_of(within, beyond, ints, st.sampled_from([MAX_ABS, -MAX_ABS, 10**15, 10**15 + 1])))
def test_model_and_fast_decoder_decide_alike_on_value_and_covariates(v: float) -> None:
    for payload in ({"timestamp": TS, "value": v}, {"timestamp": TS, "value": 1.0, "temp": v}):
        expected = isinstance(v, float | int) and math.isfinite(float(v)) and abs(v) <= MAX_ABS
        assert model_accepts(payload) == decoder_accepts(payload) == expected, payload


def test_covariate_beyond_the_bound_names_the_covariate() -> None:
    with pytest.raises(InvalidReading, match=r"covariates\.temp: magnitude 1e\+200"):
        decode_fast(b"m-1", orjson.dumps({"timestamp": TS, "value": 1.0, "temp": 1e200}), max_bytes=10_000)


def test_post_readings_body_refuses_the_value_with_its_location() -> None:
    body = {"readings": [{"asset_id": "m-1", "timestamp": TS, "value": 1.0}] * 2}
    body["readings"] = [body["readings"][0], {"asset_id": "m-1", "timestamp": TS, "value": 1e200}]
    with pytest.raises(ValidationError) as err:
        ReadingsCreate.model_validate(body)
    (e,) = err.value.errors()
    assert e["loc"] == ("readings", 1, "value")
    assert "must be between -1e15 and 1e15" in e["msg"]


def test_published_schema_documents_the_bound() -> None:
    schema = Reading.model_json_schema()
    assert schema["properties"]["value"]["minimum"] == -MAX_ABS
    assert schema["properties"]["value"]["maximum"] == MAX_ABS


def test_pipeline_dead_letters_the_absurd_reading_and_scores_the_next(tmp_path: Path) -> None:
    pipe = ScoringPipeline(Settings(state_dir=tmp_path, emit_scores=True, window_size=96))
    store = InMemoryStore(96)
    values = [10.0 + (i % 7) for i in range(60)]
    values[30] = 1e200
    msgs = [
        RawMessage(
            b"m-1",
            orjson.dumps({"timestamp": f"2025-07-03T{i // 4:02d}:{15 * (i % 4):02d}:00Z", "value": v}),
            "t.readings",
            0,
            i,
        )
        for i, v in enumerate(values)
    ]
    out = pipe.process(msgs, store)
    store.apply(out.writes)
    (dead,) = [DeadLetter.model_validate_json(v) for _, v in out.dead_letters]
    assert dead.offset == 30
    assert dead.error.startswith("value: magnitude 1e+200 is out of range")
    scores = [ScoreRecord.model_validate_json(v) for _, v in out.scores]
    assert [s.offset for s in scores] == [i for i in range(60) if i != 30]
    assert all(s.status == "scored" and math.isfinite(s.expected) for s in scores)
    assert out.outcomes == {"scored": 59, "dead_lettered": 1}
