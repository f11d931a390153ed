"""Statistics of a dataset as a job: totals, daily average, peak/valley load, tariff periods, cost, trend.

Scope ``read``: analytics read a dataset and store a result; they never change the data (uploading,
preprocessing and deleting need ``write``).
"""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Response

from api.deps import PoolDep, ReadKey
from api.http.envelope import COMMON_RESPONSES, Envelope, ok
from api.services.analytics import queue
from schemas.analytics import StatisticsParams
from schemas.jobs import GenericJobPublic
from stream_app.jobs import analytics_jobs

router = APIRouter(prefix="/datasets", tags=["analytics"], responses=COMMON_RESPONSES)


@router.post(
    "/{dataset_id}/statistics",
    status_code=202,
    response_model=Envelope[GenericJobPublic],
    summary="Statistics of a dataset (a job)",
)
async def create_statistics(
    dataset_id: uuid.UUID, body: StatisticsParams, _key: ReadKey, pool: PoolDep, response: Response
) -> Envelope[GenericJobPublic]:
    """Queues a ``statistics`` job (202; follow it at ``GET /jobs/{id}``, read it at
    ``GET /jobs/{id}/result``). ``periods`` must split the 24 hours into peak, valley and flat without
    overlap (422 names the field); with ``prices`` the cost is computed. The trend is the Mann-Kendall
    test on daily totals."""
    return ok(await queue(pool, dataset_id, analytics_jobs.STATISTICS, body, response))
