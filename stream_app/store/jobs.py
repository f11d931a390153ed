"""Generic jobs and their results in PostgreSQL (migration 0070). Bound parameters only.

A runner claims the oldest ``queued`` job, or a ``running`` one whose lease expired (its runner died),
with ``FOR UPDATE SKIP LOCKED``: two runners never take the same job. A job taken more than
``max_attempts`` times ends ``failed`` (WORKER_LOST). Every later write of a runner is guarded by
``status = 'running' AND owner = <runner>``: a job canceled (or re-taken) meanwhile is never
overwritten by a late result.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from schemas.jobs import JobState
from stream_app.store.paging import Keyset, page_rows
from stream_app.store.repository import Conn, NotFound

_COLS = (
    "id, type, dataset_id, params, status, progress, result_id, error, owner, lease_until, attempts, "
    "created_at, started_at, finished_at"
)
WORKER_LOST = {"code": "WORKER_LOST", "message": "the job's runner was lost too many times", "details": None}


@dataclass(frozen=True)
class GenericJob:
    id: uuid.UUID
    type: str
    dataset_id: uuid.UUID | None
    params: dict[str, Any]
    status: JobState
    progress: float
    result_id: uuid.UUID | None
    error: dict[str, Any] | None
    owner: str | None
    lease_until: datetime | None
    attempts: int
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


@dataclass(frozen=True)
class JobResult:
    id: uuid.UUID
    job_id: uuid.UUID
    type: str
    dataset_id: uuid.UUID | None
    data: dict[str, Any]
    created_at: datetime


def _job(r: asyncpg.Record) -> GenericJob:
    d = dict(r)
    d["status"] = JobState(d["status"])
    return GenericJob(**d)


async def create(
    conn: Conn, *, type_name: str, params: dict[str, Any], dataset_id: uuid.UUID | None
) -> GenericJob:
    row = await conn.fetchrow(
        f"INSERT INTO jobs (id, type, dataset_id, params) VALUES ($1, $2, $3, $4) RETURNING {_COLS}",
        uuid.uuid4(),
        type_name,
        dataset_id,
        params,
    )
    return _job(row)


async def find(conn: Conn, job_id: uuid.UUID) -> GenericJob | None:
    row = await conn.fetchrow(f"SELECT {_COLS} FROM jobs WHERE id = $1", job_id)
    return None if row is None else _job(row)


async def get(conn: Conn, job_id: uuid.UUID) -> GenericJob:
    job = await find(conn, job_id)
    if job is None:
        raise NotFound(f"job {job_id}")
    return job


async def list_jobs(
    conn: Conn,
    keyset: Keyset,
    *,
    type_name: str | None = None,
    status: str | None = None,
    dataset_id: uuid.UUID | None = None,
) -> list[GenericJob]:
    filters = [("type", type_name), ("status", status), ("dataset_id", dataset_id)]
    return await page_rows(conn, keyset, "jobs", _job, columns=_COLS, filters=filters)


async def claim(
    pool: asyncpg.Pool, owner: str, lease_s: float, max_attempts: int, types: list[str]
) -> GenericJob | None:
    """Take the oldest job this runner can run (queued, or running with an expired lease)."""
    async with pool.acquire() as conn, conn.transaction():
        row = await conn.fetchrow(
            "SELECT id, attempts FROM jobs WHERE type = ANY($1::text[]) AND (status = 'queued' OR "
            "(status = 'running' AND lease_until < now())) ORDER BY created_at LIMIT 1 "
            "FOR UPDATE SKIP LOCKED",
            types,
        )
        if row is None:
            return None
        if row["attempts"] >= max_attempts:
            await conn.execute(
                "UPDATE jobs SET status = 'failed', error = $2, finished_at = now(), owner = NULL, "
                "lease_until = NULL WHERE id = $1",
                row["id"],
                WORKER_LOST,
            )
            return None
        taken = await conn.fetchrow(
            f"UPDATE jobs SET status = 'running', owner = $2, "
            f"lease_until = now() + make_interval(secs => $3), "
            f"attempts = attempts + 1, started_at = COALESCE(started_at, now()), progress = 0 "
            f"WHERE id = $1 RETURNING {_COLS}",
            row["id"],
            owner,
            lease_s,
        )
    return _job(taken)


def _mine() -> str:
    return "id = $1 AND status = 'running' AND owner = $2"


async def heartbeat(conn: Conn, job_id: uuid.UUID, owner: str, lease_s: float) -> bool:
    """Renew the lease; False when the job is no longer this runner's (canceled, deleted, re-taken)."""
    done = await conn.execute(
        f"UPDATE jobs SET lease_until = now() + make_interval(secs => $3) WHERE {_mine()}",
        job_id,
        owner,
        lease_s,
    )
    return bool(done.endswith(" 1"))


async def still_mine(conn: Conn, job_id: uuid.UUID, owner: str) -> bool:
    """Whether the job is still running for this runner (not canceled, deleted or re-taken)."""
    return bool(await conn.fetchval(f"SELECT EXISTS (SELECT 1 FROM jobs WHERE {_mine()})", job_id, owner))


async def set_progress(conn: Conn, job_id: uuid.UUID, owner: str, progress: float) -> bool:
    done = await conn.execute(
        f"UPDATE jobs SET progress = GREATEST(progress, $3) WHERE {_mine()}",
        job_id,
        owner,
        min(max(progress, 0.0), 1.0),
    )
    return bool(done.endswith(" 1"))


async def succeed(
    conn: asyncpg.Connection, job: GenericJob, owner: str, data: dict[str, Any]
) -> uuid.UUID | None:
    """Store the result and end the job succeeded (caller's transaction); None if the job is no longer
    this runner's (the caller rolls back)."""
    result_id = uuid.uuid4()
    done = await conn.execute(
        f"UPDATE jobs SET status = 'succeeded', progress = 1, result_id = $3, finished_at = now(), "
        f"lease_until = NULL WHERE {_mine()}",
        job.id,
        owner,
        result_id,
    )
    if not done.endswith(" 1"):
        return None
    await conn.execute(
        "INSERT INTO job_results (id, job_id, type, dataset_id, data) VALUES ($1, $2, $3, $4, $5)",
        result_id,
        job.id,
        job.type,
        job.dataset_id,
        data,
    )
    return result_id


async def fail(conn: Conn, job_id: uuid.UUID, owner: str, error: dict[str, Any]) -> bool:
    done = await conn.execute(
        f"UPDATE jobs SET status = 'failed', error = $3, finished_at = now(), lease_until = NULL "
        f"WHERE {_mine()}",
        job_id,
        owner,
        error,
    )
    return bool(done.endswith(" 1"))


async def cancel(conn: Conn, job_id: uuid.UUID) -> GenericJob:
    """End a queued or running job canceled (a running job's runner sees it at its next heartbeat and
    drops its result); a finished job is returned unchanged."""
    row = await conn.fetchrow(
        f"UPDATE jobs SET status = 'canceled', finished_at = now(), lease_until = NULL "
        f"WHERE id = $1 AND status IN ('queued', 'running') RETURNING {_COLS}",
        job_id,
    )
    return _job(row) if row is not None else await get(conn, job_id)


async def result(conn: Conn, result_id: uuid.UUID) -> JobResult:
    row = await conn.fetchrow(
        "SELECT id, job_id, type, dataset_id, data, created_at FROM job_results WHERE id = $1", result_id
    )
    if row is None:
        raise NotFound(f"result {result_id}")
    return JobResult(**dict(row))


async def open_count(conn: Conn, dataset_id: uuid.UUID, type_name: str) -> int:
    return int(
        await conn.fetchval(
            "SELECT count(*) FROM jobs WHERE dataset_id = $1 AND type = $2 "
            "AND status IN ('queued', 'running')",
            dataset_id,
            type_name,
        )
    )
