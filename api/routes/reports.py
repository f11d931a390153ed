"""Reports (PDF or XLSX, zh-CN or en-US) as jobs: create on a dataset, follow, download. Scope ``read``.

The file is made by the ``report`` job and stored with its result; ``GET /reports/{id}`` is the job's
state plus what the file is once made; ``GET /reports/{id}/download`` serves it with its Content-Type
and ``Content-Disposition: attachment`` (409 until it is made: JOB_CANCELED, or CONFLICT naming the
state). Deleting the dataset deletes its reports.
"""

from __future__ import annotations

import base64
import uuid
from datetime import datetime

from fastapi import APIRouter, Response
from pydantic import BaseModel, Field

from api.deps import PoolDep, ReadKey
from api.http.envelope import COMMON_RESPONSES, Envelope, ok
from api.http.errors import ApiError, Code, conflict, not_found
from api.services.analytics import queue
from api.services.job_submit import generic_public
from schemas.analytics import Lang, ReportFile, ReportFormat, ReportParams
from schemas.jobs import GenericJobPublic, JobErrorBody, JobState
from stream_app.jobs import analytics_jobs
from stream_app.store import jobs as generic

router = APIRouter(tags=["analytics"], responses=COMMON_RESPONSES)


class ReportPublic(BaseModel):
    id: uuid.UUID = Field(description="The report job's id.")
    dataset_id: uuid.UUID | None
    status: JobState
    progress: float
    format: ReportFormat
    language: Lang
    error: JobErrorBody | None = None
    created_at: datetime
    finished_at: datetime | None = None
    filename: str | None = Field(None, description="Set once the file is made.")
    content_type: str | None = None
    size_bytes: int | None = None
    sha256: str | None = None
    charts: list[str] = Field(default_factory=list)
    download_url: str | None = Field(None, description="Set once the file is made.")


async def _report_job(pool: PoolDep, report_id: uuid.UUID) -> generic.GenericJob:
    job = await generic.find(pool, report_id)
    if job is None or job.type != analytics_jobs.REPORT:
        raise not_found(f"report {report_id}")
    return job


async def _file(pool: PoolDep, job: generic.GenericJob) -> ReportFile | None:
    if job.status is not JobState.SUCCEEDED or job.result_id is None:
        return None
    return ReportFile.model_validate((await generic.result(pool, job.result_id)).data)


@router.post(
    "/datasets/{dataset_id}/reports",
    status_code=202,
    response_model=Envelope[GenericJobPublic],
    summary="Make a report of a dataset (a job)",
)
async def create_report(
    dataset_id: uuid.UUID, body: ReportParams, _key: ReadKey, pool: PoolDep, response: Response
) -> Envelope[GenericJobPublic]:
    """Queues a ``report`` job (202; follow it at ``GET /reports/{id}``): PDF or XLSX with the load
    curve, tariff-period pie, trend line, month-over-month comparison and daily heatmap."""
    job = await queue(pool, dataset_id, analytics_jobs.REPORT, body, response)
    response.headers["Location"] = f"/api/v1/reports/{job.id}"
    return ok(job)


@router.get("/reports/{report_id}", response_model=Envelope[ReportPublic], summary="A report's state")
async def get_report(report_id: uuid.UUID, _key: ReadKey, pool: PoolDep) -> Envelope[ReportPublic]:
    job = await _report_job(pool, report_id)
    public = generic_public(job)
    params = ReportParams.model_validate(job.params)
    made = await _file(pool, job)
    return ok(
        ReportPublic(
            id=job.id,
            dataset_id=job.dataset_id,
            status=job.status,
            progress=public.progress,
            format=params.format,
            language=params.language,
            error=public.error,
            created_at=job.created_at,
            finished_at=job.finished_at,
            filename=None if made is None else made.filename,
            content_type=None if made is None else made.content_type,
            size_bytes=None if made is None else made.size_bytes,
            sha256=None if made is None else made.sha256,
            charts=[] if made is None else made.charts,
            download_url=None if made is None else f"/api/v1/reports/{job.id}/download",
        )
    )


@router.get(
    "/reports/{report_id}/download",
    summary="Download a report",
    response_class=Response,
    responses={
        200: {
            "description": "The file.",
            "content": {
                "application/pdf": {"schema": {"type": "string", "format": "binary"}},
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {
                    "schema": {"type": "string", "format": "binary"}
                },
            },
        },
        409: {"description": "JOB_CANCELED, or the report failed or is not made yet (CONFLICT)."},
    },
)
async def download_report(report_id: uuid.UUID, _key: ReadKey, pool: PoolDep) -> Response:
    job = await _report_job(pool, report_id)
    if job.status is JobState.CANCELED:
        raise ApiError(409, Code.JOB_CANCELED, "job_canceled")
    made = await _file(pool, job)
    if made is None:
        raise conflict(f"report {report_id} is not ready ({job.status.value})")
    data = base64.b64decode(made.content_base64)
    return Response(
        content=data,
        media_type=made.content_type,
        headers={
            "Content-Disposition": f'attachment; filename="{made.filename}"',
            "Cache-Control": "private, no-store",
        },
    )
