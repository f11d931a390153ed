"""Queue a generic job, and show a job of any type (training included) in the one generic shape."""

from __future__ import annotations

import uuid

import asyncpg
from pydantic import BaseModel

from schemas.jobs import TRAINING_AS_GENERIC, GenericJobPublic, JobErrorBody
from stream_app.jobs import catalog
from stream_app.store import jobs as store
from stream_app.store.repository import Job as TrainingJob


def generic_public(job: store.GenericJob) -> GenericJobPublic:
    return GenericJobPublic(
        id=job.id,
        type=job.type,
        status=job.status,
        progress=round(float(job.progress), 3),
        dataset_id=job.dataset_id,
        params=job.params,
        result_id=job.result_id,
        error=None if job.error is None else JobErrorBody.model_validate(job.error),
        created_at=job.created_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
    )


def training_as_generic(job: TrainingJob) -> GenericJobPublic:
    """A training job in the generic shape: status mapped (TRAINING_AS_GENERIC), progress / 100, the
    finer state in ``stage``; its result is the registered model version (``GET /jobs/{id}/result``)."""
    return GenericJobPublic(
        id=job.id,
        type="training",
        status=TRAINING_AS_GENERIC[job.status],
        progress=round(min(max(job.progress / 100.0, 0.0), 1.0), 3),
        dataset_id=None,
        params={"asset_id": job.asset_id, "model_type": job.model_type, **job.params},
        result_id=None,
        error=None if job.error is None else JobErrorBody(code="PROCESSING_ERROR", message=job.error),
        created_at=job.created_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
        stage=job.status.value,
    )


async def submit(
    pool: asyncpg.Pool, type_name: str, params: BaseModel, dataset_id: uuid.UUID | None
) -> GenericJobPublic:
    """Queue a job of a registered type (the runner takes it within ``poll_s``)."""
    if type_name not in catalog.job_types():
        raise ValueError(f"job type {type_name!r} is not registered in stream_app.jobs.catalog")
    job = await store.create(
        pool, type_name=type_name, params=params.model_dump(mode="json"), dataset_id=dataset_id
    )
    return generic_public(job)
