"""The latest stored result of an analytics job type for a dataset (the dashboard's recent anomalies,
load patterns and tariff prices)."""

from __future__ import annotations

import uuid
from typing import Any

from stream_app.store.repository import Conn


async def latest(conn: Conn, dataset_id: uuid.UUID, type_name: str) -> dict[str, Any] | None:
    """``data`` of the newest result of ``type_name`` for the dataset, or None."""
    data = await conn.fetchval(
        "SELECT data FROM job_results WHERE dataset_id = $1 AND type = $2 "
        "ORDER BY created_at DESC, id DESC LIMIT 1",
        dataset_id,
        type_name,
    )
    return None if data is None else dict(data)


async def latest_prices(conn: Conn, dataset_id: uuid.UUID) -> dict[str, Any] | None:
    """The tariff prices of the dataset's newest succeeded statistics job that was given prices, or None."""
    data = await conn.fetchval(
        "SELECT j.params->'prices' FROM job_results r JOIN jobs j ON j.id = r.job_id "
        "WHERE r.dataset_id = $1 AND r.type = 'statistics' AND jsonb_typeof(j.params->'prices') = 'object' "
        "ORDER BY r.created_at DESC, r.id DESC LIMIT 1",
        dataset_id,
    )
    return None if data is None else dict(data)
