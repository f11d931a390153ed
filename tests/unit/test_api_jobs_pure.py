"""Pure helpers of the training-job API: shown data URLs, SSE framing, Last-Event-ID, idempotency ids."""

from __future__ import annotations

import uuid

import pytest

from api.http.errors import ApiError
from api.http.sse import frame, idle_seconds, parse_last_id
from api.routes.training_jobs import TrainingJobCreate, request_id_of, same_request
from api.services.jobs_view import job_public, public_url
from schemas.jobs import JobStatus
from tests.unit.conftest import job_row


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (None, None),
        ("history", "history"),
        ("file:///data/a.csv", "file:///data/a.csv"),
        ("https://u:p@host.example/a.csv?sig=x#f", "https://host.example/a.csv"),
        ("http://host.example:8080/p/a.csv?token=1", "http://host.example:8080/p/a.csv"),
    ],
)
def test_public_url_drops_credentials_query_and_fragment(url: str | None, shown: str | None) -> None:
    assert public_url(url) == shown


def test_sse_frame_and_resume_ids() -> None:
    assert frame(b'{"a":1}', "log", "5-0") == b'id: 5-0\nevent: log\ndata: {"a":1}\n\n'
    assert frame(b"{}", "end") == b"event: end\ndata: {}\n\n"
    assert parse_last_id(None, None) == "0-0"
    assert parse_last_id("1700000000000-3", "1-1") == "1700000000000-3"  # the header wins
    assert parse_last_id(None, "12-0") == "12-0"
    for bad in ("12", "a-b", "1-2-3", "1-2\nid: 9-9"):
        with pytest.raises(ApiError) as caught:
            parse_last_id(bad, None)
        assert caught.value.status == 400
    assert idle_seconds(10.0, 15.0) == 7.5 and idle_seconds(1.0, 15.0) == 1.0


def test_live_state_is_merged_only_into_running_jobs() -> None:
    live = {"progress": "42.5", "message": "stage 4/10"}
    running = job_public(job_row(), live, cancel_requested=True)
    assert (running.progress, running.message, running.cancel_requested) == (42.5, "stage 4/10", True)
    done = job_public(job_row(status=JobStatus.CANCELED, progress=20.0), live, cancel_requested=True)
    assert (done.progress, done.message, done.cancel_requested) == (20.0, None, False)
    assert job_public(job_row(progress=60.0), {"progress": "10.0"}).progress == 60.0  # never backwards


def test_idempotency_ids_and_request_comparison() -> None:
    body = TrainingJobCreate(asset_id="m-1", model_type="lsq", params={"season": 96})
    a, b = uuid.uuid4(), uuid.uuid4()
    assert request_id_of(body, "k", a) == request_id_of(body, "k", a)
    assert request_id_of(body, "k", a) != request_id_of(body, "k", b)  # scoped to the API key
    assert request_id_of(body, None, a) != request_id_of(body, None, a)  # no key: a new job each time
    rid = uuid.uuid4()
    with_id = TrainingJobCreate(asset_id="m-1", model_type="lsq", request_id=rid)
    assert request_id_of(with_id, None, a) == rid
    with pytest.raises(ApiError):
        request_id_of(with_id, "k", a)
    assert same_request(job_row(), body, "lsq")
    history = TrainingJobCreate(asset_id="m-1", model_type="lsq", params={"season": 96}, data_url="history")
    assert same_request(job_row(), history, "lsq")  # 'history' is stored as no data_url
    assert not same_request(job_row(), TrainingJobCreate(asset_id="m-1", model_type="lsq", params={}), "lsq")
    # without model_type the route resolves the default type first: compared as resolved
    untyped = TrainingJobCreate(asset_id="m-1", params={"season": 96})
    assert untyped.model_type is None
    assert same_request(job_row(), untyped, "lsq") and not same_request(job_row(), untyped, "lightgbm")
