"""Queue a generic job, and show one in the generic shape."""

from __future__ import annotations

import uuid

import asyncpg
from pydantic import BaseModel

from schemas.jobs import GenericJobPublic, JobErrorBody
from stream_app.jobs import catalog
from stream_app.store import jobs as store


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
