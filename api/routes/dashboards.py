"""The dashboard of a dataset, computed on request: summary, 24-hour load curve (last 30 days), daily
trend (last 90 days), tariff-period distribution (default periods) and the anomalies of the latest
``anomalies`` job. Scope ``read``."""

from __future__ import annotations

import asyncio
import uuid

from fastapi import APIRouter

from api.deps import PoolDep, ReadKey
from api.http.envelope import COMMON_RESPONSES, Envelope, ok
from api.http.errors import ApiError, Code
from api.services.analytics import best_frame, latest_anomalies
from schemas.analytics import Dashboard
from schemas.errors import DataError
from stream_app.analytics.dashboard import dashboard

router = APIRouter(prefix="/dashboards", tags=["analytics"], responses=COMMON_RESPONSES)


@router.get("/{dataset_id}", response_model=Envelope[Dashboard], summary="A dataset's dashboard")
async def get_dashboard(dataset_id: uuid.UUID, _key: ReadKey, pool: PoolDep) -> Envelope[Dashboard]:
    """422 PROCESSING_ERROR when the dataset holds no finite reading."""
    frame = await best_frame(pool, dataset_id)
    anomalies = await latest_anomalies(pool, dataset_id)
    try:
        board = await asyncio.to_thread(dashboard, frame, anomalies)
    except DataError as exc:
        raise ApiError(422, Code.PROCESSING_ERROR, "processing", details={"reason": str(exc)}) from exc
    return ok(board)
