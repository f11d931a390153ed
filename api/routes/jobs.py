"""Jobs: every kind of long work in one shape (training, preprocess, statistics, load_patterns,
anomalies, report).

``GET /jobs`` and ``GET /jobs/{id}`` answer every job as ``GenericJobPublic``: ``type``, ``status``
queued|running|succeeded|failed|canceled, ``progress`` 0..1, ``result_id`` (a training job's: the model
version it registered), ``error {code, message, details}``; a training job adds ``stage`` (its finer
state PENDING ... CANCELED) and ``training`` (asset, model type, message, timings). docs/api.md maps the
stages onto the five states. Training jobs are still stored apart (``training_jobs``, leased by the
worker's training service); generic ones in ``jobs`` (leased by the API's job runners).

Cancel (scope ``model``, long work's control) answers ``{"canceled": true}`` for every type: 200 when the
job is canceled (also when it already was), 202 when a running training job was asked to stop (it ends
canceled within its grace period); a job that already succeeded or failed is 409 CONFLICT.
"""

from __future__ import annotations

import functools
import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from api.deps import ModelKey, PoolDep, ReadKey, ResourcesDep, ServiceDep, SettingsDep
from api.http.envelope import COMMON_RESPONSES, Envelope, Page, ok
from api.http.errors import ApiError, Code, conflict, field_error
from api.http.pagination import PageDep, keyset, paged
from api.http.sse import idle_seconds, parse_last_id
from api.http.sse_docs import LastEventIdQuery, event_stream, last_event_header, sse_doc
from api.services import sse_slots
from api.services.job_events import job_events
from api.services.job_submit import generic_public
from api.services.jobs_view import training_public, training_view
from api.services.registry import redis_needed, training_service
from schemas.events import ASSET_ID_PATTERN
from schemas.jobs import (
    TRAINING_AS_GENERIC,
    CancelAnswer,
    GenericJobPublic,
    JobResultBody,
    JobState,
    JobStatus,
)
from stream_app.store import jobs as generic
from stream_app.store import registry_admin as admin
from stream_app.store import repository as repo

router = APIRouter(prefix="/jobs", tags=["jobs"], responses=COMMON_RESPONSES)


class JobLogsPublic(BaseModel):
    job_id: uuid.UUID
    lines: list[str] = Field(description="The job's last log lines (training_log_lines are kept).")


class JobResultPublic(BaseModel):
    job_id: uuid.UUID
    version: int = Field(description="The model version the job registered.")
    promoted: bool = Field(description="Whether it became the active version (champion/challenger).")
    reason: str
    metrics: dict[str, Any]


TYPE_PATTERN = r"^[a-z][a-z0-9_]{0,39}$"


@router.get("", response_model=Envelope[Page[GenericJobPublic]], summary="List jobs of every type")
async def list_jobs(
    _key: ReadKey,
    pool: PoolDep,
    page: PageDep,
    asset_id: Annotated[
        str | None, Query(pattern=ASSET_ID_PATTERN, description="Only this asset's (training jobs).")
    ] = None,
    status: Annotated[
        str | None,
        Query(
            max_length=16,
            description="Only jobs in this state: queued, running, succeeded, failed, canceled (a training "
            "stage, PENDING ... CANCELED, is accepted too and selects training jobs).",
        ),
    ] = None,
    type: Annotated[
        str | None,
        Query(pattern=TYPE_PATTERN, description="Only this type (training, preprocess, statistics ...)."),
    ] = None,
    dataset_id: Annotated[uuid.UUID | None, Query(description="Only this dataset's (generic jobs).")] = None,
) -> Envelope[Page[GenericJobPublic]]:
    """Newest first by default, both kinds of job in one cursor-paged list (``data: {items, next_cursor,
    has_more}``); live training progress is merged only by ``GET /jobs/{id}``."""
    state, stage = _status_filter(status)
    keys = functools.partial(keyset, page)
    rows: list[tuple[datetime, str, GenericJobPublic]] = []
    if type != "training" and asset_id is None and stage is None:  # asset and stage: training jobs only
        generic_rows = await generic.list_jobs(
            pool,
            keys,
            type_name=type,
            status=None if state is None else state.value,
            dataset_id=dataset_id,
        )
        rows += [(j.created_at, str(j.id), generic_public(j)) for j in generic_rows]
    if type in (None, "training") and dataset_id is None:
        stages = [stage.value] if stage is not None else None
        if state is not None:
            stages = [s.value for s, g in TRAINING_AS_GENERIC.items() if g is state]
        training_rows = await admin.list_jobs(pool, keys, asset_id=asset_id, status=stages)
        rows += [(j.created_at, str(j.id), training_public(j)) for j in training_rows]
    rows.sort(key=lambda r: (r[0], r[1]), reverse=page.descending)
    return paged(rows, page, lambda r: (r[0], r[1]), lambda r: r[2])


def _status_filter(value: str | None) -> tuple[JobState | None, JobStatus | None]:
    """(a generic state, a training stage) from ``status``; 422 naming the field for anything else."""
    if value is None:
        return None, None
    if value in JobStatus.__members__:
        return None, JobStatus(value)
    return _state(value, JobState, "status"), None


def _state(value: str | None, enum: Any, field: str) -> Any:
    if value is None:
        return None
    try:
        return enum(value)
    except ValueError:
        allowed = ", ".join(m.value for m in enum)
        raise field_error(["query", field], f"one of {allowed}") from None


@router.get("/{job_id}", response_model=Envelope[GenericJobPublic], summary="A job (any type)")
async def get_job(
    job_id: uuid.UUID, _key: ReadKey, pool: PoolDep, resources: ResourcesDep
) -> Envelope[GenericJobPublic]:
    """type, status, progress 0..1, result_id, error; a training job with its stage and live progress
    (from Redis while it runs)."""
    found = await generic.find(pool, job_id)
    if found is not None:
        return ok(generic_public(found))
    job = await repo.get_job(pool, job_id)
    service = await training_service(resources)
    return ok(await training_view(job, service.channel))


async def _generic_cancel(job: generic.GenericJob, pool: Any) -> CancelAnswer:
    if job.status in (JobState.SUCCEEDED, JobState.FAILED):
        raise conflict(f"job {job.id} already ended {job.status.value}")
    ended = await generic.cancel(pool, job.id)
    if ended.status is not JobState.CANCELED:
        raise conflict(f"job {job.id} already ended {ended.status.value}")
    return CancelAnswer(canceled=True)


@router.post(
    "/{job_id}/cancel",
    response_model=Envelope[CancelAnswer],
    summary="Cancel a job",
    responses={
        202: {"model": Envelope[CancelAnswer], "description": "A running training job was asked to stop."},
        409: {"description": "The job already succeeded or failed (CONFLICT)."},
    },
)
async def cancel_job(
    job_id: uuid.UUID,
    _key: ModelKey,
    pool: PoolDep,
    resources: ResourcesDep,
    response: Response,
) -> Envelope[CancelAnswer]:
    """Needs the ``model`` scope (it controls long work). ``{"canceled": true}`` for every type: 200 once
    the job is canceled (repeats are harmless), 202 while a running training job winds down; 409 CONFLICT
    for a job that already succeeded or failed."""
    found = await generic.find(pool, job_id)
    if found is not None:
        return ok(await _generic_cancel(found, pool))
    service = await training_service(resources)
    job = await repo.get_job(pool, job_id)
    if job.status in (JobStatus.TRAINED, JobStatus.FAILED):
        raise conflict(f"job {job_id} already ended {TRAINING_AS_GENERIC[job.status].value}")
    if job.status is not JobStatus.CANCELED:
        with redis_needed():
            job = await service.cancel(job_id)
    if job.status in (JobStatus.TRAINED, JobStatus.FAILED):  # it ended meanwhile
        raise conflict(f"job {job_id} already ended {TRAINING_AS_GENERIC[job.status].value}")
    if not job.terminal:
        response.status_code = 202
    return ok(CancelAnswer(canceled=True))


@router.get("/{job_id}/logs", response_model=Envelope[JobLogsPublic], summary="A job's log lines")
async def job_logs(
    job_id: uuid.UUID, _key: ReadKey, pool: PoolDep, service: ServiceDep
) -> Envelope[JobLogsPublic]:
    """The capped log kept in Redis (empty once it expired after training_redis_ttl_s)."""
    await repo.get_job(pool, job_id)
    with redis_needed():
        lines = await service.channel.logs(job_id)
    return ok(JobLogsPublic(job_id=job_id, lines=lines))


@router.get(
    "/{job_id}/logs/stream",
    response_class=StreamingResponse,
    summary="Stream a job's events (Server-Sent Events)",
    responses=sse_doc(
        events="status, progress, log or end.",
        data="JSON of the event.",
        event_id="Redis stream id (Last-Event-ID).",
        description="Events `status`, `progress`, `log` (id = stream id, data = JSON), keep-alive "
        "comments, and a final `end` event with the job when it has finished.",
    ),
)
async def stream_job(
    job_id: uuid.UUID,
    key: ReadKey,
    pool: PoolDep,
    service: ServiceDep,
    settings: SettingsDep,
    resources: ResourcesDep,
    last_event_id: Annotated[str | None, last_event_header("Resume after this event.")] = None,
    last_event_id_query: LastEventIdQuery = None,
) -> StreamingResponse:
    """Backlog first (after Last-Event-ID), then live events until the job has finished."""
    after = parse_last_id(last_event_id, last_event_id_query)
    job = await repo.get_job(pool, job_id)
    with redis_needed():
        await service.channel.client.ping()  # 503 now rather than a stream that stops at once
    slot = await sse_slots.take(resources, key)  # 429 when the key holds all its streams
    body = job_events(
        service.channel,
        pool,
        job,
        after,
        keepalive_s=idle_seconds(settings.api.sse_keepalive_s, settings.redis.timeout_s),
        max_s=settings.api.sse_max_s,
    )
    return event_stream(sse_slots.holding(slot, body))


@router.get(
    "/{job_id}/result",
    response_model=Envelope[JobResultBody] | Envelope[JobResultPublic],
    summary="The result of a finished job",
    responses={409: {"description": "JOB_CANCELED, or the job failed or has not finished (CONFLICT)."}},
)
async def job_result(
    job_id: uuid.UUID, _key: ReadKey, pool: PoolDep
) -> Envelope[JobResultBody] | Envelope[JobResultPublic]:
    """A generic job's stored result (``data`` as its type defines it); a training job's version."""
    found = await generic.find(pool, job_id)
    if found is not None:
        return ok(await generic_result(pool, found))
    job = await repo.get_job(pool, job_id)
    if job.status is JobStatus.CANCELED:
        raise ApiError(409, Code.JOB_CANCELED, "job_canceled")
    if job.status is JobStatus.FAILED:
        raise conflict(f"training job {job_id} failed: {job.error}")
    if job.status is not JobStatus.TRAINED or job.result is None:
        raise conflict(f"training job {job_id} has not finished ({job.status.value})")
    r = job.result
    return ok(
        JobResultPublic(
            job_id=job.id,
            version=int(r["version"]),
            promoted=bool(r["promoted"]),
            reason=str(r.get("reason", "")),
            metrics=dict(r.get("metrics") or {}),
        )
    )


async def generic_result(pool: Any, job: generic.GenericJob) -> JobResultBody:
    if job.status is JobState.CANCELED:
        raise ApiError(409, Code.JOB_CANCELED, "job_canceled")
    if job.status is JobState.FAILED:
        reason = (job.error or {}).get("message", "failed")
        raise conflict(f"job {job.id} failed: {reason}")
    if job.status is not JobState.SUCCEEDED or job.result_id is None:
        raise conflict(f"job {job.id} has not finished ({job.status.value})")
    r = await generic.result(pool, job.result_id)
    return JobResultBody(
        result_id=r.id,
        job_id=r.job_id,
        type=r.type,
        dataset_id=r.dataset_id,
        created_at=r.created_at,
        data=r.data,
    )
