"""Anomalies of an asset, as stored by the results sink: filtered by time, type and score, paged.

Paging and the time filters use the anomaly's ``timestamp`` (the reading's time, not when it was
detected or stored): ``from``/``to`` bound it and ``sort=created_at:desc|asc`` (the API-wide name of
the sort parameter) orders by it, ties broken by ``event_id``. 404 only for an asset that is neither
registered nor seen by the stream (see :func:`api.services.results_store.asset_known`); a known asset without
anomalies is an empty page.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

import asyncpg
from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, Field

from api.deps import PoolDep, ReadKey
from api.http.envelope import COMMON_RESPONSES, Envelope, Page
from api.http.errors import ApiError, Code
from api.http.pagination import PageDep, paged
from api.services import results_store
from schemas.events import ASSET_ID_PATTERN, AnomalyKind
from stream_app.store.repository import Conn

router = APIRouter(prefix="/assets", tags=["results"], responses=COMMON_RESPONSES)

AssetIdPath = Annotated[
    str, Path(pattern=ASSET_ID_PATTERN, max_length=128, description="The asset (meter) id.")
]


class AnomalyPublic(BaseModel):
    event_id: uuid.UUID = Field(description="Deterministic id of the event (the Kafka event's event_id).")
    asset_id: str
    timestamp: datetime = Field(description="Time of the flagged reading (UTC).")
    value: float
    expected: float
    lower: float
    upper: float
    score: float = Field(description="Calibrated anomaly score in [0, 1].")
    type: AnomalyKind
    reason: str
    detector: str
    model_version: str
    detected_at: datetime = Field(description="When the worker scored the reading.")

    @classmethod
    def of(cls, r: asyncpg.Record) -> AnomalyPublic:
        return cls(
            event_id=r["event_id"],
            asset_id=r["asset_id"],
            timestamp=r["ts"],
            value=r["value"],
            expected=r["expected"],
            lower=r["lower_bound"],
            upper=r["upper_bound"],
            score=r["score"],
            type=r["type"],
            reason=r["reason"],
            detector=r["detector"],
            model_version=r["model_version"],
            detected_at=r["detected_at"],
        )


async def require_known(conn: Conn, asset_id: str) -> None:
    """404 for an asset nothing knows (called only when a page came back empty)."""
    if not await results_store.asset_known(conn, asset_id):
        raise ApiError(404, Code.RESOURCE_NOT_FOUND, "asset_not_found", asset_id=asset_id)


@router.get(
    "/{asset_id:path}/anomalies",
    response_model=Envelope[Page[AnomalyPublic]],
    summary="An asset's anomalies (filtered, cursor-paged by the anomaly timestamp)",
)
async def list_anomalies(
    asset_id: AssetIdPath,
    _key: ReadKey,
    pool: PoolDep,
    page: PageDep,
    types: Annotated[
        list[AnomalyKind] | None,
        Query(alias="type", description="Only these types (repeat the parameter for several)."),
    ] = None,
    min_score: Annotated[float | None, Query(ge=0.0, le=1.0, description="Only scores >= this.")] = None,
) -> Envelope[Page[AnomalyPublic]]:
    rows = await results_store.list_anomalies(pool, asset_id, page, types or (), min_score)
    if not rows:
        await require_known(pool, asset_id)
    return paged(rows, page, lambda r: (r["ts"], r["event_id"]), AnomalyPublic.of)
