"""Readings history in PostgreSQL: the data source ``history`` of training jobs.

Written in batches by the history sink agent (idempotent upsert by asset and timestamp: a redelivered
reading overwrites itself), trimmed by a retention timer, read back as a CSV the trainers parse like
any uploaded file.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from datetime import datetime
from typing import Any, TypeAlias

import asyncpg

Conn: TypeAlias = "asyncpg.Connection | asyncpg.Pool"  # both have fetch/fetchrow/execute
HistoryRow = tuple[str, datetime, float, dict[str, float]]


async def insert_readings(conn: Conn, rows: Sequence[HistoryRow]) -> int:
    """Upsert a batch (asset_id, ts, value, covariates) with one statement; returns the row count."""
    if not rows:
        return 0
    await conn.execute(
        """
        INSERT INTO readings_history (asset_id, ts, value, covariates)
        SELECT * FROM unnest($1::text[], $2::timestamptz[], $3::float8[], $4::jsonb[])
        ON CONFLICT (asset_id, ts) DO UPDATE SET value = excluded.value, covariates = excluded.covariates
        """,
        [r[0] for r in rows],
        [r[1] for r in rows],
        [r[2] for r in rows],
        [r[3] for r in rows],
    )
    return len(rows)


async def delete_older_than(conn: Conn, cutoff: datetime) -> int:
    """Retention: drop rows dated before ``cutoff``; returns how many."""
    status: str = await conn.execute("DELETE FROM readings_history WHERE ts < $1", cutoff)
    return int(status.rsplit(" ", 1)[-1])


async def fetch_csv(conn: Conn, asset_id: str, max_rows: int) -> tuple[bytes, int]:
    """The newest ``max_rows`` readings of an asset, oldest first, as CSV bytes
    (``timestamp,value,<covariates...>``), and the row count."""
    rows = await conn.fetch(
        """
        SELECT ts, value, covariates FROM (
            SELECT ts, value, covariates FROM readings_history WHERE asset_id = $1
            ORDER BY ts DESC LIMIT $2
        ) t ORDER BY ts
        """,
        asset_id,
        max_rows,
    )
    names: list[str] = sorted({k for r in rows for k in (r["covariates"] or {})})
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["timestamp", "value", *names])
    for r in rows:
        cov: dict[str, Any] = r["covariates"] or {}
        writer.writerow([r["ts"].isoformat(), repr(float(r["value"])), *(cov.get(n, "") for n in names)])
    return buf.getvalue().encode(), len(rows)


async def fetch_range(
    conn: Conn, asset_id: str, start: datetime | None, end: datetime | None, max_rows: int
) -> list[asyncpg.Record]:
    """Readings of an asset with ``start <= ts < end`` (either bound open), oldest first: the newest
    ``max_rows + 1`` of them (one more than asked, so the caller knows the range held more)."""
    rows: list[asyncpg.Record] = await conn.fetch(
        """
        SELECT ts, value FROM (
            SELECT ts, value FROM readings_history
            WHERE asset_id = $1 AND ($2::timestamptz IS NULL OR ts >= $2)
              AND ($3::timestamptz IS NULL OR ts < $3)
            ORDER BY ts DESC LIMIT $4
        ) t ORDER BY ts
        """,
        asset_id,
        start,
        end,
        max_rows + 1,
    )
    return rows
