"""An asset's readings over a time range, from the readings history (what the console charts).

``GET /api/v1/assets/{id}/readings?from&to&max_points`` (read scope) answers the readings the history
sink stored with ``from <= timestamp < to``, oldest first, as two parallel arrays (epoch milliseconds
and values: the compact shape a chart takes, a year of 15-minute readings is ~0.7 MB of JSON). When the
range holds more than ``max_points`` readings the newest ``max_points`` are answered and ``truncated``
says so. 404 for an asset nothing knows (see :func:`api.routes.anomalies.require_known`); a known
asset without readings in the range is an empty answer. Rows are kept for
``KILOWATCH_HISTORY_RETENTION_DAYS``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from api.deps import PoolDep, ReadKey
from api.http.envelope import COMMON_RESPONSES, Envelope, ok
from api.http.errors import field_error
from api.routes.anomalies import AssetIdPath, require_known
from stream_app.store import history

router = APIRouter(prefix="/assets", tags=["results"], responses=COMMON_RESPONSES)

MAX_POINTS = 100_000


class ReadingSeriesPublic(BaseModel):
    asset_id: str
    timestamps: list[int] = Field(description="Reading times, epoch milliseconds (UTC), ascending.")
    values: list[float] = Field(description="The reading values, one per timestamp.")
    truncated: bool = Field(description="True when the range held more readings than max_points.")


def _utc(v: datetime | None) -> datetime | None:
    if v is None:
        return None
    return v.replace(tzinfo=UTC) if v.tzinfo is None else v.astimezone(UTC)


@router.get(
    "/{asset_id:path}/readings",
    response_model=Envelope[ReadingSeriesPublic],
    summary="An asset's stored readings over a time range (newest max_points, oldest first)",
)
async def list_readings(
    asset_id: AssetIdPath,
    _key: ReadKey,
    pool: PoolDep,
    from_: Annotated[
        datetime | None, Query(alias="from", description="Inclusive lower time bound (ISO 8601).")
    ] = None,
    to: Annotated[datetime | None, Query(description="Exclusive upper time bound (ISO 8601).")] = None,
    max_points: Annotated[
        int, Query(ge=1, le=MAX_POINTS, description="At most this many readings (the newest).")
    ] = 10_000,
) -> Envelope[ReadingSeriesPublic]:
    start, end = _utc(from_), _utc(to)
    if start is not None and end is not None and start >= end:
        raise field_error(["query", "to"], "'to' must be after 'from'", status=400)
    rows = await history.fetch_range(pool, asset_id, start, end, max_points)
    if not rows:
        await require_known(pool, asset_id)
    truncated = len(rows) > max_points
    kept = rows[1:] if truncated else rows
    return ok(
        ReadingSeriesPublic(
            asset_id=asset_id,
            timestamps=[int(r["ts"].timestamp() * 1000) for r in kept],
            values=[float(r["value"]) for r in kept],
            truncated=truncated,
        )
    )
