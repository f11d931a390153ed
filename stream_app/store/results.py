"""Anomaly and forecast events in PostgreSQL (migration 0004): idempotent batch writes and retention.

Written by the results sink (:mod:`stream_app.sinks.results`); read by the API's query routes
(:mod:`api.services.results_store`). Bound parameters only.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import TypeAlias

import asyncpg
from pydantic import TypeAdapter

from schemas.events import Anomaly, Forecast, ForecastPointModel

Conn: TypeAlias = "asyncpg.Connection | asyncpg.Pool"
# Namespace of forecast ids (uuid5); never change it: the ids make a redelivered forecast the same row.
FORECAST_NAMESPACE = uuid.UUID("3c0d2a71-8e55-5f0b-b7a4-6b696c6f6663")
RETENTION_CHUNK = 10_000  # rows per DELETE, so retention never holds long locks


def forecast_id(f: Forecast) -> uuid.UUID:
    """Deterministic: the same forecast delivered twice is one row; another model's is another."""
    return uuid.uuid5(
        FORECAST_NAMESPACE, f"{f.asset_id}|{f.issued_at.isoformat()}|{f.model_id}|{f.model_version}"
    )


def _inserted(status: str) -> int:
    return int(status.rsplit(" ", 1)[-1])


async def insert_anomalies(conn: Conn, events: Sequence[Anomaly]) -> int:
    """Store a batch with one statement; an event_id already stored is left as it is (the first copy
    wins: a re-emitted verdict is the same). Returns how many rows are new."""
    if not events:
        return 0
    status: str = await conn.execute(
        """
        INSERT INTO anomalies (event_id, asset_id, ts, value, expected, lower_bound, upper_bound, score,
                               type, reason, detector, model_version, detected_at)
        SELECT * FROM unnest($1::uuid[], $2::text[], $3::timestamptz[], $4::float8[], $5::float8[],
                             $6::float8[], $7::float8[], $8::float8[], $9::text[], $10::text[], $11::text[],
                             $12::text[], $13::timestamptz[])
        ON CONFLICT (event_id) DO NOTHING
        """,
        [e.event_id for e in events],
        [e.asset_id for e in events],
        [e.timestamp for e in events],
        [e.value for e in events],
        [e.expected for e in events],
        [e.lower for e in events],
        [e.upper for e in events],
        [e.score for e in events],
        [e.type for e in events],
        [e.reason for e in events],
        [e.detector for e in events],
        [e.model_version for e in events],
        [e.detected_at for e in events],
    )
    return _inserted(status)


_POINTS = TypeAdapter(list[ForecastPointModel])


def points_text(f: Forecast) -> str:
    """The points as one JSON array (one serialiser call, not one per point: the sink stores a
    forecast per K readings of every asset)."""
    return _POINTS.dump_json(f.points).decode()


async def insert_forecasts(conn: Conn, forecasts: Sequence[Forecast]) -> int:
    """Store a batch with one statement, keyed by :func:`forecast_id`; returns how many rows are new."""
    if not forecasts:
        return 0
    status: str = await conn.execute(
        """
        INSERT INTO forecasts (forecast_id, asset_id, issued_at, model_id, model_version, horizon, points)
        SELECT id, asset, issued, model, version, horizon, points::jsonb
        FROM unnest($1::uuid[], $2::text[], $3::timestamptz[], $4::text[], $5::text[], $6::int[],
                    $7::text[]) AS t(id, asset, issued, model, version, horizon, points)
        ON CONFLICT (forecast_id) DO NOTHING
        """,
        [forecast_id(f) for f in forecasts],
        [f.asset_id for f in forecasts],
        [f.issued_at for f in forecasts],
        [f.model_id for f in forecasts],
        [f.model_version for f in forecasts],
        [len(f.points) for f in forecasts],
        # as JSON text: asyncpg would take a list inside a jsonb[] for a second array dimension
        [points_text(f) for f in forecasts],
    )
    return _inserted(status)


async def delete_stored_before(conn: Conn, table: str, cutoff: datetime) -> int:
    """Retention: delete rows stored before ``cutoff`` in chunks; returns how many."""
    if table not in ("anomalies", "forecasts"):
        raise ValueError(f"not a results table: {table!r}")
    total = 0
    while True:
        status: str = await conn.execute(
            f"DELETE FROM {table} WHERE ctid = ANY(ARRAY("
            f"SELECT ctid FROM {table} WHERE stored_at < $1 LIMIT {RETENTION_CHUNK}))",
            cutoff,
        )
        n = _inserted(status)
        total += n
        if n < RETENTION_CHUNK:
            return total
