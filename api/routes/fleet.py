"""The fleet at a glance for the console's first page: ``GET /fleet``, one row per registered asset with
its last reading, its anomalies of the last 24 hours and its active model version, searchable and
cursor-paged like the other lists (newest asset first by default). One database query per page.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import asyncpg
from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from api.deps import PoolDep, ReadKey
from api.http.envelope import COMMON_RESPONSES, Envelope, Page, ok_page
from api.http.errors import field_error
from api.http.pagination import PageDep, finish
from api.services import fleet_store

router = APIRouter(prefix="/fleet", tags=["assets"], responses=COMMON_RESPONSES)


class FleetAssetPublic(BaseModel):
    asset_id: str
    name: str
    created_at: datetime = Field(description="When the asset was registered (the page's sort key).")
    last_reading_at: datetime | None = Field(description="Time of its last stored reading (null: none).")
    last_value: float | None = Field(description="Value of that reading.")
    anomalies_24h: int = Field(
        description=f"Anomalies whose reading time is within the last 24 hours (counted up to "
        f"{fleet_store.ANOMALY_CAP})."
    )
    active_model_type: str | None = Field(description="Model type of the active version (null: none).")
    active_version: int | None = Field(description="The active version's number.")
    activated_at: datetime | None = Field(description="When that version became active.")

    @classmethod
    def of(cls, r: asyncpg.Record) -> FleetAssetPublic:
        return cls(
            asset_id=r["asset_id"],
            name=r["name"],
            created_at=r["created_at"],
            last_reading_at=r["last_ts"],
            last_value=r["last_value"],
            anomalies_24h=r["anomalies_24h"],
            active_model_type=r["model_type"],
            active_version=r["version"],
            activated_at=r["activated_at"],
        )


@router.get(
    "",
    response_model=Envelope[Page[FleetAssetPublic]],
    summary="Every asset with its last reading, anomalies in 24 h and active model (searchable, paged)",
)
async def fleet(
    _key: ReadKey,
    pool: PoolDep,
    page: PageDep,
    q: Annotated[
        str | None,
        Query(
            max_length=128,
            description="Only assets whose id or name contains this (case-insensitive; % and _ are literal).",
        ),
    ] = None,
) -> Envelope[Page[FleetAssetPublic]]:
    """``from``/``to`` bound the registration time. Assets only seen by the stream (never registered)
    are not listed."""
    if q is not None and "\x00" in q:
        raise field_error(["query", "q"], "must not contain NUL characters")
    needle = q.strip() if q else None
    rows = await fleet_store.fleet_page(pool, page, needle or None)
    items, meta = finish(rows, page, lambda r: (r["created_at"], r["asset_id"]))
    return ok_page([FleetAssetPublic.of(r) for r in items], meta)
