"""Recent alert episodes (``GET /alert-episodes``): the runs of anomalies the alerting service groups per
asset (an episode opens with an anomaly and closes after a quiet recovery window; one alert per
episode, see :mod:`stream_app.alerting.hygiene`). Read scope; newest first by opening time, cursor-paged
like the other lists; ``from``/``to`` bound the opening time.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

import asyncpg
from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from api.deps import PoolDep, ReadKey
from api.http.envelope import COMMON_RESPONSES, Envelope, Page, ok_page
from api.http.pagination import PageDep, finish
from api.services import episodes_store
from schemas.events import ASSET_ID_PATTERN

router = APIRouter(prefix="/alert-episodes", tags=["alerts"], responses=COMMON_RESPONSES)


class AlertEpisodePublic(BaseModel):
    episode_id: uuid.UUID
    asset_id: str
    opened_at: datetime = Field(
        description="When its first anomaly was detected (the worker's clock, UTC; not the reading's time)."
    )
    last_anomaly_at: datetime = Field(
        description="When its latest anomaly was detected (the worker's clock)."
    )
    closed_at: datetime | None = Field(description="When it closed (null: still open).")
    open: bool = Field(description="Whether the episode is still open.")
    anomaly_count: int = Field(description="Anomalies grouped into it.")
    max_score: float = Field(description="Highest anomaly score in it, in [0, 1].")
    types: list[str] = Field(description="The anomaly types seen in it (spike, dip, ...).")
    alerted: bool = Field(description="Whether an alert was queued for it.")

    @classmethod
    def of(cls, r: asyncpg.Record) -> AlertEpisodePublic:
        return cls(
            episode_id=r["episode_id"],
            asset_id=r["asset_id"],
            opened_at=r["opened_at"],
            last_anomaly_at=r["last_anomaly_at"],
            closed_at=r["closed_at"],
            open=r["closed_at"] is None,
            anomaly_count=r["anomaly_count"],
            max_score=r["max_score"],
            types=list(r["types"]),
            alerted=r["alerted"],
        )


@router.get(
    "",
    response_model=Envelope[Page[AlertEpisodePublic]],
    summary="Recent alert episodes, newest first (paged)",
)
async def list_episodes(
    _key: ReadKey,
    pool: PoolDep,
    page: PageDep,
    asset_id: Annotated[
        str | None, Query(pattern=ASSET_ID_PATTERN, max_length=128, description="Only this asset's.")
    ] = None,
    open_only: Annotated[bool, Query(alias="open", description="Only episodes still open.")] = False,
) -> Envelope[Page[AlertEpisodePublic]]:
    rows = await episodes_store.episodes_page(pool, page, asset_id, open_only)
    items, meta = finish(rows, page, lambda r: (r["opened_at"], r["episode_id"]))
    return ok_page([AlertEpisodePublic.of(r) for r in items], meta)
