"""Finished training jobs show up in the metrics the rules and dashboards query."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from prometheus_client import REGISTRY

from schemas.jobs import JobStatus
from stream_app.lifecycle.service import record_outcome
from stream_app.store.repository import Job


def _job(status: JobStatus, model_type: str, duration: float | None) -> Job:
    now = datetime.now(UTC)
    return Job(
        uuid.uuid4(),
        "a",
        uuid.uuid4(),
        model_type,
        {},
        None,
        status,
        100.0,
        None,
        now,
        now,
        50.0,
        300.0,
        duration,
        None,
        now,
    )


def _value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_outcomes_durations_and_holdout_error_are_recorded() -> None:
    before_ok = _value("kilowatch_training_jobs_total", state="succeeded", model_type="mt-test")
    before_failed = _value("kilowatch_training_jobs_total", state="failed", model_type="mt-test")
    record_outcome(_job(JobStatus.TRAINED, "mt-test", 12.5), {"mase": 0.61, "smape": 12.5, "mae": 3.2})
    record_outcome(_job(JobStatus.FAILED, "mt-test", None))
    record_outcome(_job(JobStatus.TRAINING, "mt-test", None))  # not an outcome: not counted
    assert _value("kilowatch_training_jobs_total", state="succeeded", model_type="mt-test") == before_ok + 1
    assert _value("kilowatch_training_jobs_total", state="failed", model_type="mt-test") == before_failed + 1
    assert _value("kilowatch_training_duration_seconds_count", model_type="mt-test") == 1
    assert _value("kilowatch_model_holdout_mase_ratio", model_type="mt-test") == 0.61
    assert _value("kilowatch_model_holdout_smape_ratio", model_type="mt-test") == 0.125  # percent -> ratio
