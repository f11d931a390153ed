"""Training jobs: ask for a new model version of an asset (202; the worker's retraining agent runs it).

The job row is created here first (PENDING, idempotent on its request id) so the answer carries a job
id to poll at once; then the TrainingRequest goes to the training-requests topic keyed by asset. The
agent's ``TrainingService.handle`` finds the row PENDING and runs it.

Without ``model_type`` a job trains the default model type, the setting
``training.retrain_default_model`` (the type scheduled retraining uses; lightgbm unless configured), so
``{asset_id, data_url}`` alone is a complete request; the job and its answer name the type chosen.

Retries: give ``Idempotency-Key`` (scoped to the calling API key) or ``request_id`` in the body. A
repeat answers 202 with the same job (header ``Idempotent-Replayed: true``); the same key with a
different request is 409. The request is sent once per job (a Redis SET NX marker), also when retries
race; a retry sends it if the first attempt stored the job but could not send it.
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from typing import Annotated, Any
from urllib.parse import urlsplit

import asyncpg
from fastapi import APIRouter, Header, Response
from pydantic import BaseModel, ConfigDict, Field, field_validator
from redis.exceptions import RedisError

from api.deps import ModelKey, PoolDep, ResourcesDep, ServiceDep
from api.http.envelope import COMMON_RESPONSES, Envelope, ok
from api.http.errors import ApiError, conflict, field_error
from api.http.validation import storable_json
from api.services.jobs_view import JobPublic, job_view
from api.services.registry import redis_needed, training_backend
from api.services.resources import Resources
from schemas.datasets import DatasetStatus
from schemas.errors import KilowatchError
from schemas.events import AssetId, TrainingRequest, utc_now
from schemas.jobs import JobStatus
from stream_app import metrics as prom
from stream_app.lifecycle.coord import JobChannel, job_key
from stream_app.lifecycle.datasource import (
    HISTORY,
    DataSourceError,
    dataset_id,
    dataset_url,
    resolve_file,
)
from stream_app.lifecycle.service import spec_kwargs
from stream_app.settings import Settings
from stream_app.store import datasets
from stream_app.store import registry_admin as admin
from stream_app.store import repository as repo
from trainers.models import ParamError

log = logging.getLogger(__name__)
router = APIRouter(prefix="/training-jobs", tags=["training-jobs"], responses=COMMON_RESPONSES)

# request_id = uuid5(namespace, "<api key id>\n<Idempotency-Key>"): never change it (retries match on it).
IDEMPOTENCY_NAMESPACE = uuid.UUID("2b0c6c55-1d8e-5c4f-8a51-6b696c6f7761")
MAX_PARAMS_BYTES = 16 * 1024
MAX_SEED = 2**32 - 1  # what numpy's and torch's generators take
SCHEMES = ("file", "http", "https")


class TrainingJobCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    asset_id: AssetId
    model_type: str | None = Field(
        None,
        min_length=1,
        max_length=64,
        description="A model type of the trainer; omitted or null: the default model type "
        "(setting training.retrain_default_model, lightgbm unless configured).",
    )
    params: dict[str, Any] = Field(
        default_factory=dict,
        description="Model params, plus horizon, quantile, holdout_fraction, seed (at most 16 KiB).",
    )
    data_url: str | None = Field(
        None,
        max_length=2048,
        description="CSV to train on: http(s)://, file:// (under the server's data_file_roots), "
        "'dataset:<uuid>' for an uploaded dataset (ready or processed; its preprocessed series if it "
        "has one) or 'history' / null for the asset's readings history.",
    )
    request_id: uuid.UUID | None = Field(
        None, description="Idempotency: a retry with the same request_id returns the same job."
    )

    @field_validator("params")
    @classmethod
    def _bounded(cls, v: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = storable_json(v, "params", MAX_PARAMS_BYTES)
        return result

    @field_validator("data_url")
    @classmethod
    def _scheme(cls, v: str | None) -> str | None:
        if v is None or v == HISTORY:
            return v
        try:
            ident = dataset_id(v)
        except DataSourceError as exc:
            raise ValueError(str(exc)) from None
        if ident is not None:
            return dataset_url(ident)  # one spelling, so retries compare equal
        parts = urlsplit(v)
        if parts.scheme.lower() not in SCHEMES:
            raise ValueError("data_url must be http://, https://, file://, dataset:<uuid> or 'history'")
        if parts.scheme.lower() != "file" and not parts.hostname:
            raise ValueError("an http(s) data_url needs a host")
        return v


def check_spec(resources: Resources, model_type: str, params: dict[str, Any]) -> None:
    """The model type and params as the worker's trainer will check them (422 on the field)."""
    backend = training_backend(resources)
    types: tuple[str, ...] = tuple(getattr(backend, "MODEL_TYPES", ()))
    if model_type not in types:
        raise field_error(["body", "model_type"], f"unknown model type; choose one of {', '.join(types)}")
    seed = params.get("seed", 0)
    if type(seed) is not int or not 0 <= seed <= MAX_SEED:
        raise field_error(["body", "params", "seed"], f"seed must be an integer in 0..{MAX_SEED}")
    try:
        backend.TrainSpec(**spec_kwargs(model_type, params)).validate()
    except ParamError as exc:
        raise field_error(["body", "params", exc.param], str(exc)) from None
    except (KilowatchError, TypeError, ValueError) as exc:
        raise field_error(["body", "params"], str(exc)) from None


def check_data_url(data_url: str | None, settings: Settings) -> None:
    if data_url is not None and urlsplit(data_url).scheme.lower() == "file":
        try:
            resolve_file(data_url, settings.training.data_file_roots)
        except DataSourceError as exc:
            raise field_error(["body", "data_url"], str(exc)) from None


async def check_dataset(data_url: str | None, pool: asyncpg.Pool) -> None:
    """A ``dataset:<uuid>`` data_url must name a dataset that exists and is not being preprocessed
    (422 on data_url, before any job is made)."""
    ident = None if data_url is None else dataset_id(data_url)  # the body's validator checked the form
    if ident is None:
        return
    try:
        dataset = await datasets.get(pool, ident)
    except repo.NotFound:
        raise field_error(["body", "data_url"], f"dataset {ident} does not exist") from None
    if dataset.status not in (DatasetStatus.READY, DatasetStatus.PROCESSED):
        raise field_error(
            ["body", "data_url"], f"dataset {ident} is {dataset.status.value}: wait until it is ready"
        )
    if dataset.row_count == 0:
        raise field_error(["body", "data_url"], f"dataset {ident} has no readings")


def request_id_of(body: TrainingJobCreate, idempotency_key: str | None, key_id: uuid.UUID) -> uuid.UUID:
    if body.request_id is not None and idempotency_key is not None:
        raise field_error(["header", "Idempotency-Key"], "give Idempotency-Key or request_id, not both")
    if body.request_id is not None:
        return body.request_id
    if idempotency_key is not None:
        return uuid.uuid5(IDEMPOTENCY_NAMESPACE, f"{key_id}\n{idempotency_key}")
    return uuid.uuid4()


def same_request(job: repo.Job, body: TrainingJobCreate, model_type: str) -> bool:
    data_url = None if body.data_url == HISTORY else body.data_url
    job_url = None if job.data_url == HISTORY else job.data_url
    return (job.asset_id, job.model_type, job.params, job_url) == (
        body.asset_id,
        model_type,
        body.params,
        data_url,
    )


async def enqueue(resources: Resources, channel: JobChannel, job: repo.Job) -> bool:
    """Send the job's TrainingRequest unless an earlier or concurrent attempt did (a Redis SET NX
    decides): two requests for one PENDING job reaching the worker together could fail it on its own
    asset lock. Returns whether this call sent it.

    The job is marked queued on its channel (the first SSE event) before the message goes out: the
    worker may take the request at once and must not be overtaken."""
    settings = resources.settings
    marker = job_key(settings.kafka.topic_prefix, job.id, "queued")
    with redis_needed():
        if not await resources.redis.set(marker, "1", nx=True, ex=settings.training.redis_ttl_s):
            return False
    req = TrainingRequest(
        request_id=job.request_id,
        asset_id=job.asset_id,
        model_type=job.model_type,
        params=job.params,
        data_url=job.data_url,
        requested_at=utc_now(),
    )
    try:
        with redis_needed():
            await channel.status(job.id, JobStatus.PENDING.value, "queued")
        topic = settings.kafka.topic("training-requests")
        await resources.publish(topic, [(job.asset_id.encode(), req.model_dump_json().encode())])
    except ApiError:
        with contextlib.suppress(RedisError, OSError):
            await resources.redis.delete(marker)  # a retry may send it
        raise
    return True


@router.post(
    "",
    status_code=202,
    response_model=Envelope[JobPublic],
    summary="Start a training job",
    responses={409: {"description": "The asset has an open job, or the idempotency key was reused."}},
)
async def create_training_job(
    body: TrainingJobCreate,
    key: ModelKey,
    pool: PoolDep,
    resources: ResourcesDep,
    service: ServiceDep,
    response: Response,
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            min_length=1,
            max_length=255,
            description="Retries with the same key (and API key) return the same job.",
        ),
    ] = None,
) -> Envelope[JobPublic]:
    """202 with the PENDING job; poll ``/jobs/{id}`` or stream ``/jobs/{id}/logs/stream``."""
    model_type = body.model_type or resources.settings.training.retrain_default_model
    check_spec(resources, model_type, body.params)
    check_data_url(body.data_url, resources.settings)
    await check_dataset(body.data_url, pool)
    request_id = request_id_of(body, idempotency_key, key.key_id)
    channel = service.channel
    existing = await admin.job_by_request(pool, request_id)
    busy = None if existing is not None else await admin.open_job(pool, body.asset_id)
    if busy is not None and busy.request_id == request_id:
        existing, busy = busy, None  # a concurrent retry stored it between the two reads
    if existing is None:
        if busy is not None:
            raise conflict(f"asset {body.asset_id!r} already has an open training job ({busy.id})")
        await resources.producer()  # 503 before anything is written when Kafka is down
        job, created = await repo.create_job(
            pool,
            request_id=request_id,
            asset_id=body.asset_id,
            model_type=model_type,
            params=body.params,
            data_url=None if body.data_url == HISTORY else body.data_url,
        )
    else:
        job, created = existing, False
    if not created:
        if not same_request(job, body, model_type):
            raise conflict(f"request id {request_id} was used for a different training request")
        response.headers["Idempotent-Replayed"] = "true"
        if job.status is JobStatus.PENDING:  # sent unless an attempt stopped between row and message
            await enqueue(resources, channel, job)
        return ok(await job_view(job, channel))
    try:
        await enqueue(resources, channel, job)
    except ApiError:
        # Not queued: remove the row so a retry with the same key starts clean.
        await admin.delete_pending_job(pool, job.id)
        raise
    prom.TRAINING_JOBS.labels("queued", job.model_type).inc()
    log.info("training job %s of %s queued (request %s)", job.id, job.asset_id, request_id)
    return ok(await job_view(job, channel))
