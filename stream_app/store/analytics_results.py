"""The latest stored result of an analytics job type for a dataset (the dashboard's recent anomalies)."""

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
