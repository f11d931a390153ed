"""Training jobs: list, status (live progress merged), cancel, logs (JSON and Server-Sent Events), result.

Cancel: a PENDING job ends CANCELED at once; a running one gets the cancel flag its runner watches
(202, ``cancel_requested``: true, it ends CANCELED within the grace period); a CANCELED job is
returned unchanged (cancel is idempotent); a TRAINED or FAILED job is 409 CONFLICT.
"""

from __future__ import annotations

import functools
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from api.deps import ModelKey, PoolDep, ReadKey, ResourcesDep, ServiceDep, SettingsDep
from api.http.envelope import COMMON_RESPONSES, Envelope, ok
from api.http.errors import ApiError, Code, conflict
from api.http.pagination import PageDep, finish, keyset
from api.http.sse import idle_seconds, parse_last_id
from api.services import sse_slots
from api.services.job_events import job_events
from api.services.jobs_view import JobPublic, job_public, job_view
from api.services.registry import redis_needed
from schemas.events import ASSET_ID_PATTERN
from schemas.jobs import JobStatus
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


@router.get("", response_model=Envelope[list[JobPublic]], summary="List training jobs")
async def list_jobs(
    _key: ReadKey,
    pool: PoolDep,
    page: PageDep,
    asset_id: Annotated[str | None, Query(pattern=ASSET_ID_PATTERN, description="Only this asset's.")] = None,
    status: Annotated[JobStatus | None, Query(description="Only jobs in this state.")] = None,
) -> Envelope[list[JobPublic]]:
    """Newest first by default; live progress is merged only by ``GET /jobs/{id}``."""
    rows = await admin.list_jobs(
        pool,
        functools.partial(keyset, page),
        asset_id=asset_id,
        status=None if status is None else status.value,
    )
    items, meta = finish(rows, page, lambda j: (j.created_at, j.id))
    return ok([job_public(j) for j in items], meta)


@router.get("/{job_id}", response_model=Envelope[JobPublic], summary="A training job")
async def get_job(
    job_id: uuid.UUID, _key: ReadKey, pool: PoolDep, service: ServiceDep
) -> Envelope[JobPublic]:
    """Status, progress (live from Redis while it runs), timings, error and result."""
    job = await repo.get_job(pool, job_id)
    return ok(await job_view(job, service.channel))


@router.post(
    "/{job_id}/cancel",
    response_model=Envelope[JobPublic],
    summary="Cancel a training job",
    responses={
        202: {"model": Envelope[JobPublic], "description": "Running: asked to stop (cancel_requested)."},
        409: {"description": "The job already TRAINED or FAILED."},
    },
)
async def cancel_job(
    job_id: uuid.UUID, _key: ModelKey, pool: PoolDep, service: ServiceDep, response: Response
) -> Envelope[JobPublic]:
    """200 with the CANCELED job (PENDING ones end at once; repeats are harmless); 202 while a running
    job winds down."""
    job = await repo.get_job(pool, job_id)
    if job.status in (JobStatus.TRAINED, JobStatus.FAILED):
        raise conflict(f"training job {job_id} already ended {job.status.value}")
    if job.status is not JobStatus.CANCELED:
        with redis_needed():
            job = await service.cancel(job_id)
    if not job.terminal:
        response.status_code = 202
    return ok(await job_view(job, service.channel))


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
    responses={
        200: {
            "content": {
                "text/event-stream": {
                    "schema": {
                        "type": "object",
                        "description": "One Server-Sent Event.",
                        "properties": {
                            "event": {"type": "string", "description": "status, progress, log or end."},
                            "data": {"type": "string", "description": "JSON of the event."},
                            "id": {"type": "string", "description": "Redis stream id (Last-Event-ID)."},
                            "retry": {"type": "integer"},
                        },
                    }
                }
            },
            "description": "Events `status`, `progress`, `log` (id = stream id, data = JSON), keep-alive "
            "comments, and a final `end` event with the job when it has finished.",
        }
    },
)
async def stream_job(
    job_id: uuid.UUID,
    key: ReadKey,
    pool: PoolDep,
    service: ServiceDep,
    settings: SettingsDep,
    resources: ResourcesDep,
    last_event_id: Annotated[
        str | None, Header(alias="Last-Event-ID", max_length=64, description="Resume after this event.")
    ] = None,
    last_event_id_query: Annotated[
        str | None,
        Query(alias="last_event_id", max_length=64, description="Same as Last-Event-ID (for links)."),
    ] = None,
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
    return StreamingResponse(
        sse_slots.holding(slot, body),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


@router.get(
    "/{job_id}/result",
    response_model=Envelope[JobResultPublic],
    summary="The result of a finished job",
    responses={409: {"description": "JOB_CANCELED, or the job failed or has not finished (CONFLICT)."}},
)
async def job_result(job_id: uuid.UUID, _key: ReadKey, pool: PoolDep) -> Envelope[JobResultPublic]:
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
