"""Forecasts of an asset, as stored by the results sink: the history (paged by ``issued_at``, the
time of the last reading a forecast used; ``from``/``to`` bound it) and the latest one.

404: an asset neither registered nor seen by the stream; ``/latest`` also when a known asset has no
forecast yet (a worker issues one every ``forecast_every`` readings of an asset).
"""

from __future__ import annotations

import uuid
from datetime import datetime

import asyncpg
from fastapi import APIRouter
from pydantic import BaseModel, Field

from api.deps import PoolDep, ReadKey
from api.http.envelope import COMMON_RESPONSES, Envelope, Page, ok
from api.http.errors import ApiError, Code
from api.http.pagination import PageDep, paged
from api.routes.anomalies import AssetIdPath, require_known
from api.services import results_store

router = APIRouter(prefix="/assets", tags=["results"], responses=COMMON_RESPONSES)


class ForecastPointPublic(BaseModel):
    timestamp: datetime
    predicted_value: float
    lower: float
    upper: float


class ForecastPublic(BaseModel):
    forecast_id: uuid.UUID = Field(description="uuid5 of asset, issued_at, model id and version.")
    asset_id: str
    issued_at: datetime = Field(description="Timestamp of the last reading the forecast used.")
    model_id: str
    model_version: str
    horizon: int
    points: list[ForecastPointPublic]

    @classmethod
    def of(cls, r: asyncpg.Record) -> ForecastPublic:
        return cls(
            forecast_id=r["forecast_id"],
            asset_id=r["asset_id"],
            issued_at=r["issued_at"],
            model_id=r["model_id"],
            model_version=r["model_version"],
            horizon=r["horizon"],
            points=[ForecastPointPublic.model_validate(p) for p in r["points"]],
        )


@router.get(
    "/{asset_id:path}/forecasts",
    response_model=Envelope[Page[ForecastPublic]],
    summary="An asset's forecast history (cursor-paged by issued_at)",
)
async def list_forecasts(
    asset_id: AssetIdPath, _key: ReadKey, pool: PoolDep, page: PageDep
) -> Envelope[Page[ForecastPublic]]:
    rows = await results_store.list_forecasts(pool, asset_id, page)
    if not rows:
        await require_known(pool, asset_id)
    return paged(rows, page, lambda r: (r["issued_at"], r["forecast_id"]), ForecastPublic.of)


@router.get(
    "/{asset_id:path}/forecasts/latest",
    response_model=Envelope[ForecastPublic],
    summary="An asset's latest forecast",
)
async def latest_forecast(asset_id: AssetIdPath, _key: ReadKey, pool: PoolDep) -> Envelope[ForecastPublic]:
    row = await results_store.latest_forecast(pool, asset_id)
    if row is None:
        await require_known(pool, asset_id)
        raise ApiError(404, Code.RESOURCE_NOT_FOUND, "no_forecast", asset_id=asset_id)
    return ok(ForecastPublic.of(row))
