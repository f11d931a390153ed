"""Read queries of the results tables (migration 0004) for the query routes. Bound parameters only.

The sink writes these tables (:mod:`stream_app.store.results`); here they are paged by keyset
(:mod:`api.http.pagination`): anomalies by (timestamp of the reading, event_id), forecasts by (issued_at,
forecast_id), both served by the (asset_id, time, id::text) indexes of the migration.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import asyncpg

from api.http.pagination import PageParams, keyset
from stream_app.store.repository import Conn

ANOMALY_COLUMNS = (
    "event_id, asset_id, ts, value, expected, lower_bound, upper_bound, score, type, reason, detector, "
    "model_version, detected_at"
)
FORECAST_COLUMNS = "forecast_id, asset_id, issued_at, model_id, model_version, horizon, points"


def _where(conds: Sequence[str]) -> str:
    return f"WHERE {' AND '.join(conds)}"


async def list_anomalies(
    conn: Conn, asset_id: str, page: PageParams, types: Sequence[str], min_score: float | None
) -> list[asyncpg.Record]:
    """One page (limit + 1 rows) of an asset's anomalies, filtered by type and minimum score."""
    conds = ["asset_id = $1"]
    args: list[Any] = [asset_id]
    if types:
        args.append(list(types))
        conds.append(f"type = ANY(${len(args)}::text[])")
    if min_score is not None:
        args.append(min_score)
        conds.append(f"score >= ${len(args)}")
    more, more_args, order = keyset(page, "ts", "event_id", len(args) + 1)
    sql = f"SELECT {ANOMALY_COLUMNS} FROM anomalies {_where(conds + more)} {order}"
    return list(await conn.fetch(sql, *args, *more_args))


async def list_forecasts(conn: Conn, asset_id: str, page: PageParams) -> list[asyncpg.Record]:
    """One page (limit + 1 rows) of an asset's forecasts by issue time."""
    more, more_args, order = keyset(page, "issued_at", "forecast_id", 2)
    sql = f"SELECT {FORECAST_COLUMNS} FROM forecasts {_where(['asset_id = $1', *more])} {order}"
    return list(await conn.fetch(sql, asset_id, *more_args))


async def latest_forecast(conn: Conn, asset_id: str) -> asyncpg.Record | None:
    """The forecast issued last (of two issued at the same reading, the one stored last)."""
    row: asyncpg.Record | None = await conn.fetchrow(
        f"SELECT {FORECAST_COLUMNS} FROM forecasts WHERE asset_id = $1 "
        "ORDER BY issued_at DESC, stored_at DESC LIMIT 1",
        asset_id,
    )
    return row


async def asset_known(conn: Conn, asset_id: str) -> bool:
    """Registered, or seen by the stream (results or readings history): only an asset none of these
    know is answered 404 — the stream does not register assets, so results alone make one known."""
    known: bool = await conn.fetchval(
        """
        SELECT EXISTS (SELECT 1 FROM assets WHERE asset_id = $1)
            OR EXISTS (SELECT 1 FROM anomalies WHERE asset_id = $1)
            OR EXISTS (SELECT 1 FROM forecasts WHERE asset_id = $1)
            OR EXISTS (SELECT 1 FROM readings_history WHERE asset_id = $1)
        """,
        asset_id,
    )
    return known
