"""Datasets and their readings in PostgreSQL (migration 0070). Bound parameters only.

A dataset and its readings are written in one transaction (COPY into ``dataset_readings``): an upload
is stored whole or not at all. Deleting a dataset deletes, by foreign keys, its readings, its jobs and
their results.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
import numpy as np
import pandas as pd

from schemas.datasets import DatasetStatus
from stream_app.store.paging import Keyset, page_rows
from stream_app.store.repository import Conn, NotFound, RegistryConflict

RAW, PROCESSED = 0, 1
# A new zone rewrites every reading of the dataset in one transaction: its statements may take longer
# than the API's usual bound on one statement (api.db_timeout_s).
REZONE_TIMEOUT_S = 120.0
_COLS = (
    "id, name, status, file_name, file_format, file_bytes, timezone, unit, detection, interval_s, "
    "row_count, start_at, end_at, processed, created_at, updated_at"
)


@dataclass(frozen=True)
class Dataset:
    id: uuid.UUID
    name: str
    status: DatasetStatus
    file_name: str
    file_format: str
    file_bytes: int
    timezone: str
    unit: str
    detection: dict[str, Any]
    interval_s: int
    row_count: int
    start_at: datetime | None
    end_at: datetime | None
    processed: dict[str, Any] | None
    created_at: datetime
    updated_at: datetime


def _dataset(r: asyncpg.Record) -> Dataset:
    d = dict(r)
    d["status"] = DatasetStatus(d["status"])
    return Dataset(**d)


def _records(dataset_id: uuid.UUID, series: int, frame: pd.DataFrame) -> list[tuple[Any, ...]]:
    ts = frame.index.tz_convert("UTC").to_pydatetime()
    values = frame["value"].to_numpy(dtype=float)
    return [
        (dataset_id, series, t, None if np.isnan(v) else float(v)) for t, v in zip(ts, values, strict=True)
    ]


async def create(
    pool: asyncpg.Pool,
    *,
    name: str,
    file_name: str,
    file_format: str,
    file_bytes: int,
    timezone: str,
    unit: str,
    detection: dict[str, Any],
    interval_s: int,
    frame: pd.DataFrame,
) -> Dataset:
    """The dataset row and every reading, in one transaction."""
    dataset_id = uuid.uuid4()
    # Millions of rows are seconds of Python: built off the event loop.
    records = await asyncio.to_thread(_records, dataset_id, RAW, frame)
    start = frame.index[0].to_pydatetime() if len(frame) else None
    end = frame.index[-1].to_pydatetime() if len(frame) else None
    async with pool.acquire() as conn, conn.transaction():
        row = await conn.fetchrow(
            f"INSERT INTO datasets (id, name, file_name, file_format, file_bytes, timezone, unit, "
            f"detection, interval_s, row_count, start_at, end_at) "
            f"VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) "
            f"RETURNING {_COLS}",
            dataset_id,
            name,
            file_name,
            file_format,
            file_bytes,
            timezone,
            unit,
            detection,
            interval_s,
            len(frame),
            start,
            end,
        )
        await conn.copy_records_to_table(
            "dataset_readings",
            records=records,
            columns=["dataset_id", "series", "ts", "value"],
        )
    return _dataset(row)


async def get(conn: Conn, dataset_id: uuid.UUID) -> Dataset:
    row = await conn.fetchrow(f"SELECT {_COLS} FROM datasets WHERE id = $1", dataset_id)
    if row is None:
        raise NotFound(f"dataset {dataset_id}")
    return _dataset(row)


async def list_datasets(conn: Conn, keyset: Keyset, *, status: str | None = None) -> list[Dataset]:
    """A page of datasets; ``keyset`` is ``api.http.pagination.keyset`` bound to the page."""
    return await page_rows(conn, keyset, "datasets", _dataset, columns=_COLS, filters=[("status", status)])


async def update(conn: Conn, dataset_id: uuid.UUID, *, name: str | None = None) -> Dataset:
    """Rename (a new zone is :func:`rezone`'s)."""
    row = await conn.fetchrow(
        f"UPDATE datasets SET name = COALESCE($2, name), updated_at = now() WHERE id = $1 RETURNING {_COLS}",
        dataset_id,
        name,
    )
    if row is None:
        raise NotFound(f"dataset {dataset_id}")
    return _dataset(row)


# (the series as uploaded, the dataset, the new zone) -> (the series in the new zone, whether its instants
# moved, how many readings were dropped)
Reframe = Callable[[pd.DataFrame, Dataset, str], tuple[pd.DataFrame, bool, int]]


async def rezone(pool: asyncpg.Pool, dataset_id: uuid.UUID, timezone: str, reframe: Reframe) -> Dataset:
    """Give the dataset a new zone, in one transaction: the readings as uploaded are replaced by
    ``reframe``'s (their instants move when the upload's timestamps were naive), and everything derived
    with the old local time is removed (the processed series, the finished jobs and their results). The
    dataset's row is locked meanwhile, so no job starts on it; RegistryConflict while one is open."""
    async with pool.acquire() as conn, conn.transaction():
        row = await conn.fetchrow(f"SELECT {_COLS} FROM datasets WHERE id = $1 FOR UPDATE", dataset_id)
        if row is None:
            raise NotFound(f"dataset {dataset_id}")
        dataset = _dataset(row)
        if dataset.timezone == timezone:
            return dataset
        open_jobs = int(
            await conn.fetchval(
                "SELECT count(*) FROM jobs WHERE dataset_id = $1 AND status IN ('queued', 'running')",
                dataset_id,
            )
        )
        if open_jobs:
            raise RegistryConflict(
                f"dataset {dataset_id} has {open_jobs} open job(s): cancel them or let them end before "
                "changing its time zone"
            )
        raw = await frame(conn, dataset, RAW, statement_s=REZONE_TIMEOUT_S)
        moved, shifted, dropped = await asyncio.to_thread(reframe, raw, dataset, timezone)
        processed = await conn.execute(
            "DELETE FROM dataset_readings WHERE dataset_id = $1 AND series = $2",
            dataset_id,
            PROCESSED,
            timeout=REZONE_TIMEOUT_S,
        )
        jobs = await conn.execute("DELETE FROM jobs WHERE dataset_id = $1", dataset_id)
        if shifted:
            await conn.execute(
                "DELETE FROM dataset_readings WHERE dataset_id = $1 AND series = $2",
                dataset_id,
                RAW,
                timeout=REZONE_TIMEOUT_S,
            )
            await conn.copy_records_to_table(
                "dataset_readings",
                records=await asyncio.to_thread(_records, dataset_id, RAW, moved),
                columns=["dataset_id", "series", "ts", "value"],
                timeout=REZONE_TIMEOUT_S,
            )
        detection = {
            **dataset.detection,
            "timezone": timezone,
            "rezoned": {
                "from": dataset.timezone,
                "to": timezone,
                "readings_shifted": shifted,
                "dst_dropped": dropped,
                "removed_processed_readings": int(processed.split()[-1]),
                "removed_jobs": int(jobs.split()[-1]),
            },
        }
        row = await conn.fetchrow(
            f"UPDATE datasets SET timezone = $2, detection = $3, row_count = $4, start_at = $5, end_at = $6, "
            f"processed = NULL, status = 'ready', updated_at = now() WHERE id = $1 RETURNING {_COLS}",
            dataset_id,
            timezone,
            detection,
            len(moved),
            moved.index[0].to_pydatetime() if len(moved) else None,
            moved.index[-1].to_pydatetime() if len(moved) else None,
        )
    return _dataset(row)


async def delete(conn: Conn, dataset_id: uuid.UUID) -> bool:
    """Deletes the dataset and (by cascade) its readings, jobs and results; False if there was none."""
    done = await conn.execute("DELETE FROM datasets WHERE id = $1", dataset_id)
    return bool(done.endswith(" 1"))


async def set_status(conn: Conn, dataset_id: uuid.UUID, status: DatasetStatus) -> None:
    await conn.execute(
        "UPDATE datasets SET status = $2, updated_at = now() WHERE id = $1", dataset_id, status.value
    )


async def replace_processed(
    conn: asyncpg.Connection, dataset_id: uuid.UUID, frame: pd.DataFrame, summary: dict[str, Any]
) -> bool:
    """Replace the processed series (caller's transaction); False if the dataset is gone."""
    # NO KEY UPDATE: serialises writers of the processed series without blocking new jobs' foreign keys.
    row = await conn.fetchrow("SELECT id FROM datasets WHERE id = $1 FOR NO KEY UPDATE", dataset_id)
    if row is None:
        return False
    await conn.execute(
        "DELETE FROM dataset_readings WHERE dataset_id = $1 AND series = $2", dataset_id, PROCESSED
    )
    await conn.copy_records_to_table(
        "dataset_readings",
        records=await asyncio.to_thread(_records, dataset_id, PROCESSED, frame),
        columns=["dataset_id", "series", "ts", "value"],
    )
    await conn.execute(
        "UPDATE datasets SET status = 'processed', processed = $2, "
        "timezone = COALESCE($3, timezone), updated_at = now() WHERE id = $1",
        dataset_id,
        summary,
        summary.get("timezone"),
    )
    return True


async def has_processed(conn: Conn, dataset_id: uuid.UUID) -> bool:
    return bool(
        await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM dataset_readings WHERE dataset_id = $1 AND series = $2)",
            dataset_id,
            PROCESSED,
        )
    )


async def frame(
    conn: Conn, dataset: Dataset, series: int, *, statement_s: float | None = None
) -> pd.DataFrame:
    """The whole series as the analytics' frame: tz-aware ``timestamp`` index (the dataset's zone), float
    ``value`` (NaN = missing); ``attrs`` carry dataset_id, interval_s, timezone and series."""
    rows = await conn.fetch(
        "SELECT ts, value FROM dataset_readings WHERE dataset_id = $1 AND series = $2 ORDER BY ts",
        dataset.id,
        series,
        timeout=statement_s,
    )
    out = await asyncio.to_thread(_to_frame, rows, dataset.timezone)  # off the event loop
    interval = dataset.interval_s
    if series == PROCESSED and dataset.processed:
        interval = int(dataset.processed.get("interval_s_out", interval))
    out.attrs.update(
        dataset_id=str(dataset.id),
        interval_s=interval,
        timezone=dataset.timezone,
        series="processed" if series == PROCESSED else "raw",
    )
    return out


def _to_frame(rows: Sequence[asyncpg.Record], timezone: str) -> pd.DataFrame:
    index = pd.DatetimeIndex([r["ts"] for r in rows], name="timestamp")
    index = index.tz_localize("UTC") if index.tz is None else index.tz_convert("UTC")
    values = np.array([np.nan if r["value"] is None else r["value"] for r in rows], dtype=float)
    return pd.DataFrame({"value": values}, index=index.tz_convert(timezone))


async def points(
    conn: Conn,
    dataset_id: uuid.UUID,
    series: int,
    *,
    start: datetime | None,
    end: datetime | None,
    after: datetime | None,
    limit: int,
) -> Sequence[asyncpg.Record]:
    """Up to ``limit + 1`` readings in time order from ``start`` (inclusive) to ``end`` (exclusive),
    after the cursor's timestamp."""
    conds = ["dataset_id = $1", "series = $2"]
    args: list[Any] = [dataset_id, series]
    for op, value in ((">=", start), ("<", end), (">", after)):
        if value is not None:
            args.append(value)
            conds.append(f"ts {op} ${len(args)}")
    args.append(limit + 1)
    return await conn.fetch(
        f"SELECT ts, value FROM dataset_readings WHERE {' AND '.join(conds)} ORDER BY ts LIMIT ${len(args)}",
        *args,
    )
