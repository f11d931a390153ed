"""Job states (pure): the generic job of every kind of long work, and the training job's finer states.

Generic jobs (issue 17): ``queued -> running -> succeeded | failed``; ``queued`` or ``running`` may end
``canceled``. Progress is 0..1, the result is stored apart and named by ``result_id``, an error is
``{code, message, details}``.

Training jobs: PENDING -> PREPARING -> TRAINING -> TRAINED; any open state may end FAILED or CANCELED.
Terminal states never change again, so a late message from a dead runner cannot resurrect a finished
job. :data:`TRAINING_AS_GENERIC` maps them onto the generic states.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any
from uuid import UUID

from pydantic import BaseModel, Field

from schemas.errors import KilowatchError


class JobStatus(StrEnum):
    PENDING = "PENDING"
    PREPARING = "PREPARING"
    TRAINING = "TRAINING"
    TRAINED = "TRAINED"
    FAILED = "FAILED"
    CANCELED = "CANCELED"


class VersionStatus(StrEnum):
    CANDIDATE = "candidate"
    ACTIVE = "active"
    RETIRED = "retired"


TERMINAL: frozenset[JobStatus] = frozenset({JobStatus.TRAINED, JobStatus.FAILED, JobStatus.CANCELED})

ALLOWED: dict[JobStatus, frozenset[JobStatus]] = {
    JobStatus.PENDING: frozenset({JobStatus.PREPARING, JobStatus.FAILED, JobStatus.CANCELED}),
    JobStatus.PREPARING: frozenset({JobStatus.TRAINING, JobStatus.FAILED, JobStatus.CANCELED}),
    JobStatus.TRAINING: frozenset({JobStatus.TRAINED, JobStatus.FAILED, JobStatus.CANCELED}),
    JobStatus.TRAINED: frozenset(),
    JobStatus.FAILED: frozenset(),
    JobStatus.CANCELED: frozenset(),
}


class InvalidTransition(KilowatchError):
    """A job was asked to move to a state it cannot reach from where it is."""


def check_transition(current: JobStatus | str, target: JobStatus | str) -> JobStatus:
    """The target as a JobStatus, or InvalidTransition naming both states."""
    cur, tgt = JobStatus(current), JobStatus(target)
    if tgt not in ALLOWED[cur]:
        raise InvalidTransition(f"training job cannot go from {cur} to {tgt}")
    return tgt


def sources_of(target: JobStatus | str) -> list[str]:
    """States from which ``target`` is reachable (used as the SQL guard of an atomic transition)."""
    tgt = JobStatus(target)
    return sorted(s.value for s, targets in ALLOWED.items() if tgt in targets)


# ---- generic jobs (issue 17) ----------------------------------------------------------------------


class JobState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELED = "canceled"


OPEN_STATES: frozenset[JobState] = frozenset({JobState.QUEUED, JobState.RUNNING})

# How a training job's finer state reads as a generic one (its progress 0..100 is divided by 100).
TRAINING_AS_GENERIC: dict[JobStatus, JobState] = {
    JobStatus.PENDING: JobState.QUEUED,
    JobStatus.PREPARING: JobState.RUNNING,
    JobStatus.TRAINING: JobState.RUNNING,
    JobStatus.TRAINED: JobState.SUCCEEDED,
    JobStatus.FAILED: JobState.FAILED,
    JobStatus.CANCELED: JobState.CANCELED,
}


class JobErrorBody(BaseModel):
    """Why a job failed: a code of the API's vocabulary, a message, and where (e.g. the CSV line)."""

    code: str = Field(description="PROCESSING_ERROR, VALIDATION_ERROR, WORKER_LOST ...")
    message: str
    details: dict[str, Any] | None = None


class JobFailed(KilowatchError):
    """Raised by a job handler: the job ends ``failed`` with this code, message and details (shown to
    API keys as they are, so they must quote only what the caller sent)."""

    def __init__(
        self, message: str, *, code: str = "PROCESSING_ERROR", details: dict[str, Any] | None = None
    ):
        super().__init__(message)
        self.code, self.message, self.details = code, message, details

    def body(self) -> JobErrorBody:
        return JobErrorBody(code=self.code, message=self.message, details=self.details)


class TrainingDetail(BaseModel):
    """What a training job adds to the one job shape (null for other types)."""

    asset_id: str
    model_type: str
    request_id: UUID = Field(description="Idempotency key of the request that made the job.")
    data_url: str | None = Field(
        description="Where the data comes from (credentials and query string removed); null = the "
        "asset's readings history."
    )
    message: str | None = Field(
        None, description="The latest progress message of a running job, or why it was canceled."
    )
    cancel_requested: bool = Field(description="A cancel was asked and the running job has not ended yet.")
    promoted: bool | None = Field(None, description="Of a succeeded job: whether its version became active.")
    duration_s: float | None = None
    cpu_percent: float | None = None
    peak_rss_mb: float | None = None


class GenericJobPublic(BaseModel):
    """A job of any type as the API shows it (training jobs too: ``training`` holds their finer state)."""

    id: UUID
    type: str = Field(description="training, preprocess, statistics, load_patterns, anomalies, report ...")
    status: JobState = Field(
        description="queued -> running -> succeeded | failed; queued/running may end canceled."
    )
    progress: float = Field(ge=0, le=1, description="0..1.")
    dataset_id: UUID | None = Field(None, description="The dataset the job works on, if any.")
    params: dict[str, Any]
    result_id: UUID | int | None = Field(
        None,
        description="Once succeeded: the stored result (GET /jobs/{id}/result); of a training job, the model "
        "version it registered (an integer).",
    )
    error: JobErrorBody | None = None
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    stage: JobStatus | None = Field(
        None,
        description="Training jobs: the finer state, PENDING (queued), PREPARING and TRAINING (running), "
        "TRAINED (succeeded), FAILED, CANCELED; null for other types.",
    )
    training: TrainingDetail | None = Field(None, description="Training jobs only.")


class JobResultBody(BaseModel):
    """What a succeeded job produced."""

    result_id: UUID
    job_id: UUID
    type: str
    dataset_id: UUID | None = None
    created_at: datetime
    data: dict[str, Any]


class CancelAnswer(BaseModel):
    canceled: bool = Field(
        description="True: the job is canceled (or was already); a running training job answers 202 and "
        "ends canceled within its grace period."
    )
