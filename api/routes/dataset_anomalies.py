"""Anomalies of a whole dataset as a job (autoencoder or the stream's online detector). Scope ``read``."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Response

from api.deps import PoolDep, ReadKey
from api.http.envelope import COMMON_RESPONSES, Envelope, ok
from api.services.analytics import queue
from schemas.analytics import DatasetAnomaliesParams
from schemas.jobs import GenericJobPublic
from stream_app.jobs import analytics_jobs

router = APIRouter(prefix="/datasets", tags=["analytics"], responses=COMMON_RESPONSES)


@router.post(
    "/{dataset_id}/anomalies",
    status_code=202,
    response_model=Envelope[GenericJobPublic],
    summary="Anomalies of a dataset (a job)",
)
async def create_dataset_anomalies(
    dataset_id: uuid.UUID, body: DatasetAnomaliesParams, _key: ReadKey, pool: PoolDep, response: Response
) -> Envelope[GenericJobPublic]:
    """Queues an ``anomalies`` job (202). ``autoencoder`` (default; threshold 0-1, default 0.85, on the
    score r/(1+r) of the window's reconstruction error r times the typical one; ``window_hours``) or
    ``streaming`` (the stream's detector, its calibrated score, default threshold 0.996). Each anomaly
    has ``type`` and ``type_display`` (zh-CN, en-US)."""
    return ok(await queue(pool, dataset_id, analytics_jobs.ANOMALIES, body, response))
