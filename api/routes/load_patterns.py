"""Daily load patterns of a dataset as a job (k-means over 24-hour profiles, or rules). Scope ``read``."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Response

from api.deps import PoolDep, ReadKey
from api.http.envelope import COMMON_RESPONSES, Envelope, ok
from api.services.analytics import queue
from schemas.analytics import LoadPatternsParams
from schemas.jobs import GenericJobPublic
from stream_app.jobs import analytics_jobs

router = APIRouter(prefix="/datasets", tags=["analytics"], responses=COMMON_RESPONSES)


@router.post(
    "/{dataset_id}/load-patterns",
    status_code=202,
    response_model=Envelope[GenericJobPublic],
    summary="Load patterns of a dataset (a job)",
)
async def create_load_patterns(
    dataset_id: uuid.UUID, body: LoadPatternsParams, _key: ReadKey, pool: PoolDep, response: Response
) -> Envelope[GenericJobPublic]:
    """Queues a ``load_patterns`` job (202): ``kmeans`` (k 2-5, seeded) or ``rules``; each pattern has a
    label (daytime_usage, night_usage, balanced, office_worker, home_office, energy_saver,
    high_consumption) with zh-CN/en-US names, confidence, centroid, description and 24-hour profile."""
    return ok(await queue(pool, dataset_id, analytics_jobs.LOAD_PATTERNS, body, response))
