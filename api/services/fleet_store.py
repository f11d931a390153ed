"""The fleet summary's one query: every registered asset with its last stored reading, its anomalies of
the last 24 hours, and its active model version (``GET /api/v1/fleet``). Bound parameters only.

One statement whatever the page size: the last reading comes from the readings history's primary key
(asset_id, ts) read backwards, the count from the anomalies' (asset_id, ts) index (capped at
ANOMALY_CAP per asset, so a storm costs a bounded scan), the active version from the partial unique
index ``model_versions_one_active``. Paged by keyset on (created_at, asset_id) like ``GET /assets``.
"""

from __future__ import annotations

from typing import Any

import asyncpg

from api.http.pagination import PageParams, keyset
from stream_app.store.repository import Conn

ANOMALY_CAP = 10_000  # counted at most this many per asset (shown as "10000+")
_SQL = """
SELECT a.asset_id, a.name, a.created_at, last.ts AS last_ts, last.value AS last_value,
       (SELECT count(*) FROM (SELECT 1 FROM anomalies x
                              WHERE x.asset_id = a.asset_id AND x.ts >= now() - interval '24 hours'
                              LIMIT {cap}) c) AS anomalies_24h,
       m.model_type, m.version, m.activated_at
FROM assets a
LEFT JOIN LATERAL (SELECT h.ts, h.value FROM readings_history h WHERE h.asset_id = a.asset_id
                   ORDER BY h.ts DESC LIMIT 1) last ON true
LEFT JOIN model_versions m ON m.asset_id = a.asset_id AND m.status = 'active'
{where} {order}
"""


def like_pattern(needle: str) -> str:
    """A case-insensitive substring pattern for ILIKE ... ESCAPE '\\' (the user's % and _ are literal)."""
    escaped = needle.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


async def fleet_page(conn: Conn, page: PageParams, search: str | None) -> list[asyncpg.Record]:
    """One page (limit + 1 rows) of the fleet; ``search`` matches a substring of the id or the name."""
    conds: list[str] = []
    args: list[Any] = []
    if search:
        args.append(like_pattern(search))
        conds.append("(a.asset_id ILIKE $1 ESCAPE '\\' OR a.name ILIKE $1 ESCAPE '\\')")
    more, more_args, order = keyset(page, "a.created_at", "a.asset_id", len(args) + 1)
    conds += more
    where = f"WHERE {' AND '.join(conds)}" if conds else ""
    sql = _SQL.format(cap=ANOMALY_CAP, where=where, order=order)
    return list(await conn.fetch(sql, *args, *more_args))
