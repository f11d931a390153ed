"""Read query of the alert episodes (``alert_episodes``, written by the alerting service) for
``GET /api/v1/alert-episodes``: keyset-paged by (opened_at, episode_id), newest first by default, served
by the ``alert_episodes_recent`` index (migration 0080). Bound parameters only."""

from __future__ import annotations

from typing import Any

import asyncpg

from api.http.pagination import PageParams, keyset
from stream_app.store.repository import Conn

COLUMNS = (
    "episode_id, asset_id, opened_at, last_anomaly_at, closed_at, anomaly_count, max_score, types, alerted"
)


async def episodes_page(
    conn: Conn, page: PageParams, asset_id: str | None, open_only: bool
) -> list[asyncpg.Record]:
    """One page (limit + 1 rows) of episodes, of one asset when given, only open ones when asked."""
    conds: list[str] = []
    args: list[Any] = []
    if asset_id is not None:
        args.append(asset_id)
        conds.append(f"asset_id = ${len(args)}")
    if open_only:
        conds.append("closed_at IS NULL")
    more, more_args, order = keyset(page, "opened_at", "episode_id", len(args) + 1)
    conds += more
    where = f"WHERE {' AND '.join(conds)}" if conds else ""
    return list(await conn.fetch(f"SELECT {COLUMNS} FROM alert_episodes {where} {order}", *args, *more_args))
