"""``data_url: "dataset:<uuid>"`` (issue 18): the body's validator and the pure parts of the data source.

The validator either accepts a data_url or refuses it with a ValidationError on ``data_url`` (FastAPI
answers 422 naming the field), for any string: never another exception (a 500)."""

from __future__ import annotations

import io
import uuid
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from api.routes.training_jobs import TrainingJobCreate, same_request
from schemas.jobs import JobStatus
from stream_app.lifecycle.datasource import (
    DATASET_ID,
    DataSourceError,
    _series_csv,
    dataset_id,
    describe,
)
from stream_app.store.repository import Job

IDENT = uuid.UUID("6f1c2a8e-93d4-4b0e-9c55-0d2f5e7a1b3c")


def _body(data_url: str) -> TrainingJobCreate:
    return TrainingJobCreate(asset_id="m-1", model_type="lightgbm", data_url=data_url)


def test_a_dataset_data_url_is_accepted_in_one_spelling() -> None:
    assert _body(f"dataset:{IDENT}").data_url == f"dataset:{IDENT}"
    assert _body(f"  DataSet:{str(IDENT).upper()} ").data_url == f"dataset:{IDENT}"
    assert dataset_id(f"dataset:{IDENT}") == IDENT
    assert dataset_id("history") is None and dataset_id("https://h.example/a.csv") is None
    assert describe(f"dataset:{IDENT}") == f"dataset {IDENT}"


@pytest.mark.parametrize(
    "bad",
    [
        "dataset:",
        "dataset:42",
        "dataset:not-a-uuid-at-all-not-a-uuid-at-all!",
        f"dataset:{IDENT.hex}",  # not the canonical form
        f"dataset:{{{IDENT}}}",
        f"dataset:{IDENT}/x",
        f"dataset:urn:uuid:{IDENT}",
        "dataset:6f1c2a8e-93d4-4b0e-9c55-0d2f5e7a1b3g",
    ],
)
def test_a_malformed_dataset_id_is_refused_on_data_url(bad: str) -> None:
    with pytest.raises(ValidationError) as info:
        _body(bad)
    errors = info.value.errors()
    assert [e["loc"] for e in errors] == [("data_url",)]
    assert DATASET_ID in errors[0]["msg"]
    with pytest.raises(DataSourceError):
        dataset_id(bad)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.one_of(
        st.text(max_size=80),
        st.builds(lambda s: "dataset:" + s, st.text(max_size=60)),
        st.builds(lambda u, s: f"dataset:{u}{s}", st.uuids(), st.text(max_size=3)),
    )
)
def test_any_string_is_accepted_or_refused_on_data_url(data_url: str) -> None:
    try:
        body = _body(data_url)
    except ValidationError as exc:
        assert {e["loc"] for e in exc.errors()} == {("data_url",)}
        return
    assert body.data_url is not None
    ident = dataset_id(body.data_url)
    if data_url.strip().lower().startswith("dataset:"):
        assert ident is not None and body.data_url == f"dataset:{ident}"


def test_a_retry_with_the_same_dataset_is_the_same_request() -> None:
    job = Job(
        id=uuid.uuid4(),
        asset_id="m-1",
        request_id=uuid.uuid4(),
        model_type="lightgbm",
        params={},
        data_url=f"dataset:{IDENT}",
        status=JobStatus.PENDING,
        progress=0.0,
        error=None,
        started_at=None,
        finished_at=None,
        cpu_percent=None,
        peak_rss_mb=None,
        duration_s=None,
        result=None,
        created_at=datetime.now(UTC),
    )
    assert same_request(job, _body(f"DATASET:{str(IDENT).upper()}"), "lightgbm")
    assert not same_request(job, _body(f"dataset:{uuid.uuid4()}"), "lightgbm")


def test_the_series_is_written_as_the_history_csv() -> None:
    index = pd.date_range("2026-03-29 00:00", periods=3, freq="h", tz="Europe/Paris").tz_convert("UTC")
    data = _series_csv(index, np.array([1.5, 0.1, 2.0]))
    lines = data.decode().splitlines()
    assert lines[0] == "timestamp,value"
    assert lines[1:] == [
        "2026-03-28T23:00:00+00:00,1.5",
        "2026-03-29T00:00:00+00:00,0.1",
        "2026-03-29T01:00:00+00:00,2.0",
    ]
    back = pd.read_csv(io.StringIO(data.decode()), parse_dates=["timestamp"])
    assert back["value"].tolist() == [1.5, 0.1, 2.0]
