"""How a training job is shown: the PostgreSQL record merged with its live state in Redis, in the one job
shape every job answers (:func:`training_public`, ``GET /jobs``, ``GET /jobs/{id}``, the SSE ``end``
event) or in the training request's own answer (:class:`JobPublic`, ``POST /training-jobs``)."""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any, Literal, TypeVar
from urllib.parse import urlsplit, urlunsplit

from pydantic import BaseModel, Field
from redis.exceptions import RedisError

from schemas.jobs import TRAINING_AS_GENERIC, GenericJobPublic, JobErrorBody, JobStatus, TrainingDetail
from stream_app.lifecycle.coord import JobChannel
from stream_app.lifecycle.service import LOST_RUNNING, LOST_TOO_OFTEN
from stream_app.store.repository import Job

log = logging.getLogger(__name__)
RUNNING = (JobStatus.PREPARING, JobStatus.TRAINING)


class JobPublic(BaseModel):
    id: uuid.UUID
    type: Literal["training"] = Field("training", description="The job type (this shape: training jobs).")
    asset_id: str
    request_id: uuid.UUID = Field(description="Idempotency key of the request that made the job.")
    model_type: str
    params: dict[str, Any]
    data_url: str | None = Field(
        description="Where the data comes from (credentials and query string removed); null = the "
        "asset's readings history."
    )
    status: JobStatus = Field(
        description="PENDING -> PREPARING -> TRAINING -> TRAINED; FAILED or CANCELED end an open job."
    )
    progress: float = Field(description="0..100; live while the job runs.")
    message: str | None = Field(None, description="The latest progress message of a running job.")
    cancel_requested: bool = Field(description="A cancel was asked and the open job has not ended yet.")
    error: str | None
    result: dict[str, Any] | None = Field(
        description="Of a TRAINED job: version, promoted, reason, metrics, artifact_uri."
    )
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    duration_s: float | None
    cpu_percent: float | None
    peak_rss_mb: float | None


def public_url(url: str | None) -> str | None:
    """A data_url without user:password, query string or fragment (they may carry tokens)."""
    if url is None:
        return None
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https"):
        return url
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def job_public(job: Job, live: dict[str, str] | None = None, cancel_requested: bool = False) -> JobPublic:
    progress, message = job.progress, None
    if live and job.status in RUNNING:
        with contextlib.suppress(ValueError):
            progress = max(progress, float(live.get("progress", "0")))
        message = live.get("message") or None
    return JobPublic(
        id=job.id,
        asset_id=job.asset_id,
        request_id=job.request_id,
        model_type=job.model_type,
        params=job.params,
        data_url=public_url(job.data_url),
        status=job.status,
        progress=round(progress, 1),
        message=message,
        cancel_requested=cancel_requested and not job.terminal,
        error=job.error,
        result=job.result,
        created_at=job.created_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
        duration_s=job.duration_s,
        cpu_percent=job.cpu_percent,
        peak_rss_mb=job.peak_rss_mb,
    )


V = TypeVar("V")


async def _with_live_state(
    job: Job, channel: JobChannel, view: Callable[[Job, dict[str, str] | None, bool], V]
) -> V:
    """``view`` of the job with its live state (Redis) while it is open; without it (logged) when Redis
    is down, since the record in PostgreSQL is still right."""
    if job.terminal:
        return view(job, None, False)
    try:
        live = await channel.state(job.id)
        cancel = await channel.cancel_requested(job.id)
    except (RedisError, OSError) as exc:
        log.warning("live state of job %s unavailable: %s", job.id, exc)
        return view(job, None, False)
    return view(job, live, cancel)


async def job_view(job: Job, channel: JobChannel) -> JobPublic:
    """The job with its live progress while it is open (see :func:`_with_live_state`)."""
    return await _with_live_state(job, channel, job_public)


def training_error(job: Job) -> JobErrorBody | None:
    """A FAILED training job's error as the one job shape's ``{code, message, details}``: WORKER_LOST when
    its worker was lost, else PROCESSING_ERROR (the message is the job's public error text)."""
    if job.status is not JobStatus.FAILED:
        return None
    text = job.error or "training failed"
    code = "WORKER_LOST" if text in (LOST_RUNNING, LOST_TOO_OFTEN) else "PROCESSING_ERROR"
    return JobErrorBody(code=code, message=text, details=None)


def training_public(
    job: Job, live: dict[str, str] | None = None, cancel_requested: bool = False
) -> GenericJobPublic:
    """A training job in the one job shape: generic status, progress 0..1, the registered model version
    as ``result_id``, ``stage`` the finer state, ``training`` the rest."""
    old = job_public(job, live, cancel_requested)
    result = job.result or {}
    version = result.get("version") if job.status is JobStatus.TRAINED else None
    progress = 1.0 if job.status is JobStatus.TRAINED else min(max(old.progress / 100.0, 0.0), 1.0)
    message = old.message
    if job.status is JobStatus.CANCELED:
        message = job.error
    return GenericJobPublic(
        id=job.id,
        type="training",
        status=TRAINING_AS_GENERIC[job.status],
        progress=round(progress, 3),
        dataset_id=None,
        params=job.params,
        result_id=None if version is None else int(version),
        error=training_error(job),
        created_at=job.created_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
        stage=job.status,
        training=TrainingDetail(
            asset_id=job.asset_id,
            model_type=job.model_type,
            request_id=job.request_id,
            data_url=old.data_url,
            message=message,
            cancel_requested=old.cancel_requested,
            promoted=bool(result["promoted"]) if version is not None and "promoted" in result else None,
            duration_s=job.duration_s,
            cpu_percent=job.cpu_percent,
            peak_rss_mb=job.peak_rss_mb,
        ),
    )


async def training_view(job: Job, channel: JobChannel) -> GenericJobPublic:
    """:func:`training_public` with the live state while the job is open (see :func:`job_view`)."""
    return await _with_live_state(job, channel, training_public)
