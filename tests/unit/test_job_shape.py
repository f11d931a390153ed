"""Training jobs in the one job shape (pure): every stage maps onto the five states, progress 0..1, the
registered version as result_id, errors as {code, message, details}; SSE events in the same vocabulary."""

from __future__ import annotations

from typing import Any

import pytest

from api.services.job_events import public_event
from api.services.jobs_view import training_public
from schemas.jobs import TRAINING_AS_GENERIC, GenericJobPublic, JobState, JobStatus
from stream_app.lifecycle.service import LOST_RUNNING
from stream_app.store.repository import Job
from tests.unit.conftest import job_row


def _job(**kw: Any) -> Job:
    return job_row(**{"data_url": "https://u:p@data.example/a.csv?token=t", **kw})


@pytest.mark.parametrize("stage", list(JobStatus))
def test_every_stage_maps_onto_the_five_states(stage: JobStatus) -> None:
    result = {"version": 3, "promoted": True} if stage is JobStatus.TRAINED else None
    shown = training_public(
        _job(status=stage, result=result, error="boom" if stage is JobStatus.FAILED else None)
    )
    assert isinstance(shown, GenericJobPublic) and shown.type == "training"
    assert shown.status is TRAINING_AS_GENERIC[stage] and shown.stage is stage
    assert 0.0 <= shown.progress <= 1.0
    assert shown.training is not None and shown.training.data_url == "https://data.example/a.csv"
    assert (shown.result_id == 3) is (stage is JobStatus.TRAINED)
    assert (shown.error is not None) is (stage is JobStatus.FAILED)


def test_progress_result_and_errors() -> None:
    running = training_public(_job(), {"progress": "42.5", "message": "fold 2"}, cancel_requested=True)
    assert (running.status, running.progress) == (JobState.RUNNING, 0.425)
    assert (
        running.training is not None
        and running.training.message == "fold 2"
        and running.training.cancel_requested
    )
    done = training_public(
        _job(status=JobStatus.TRAINED, progress=95.0, result={"version": 7, "promoted": False})
    )
    assert (
        (done.progress, done.result_id) == (1.0, 7)
        and done.training is not None
        and done.training.promoted is False
    )
    failed = training_public(_job(status=JobStatus.FAILED, error="training timed out after 10 s"))
    assert failed.error is not None and (failed.error.code, failed.error.message) == (
        "PROCESSING_ERROR",
        "training timed out after 10 s",
    )
    lost = training_public(_job(status=JobStatus.FAILED, error=LOST_RUNNING))
    assert lost.error is not None and lost.error.code == "WORKER_LOST"
    canceled = training_public(_job(status=JobStatus.CANCELED, error="canceled before it started"))
    assert canceled.error is None and canceled.training is not None
    assert canceled.training.message == "canceled before it started"


def test_sse_events_speak_the_one_vocabulary() -> None:
    status = public_event("status", {"kind": "status", "status": "PREPARING", "message": "fetching"})
    assert (status["status"], status["stage"], status["message"]) == ("running", "PREPARING", "fetching")
    assert public_event("progress", {"kind": "progress", "progress": "42.5"})["progress"] == 0.425
    assert public_event("progress", {"progress": "250"})["progress"] == 1.0
    assert "progress" not in public_event("progress", {"progress": "lots"})
    line = {"kind": "log", "line": "epoch 1"}
    assert public_event("log", line) == line
    assert public_event("status", {"status": "whatever"}) == {"status": "whatever"}  # not a stage: as is
