"""Typed queries of the registry (assets, model versions, training jobs). Bound parameters only.

Every function takes an asyncpg connection (or pool: both have ``fetchrow``/``execute``); functions
that need several statements to be atomic open their own transaction on a connection.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeAlias

import asyncpg

from schemas.errors import KilowatchError
from schemas.jobs import (
    TERMINAL,
    InvalidTransition,
    JobStatus,
    VersionStatus,
    check_transition,
    sources_of,
)

Conn: TypeAlias = "asyncpg.Connection | asyncpg.Pool"  # both have fetch/fetchrow/execute


class NotFound(KilowatchError):
    """An asset, job or model version does not exist."""


class RegistryConflict(KilowatchError):
    """The operation contradicts the registry's state (e.g. deleting the active version)."""


@dataclass(frozen=True)
class Asset:
    asset_id: str
    name: str
    metadata: dict[str, Any]
    retrain_interval: timedelta | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class Job:
    id: uuid.UUID
    asset_id: str
    request_id: uuid.UUID
    model_type: str
    params: dict[str, Any]
    data_url: str | None
    status: JobStatus
    progress: float
    error: str | None
    started_at: datetime | None
    finished_at: datetime | None
    cpu_percent: float | None
    peak_rss_mb: float | None
    duration_s: float | None
    result: dict[str, Any] | None
    created_at: datetime
    # Lease (migration 0053): the worker holding the open job and when it last said so.
    owner: str | None = None
    heartbeat_at: datetime | None = None
    attempts: int = 0

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL


@dataclass(frozen=True)
class ModelVersion:
    asset_id: str
    version: int
    model_type: str
    params: dict[str, Any]
    metrics: dict[str, Any]
    artifact_uri: str
    status: VersionStatus
    reason: str
    job_id: uuid.UUID | None
    created_at: datetime
    activated_at: datetime | None


def asset_row(r: asyncpg.Record) -> Asset:
    return Asset(**dict(r))


def job_row(r: asyncpg.Record) -> Job:
    d = dict(r)
    d["status"] = JobStatus(d["status"])
    return Job(**d)


def version_row(r: asyncpg.Record) -> ModelVersion:
    d = dict(r)
    d["status"] = VersionStatus(d["status"])
    return ModelVersion(**d)


# --- assets -------------------------------------------------------------------------------------------


async def upsert_asset(
    conn: Conn,
    asset_id: str,
    *,
    name: str | None = None,
    metadata: dict[str, Any] | None = None,
    retrain_interval: timedelta | None = None,
) -> Asset:
    """Create the asset, or update the fields given (None leaves a field unchanged)."""
    row = await conn.fetchrow(
        """
        INSERT INTO assets (asset_id, name, metadata, retrain_interval)
        VALUES ($1, coalesce($2, ''), coalesce($3, '{}'::jsonb), $4)
        ON CONFLICT (asset_id) DO UPDATE SET
            name = coalesce($2, assets.name),
            metadata = coalesce($3, assets.metadata),
            retrain_interval = coalesce($4, assets.retrain_interval),
            updated_at = now()
        RETURNING *
        """,
        asset_id,
        name,
        metadata,
        retrain_interval,
    )
    assert row is not None
    return asset_row(row)


async def ensure_asset(conn: Conn, asset_id: str) -> None:
    """Create an asset row if missing, leaving an existing one untouched (training requests may name
    an asset nobody registered through the API yet)."""
    await conn.execute("INSERT INTO assets (asset_id) VALUES ($1) ON CONFLICT DO NOTHING", asset_id)


async def get_asset(conn: Conn, asset_id: str) -> Asset:
    row = await conn.fetchrow("SELECT * FROM assets WHERE asset_id = $1", asset_id)
    if row is None:
        raise NotFound(f"asset {asset_id!r} not found")
    return asset_row(row)


async def assets_due_for_retraining(conn: Conn, now: datetime) -> list[Asset]:
    """Assets with a retrain interval whose newest job (any outcome) is older than that interval,
    and with no job still open."""
    rows = await conn.fetch(
        """
        SELECT a.* FROM assets a
        WHERE a.retrain_interval IS NOT NULL
          AND NOT EXISTS (
              SELECT 1 FROM training_jobs j WHERE j.asset_id = a.asset_id
                AND (j.status IN ('PENDING', 'PREPARING', 'TRAINING')
                     OR j.created_at > $1::timestamptz - a.retrain_interval))
        ORDER BY a.asset_id
        """,
        now,
    )
    return [asset_row(r) for r in rows]


# --- training jobs ------------------------------------------------------------------------------------


async def create_job(
    conn: Conn,
    *,
    request_id: uuid.UUID,
    asset_id: str,
    model_type: str,
    params: dict[str, Any],
    data_url: str | None,
) -> tuple[Job, bool]:
    """A PENDING job for a request; idempotent on ``request_id``: (existing job, False) on a repeat."""
    await ensure_asset(conn, asset_id)
    row = await conn.fetchrow(
        """
        INSERT INTO training_jobs (id, asset_id, request_id, model_type, params, data_url)
        VALUES ($1, $2, $3, $4, $5, $6)
        ON CONFLICT (request_id) DO NOTHING
        RETURNING *
        """,
        uuid.uuid4(),
        asset_id,
        request_id,
        model_type,
        params,
        data_url,
    )
    if row is not None:
        return job_row(row), True
    existing = await conn.fetchrow("SELECT * FROM training_jobs WHERE request_id = $1", request_id)
    if existing is None:  # deleted between the two statements (asset deleted): treat as not found
        raise NotFound(f"training job of request {request_id} vanished")
    return job_row(existing), False


async def get_job(conn: Conn, job_id: uuid.UUID) -> Job:
    row = await conn.fetchrow("SELECT * FROM training_jobs WHERE id = $1", job_id)
    if row is None:
        raise NotFound(f"training job {job_id} not found")
    return job_row(row)


async def lock_job(conn: asyncpg.Connection, job_id: uuid.UUID) -> Job:
    """The job's row, locked until the end of the caller's transaction: a final write that must not
    race the recovery (which may have ended the job meanwhile) checks the state under this lock."""
    row = await conn.fetchrow("SELECT * FROM training_jobs WHERE id = $1 FOR UPDATE", job_id)
    if row is None:
        raise NotFound(f"training job {job_id} not found")
    return job_row(row)


async def list_jobs(conn: Conn, asset_id: str, limit: int = 50) -> list[Job]:
    rows = await conn.fetch(
        "SELECT * FROM training_jobs WHERE asset_id = $1 ORDER BY created_at DESC, id LIMIT $2",
        asset_id,
        limit,
    )
    return [job_row(r) for r in rows]


async def transition(
    conn: Conn,
    job_id: uuid.UUID,
    target: JobStatus,
    *,
    error: str | None = None,
    progress: float | None = None,
    cpu_percent: float | None = None,
    peak_rss_mb: float | None = None,
    duration_s: float | None = None,
    result: dict[str, Any] | None = None,
) -> Job:
    """Move a job to ``target`` atomically (the UPDATE is guarded by the allowed source states, so two
    racing writers cannot both succeed). PREPARING stamps started_at; terminal states stamp finished_at."""
    row = await conn.fetchrow(
        """
        UPDATE training_jobs SET
            status = $2,
            error = coalesce($3, error),
            progress = coalesce($4, progress),
            cpu_percent = coalesce($5, cpu_percent),
            peak_rss_mb = coalesce($6, peak_rss_mb),
            duration_s = coalesce($7, duration_s),
            result = coalesce($8, result),
            started_at = CASE WHEN $2 = 'PREPARING' THEN now() ELSE started_at END,
            finished_at = CASE WHEN $2 = ANY($9::text[]) THEN now() ELSE finished_at END
        WHERE id = $1 AND status = ANY($10::text[])
        RETURNING *
        """,
        job_id,
        target.value,
        error,
        progress,
        cpu_percent,
        peak_rss_mb,
        duration_s,
        result,
        [s.value for s in TERMINAL],
        sources_of(target),
    )
    if row is not None:
        return job_row(row)
    current = await get_job(conn, job_id)
    check_transition(current.status, target)  # raises InvalidTransition with both states
    raise InvalidTransition(f"training job {job_id} changed state concurrently (now {current.status})")


async def set_progress(conn: Conn, job_id: uuid.UUID, pct: float) -> None:
    """Progress of an open job (ignored once the job is terminal)."""
    await conn.execute(
        "UPDATE training_jobs SET progress = $2 WHERE id = $1 AND status IN ('PREPARING', 'TRAINING')",
        job_id,
        max(0.0, min(100.0, pct)),
    )


_OPEN = "('PENDING', 'PREPARING', 'TRAINING')"


async def claim_job(conn: Conn, job_id: uuid.UUID, owner: str) -> bool:
    """Take the lease of an open job (the caller holds the asset's training lock). A new owner counts
    one more attempt. False when the job is no longer open."""
    status = await conn.execute(
        f"""UPDATE training_jobs SET heartbeat_at = now(),
              attempts = attempts + CASE WHEN owner IS DISTINCT FROM $2 THEN 1 ELSE 0 END, owner = $2
            WHERE id = $1 AND status IN {_OPEN}""",
        job_id,
        owner,
    )
    return bool(status == "UPDATE 1")


async def heartbeat(conn: Conn, job_id: uuid.UUID, owner: str) -> bool:
    """Renew the lease; False when the job is closed or another worker took it over."""
    status = await conn.execute(
        f"UPDATE training_jobs SET heartbeat_at = now() WHERE id = $1 AND owner = $2 AND status IN {_OPEN}",
        job_id,
        owner,
    )
    return bool(status == "UPDATE 1")


async def take_stale_jobs(
    conn: Conn, owner: str, lease_s: float, unclaimed_s: float, running: Sequence[uuid.UUID] = ()
) -> list[Job]:
    """Open jobs nobody holds any more, taken over by ``owner`` (one statement: two recovering workers
    never take the same job). Stale = the lease was not renewed for ``lease_s``, or the job was never
    claimed (its worker died between storing and claiming it) for ``unclaimed_s``. ``running``: jobs the
    caller itself is running (alive, e.g. waiting for the database after an outage): never taken."""
    rows = await conn.fetch(
        f"""UPDATE training_jobs SET owner = $1, heartbeat_at = now(), attempts = attempts + 1
            WHERE id IN (
              SELECT id FROM training_jobs WHERE status IN {_OPEN} AND NOT (id = ANY($4::uuid[])) AND (
                (owner IS NOT NULL AND heartbeat_at < now() - make_interval(secs => $2))
                OR (owner IS NULL AND coalesce(started_at, created_at) < now() - make_interval(secs => $3)))
              ORDER BY created_at FOR UPDATE SKIP LOCKED)
            RETURNING *""",
        owner,
        float(lease_s),
        float(unclaimed_s),
        list(running),
    )
    return [job_row(r) for r in rows]


# --- model versions -----------------------------------------------------------------------------------


async def register_version(
    conn: asyncpg.Connection,
    *,
    asset_id: str,
    model_type: str,
    params: dict[str, Any],
    metrics: dict[str, Any],
    artifact_uri: str,
    job_id: uuid.UUID | None,
    reason: str = "",
) -> ModelVersion:
    """A new candidate with the next version number (the asset row is locked to number safely)."""
    async with conn.transaction():
        await ensure_asset(conn, asset_id)
        await conn.execute("SELECT 1 FROM assets WHERE asset_id = $1 FOR UPDATE", asset_id)
        row = await conn.fetchrow(
            """
            INSERT INTO model_versions (asset_id, version, model_type, params, metrics, artifact_uri,
                                        job_id, reason)
            SELECT $1, coalesce(max(version), 0) + 1, $2, $3, $4, $5, $6, $7
            FROM model_versions WHERE asset_id = $1
            RETURNING *
            """,
            asset_id,
            model_type,
            params,
            metrics,
            artifact_uri,
            job_id,
            reason,
        )
    assert row is not None
    return version_row(row)


async def get_version(conn: Conn, asset_id: str, version: int) -> ModelVersion:
    row = await conn.fetchrow(
        "SELECT * FROM model_versions WHERE asset_id = $1 AND version = $2", asset_id, version
    )
    if row is None:
        raise NotFound(f"model version {version} of asset {asset_id!r} not found")
    return version_row(row)


async def active_version(conn: Conn, asset_id: str) -> ModelVersion | None:
    row = await conn.fetchrow(
        "SELECT * FROM model_versions WHERE asset_id = $1 AND status = 'active'", asset_id
    )
    return None if row is None else version_row(row)


async def list_versions(conn: Conn, asset_id: str) -> list[ModelVersion]:
    rows = await conn.fetch(
        "SELECT * FROM model_versions WHERE asset_id = $1 ORDER BY version DESC", asset_id
    )
    return [version_row(r) for r in rows]


async def set_reason(conn: Conn, asset_id: str, version: int, reason: str) -> None:
    await conn.execute(
        "UPDATE model_versions SET reason = $3 WHERE asset_id = $1 AND version = $2",
        asset_id,
        version,
        reason,
    )


async def activate(
    conn: asyncpg.Connection,
    asset_id: str,
    version: int,
    reason: str,
    event: Callable[[ModelVersion], OutboxEvent] | None = None,
) -> tuple[ModelVersion, ModelVersion | None]:
    """Make ``version`` the active one (promotion or rollback): the previous active is retired in the
    same transaction. Returns (new active, previous active or None).

    ``event`` builds the event announcing the change from the new active version; it is written to
    the outbox in the same transaction (so the change and its announcement commit together)."""
    async with conn.transaction():
        mv, previous = await _activate(conn, asset_id, version, reason)
        if event is not None:
            await add_outbox(conn, event(mv))
    return mv, previous


async def _activate(
    conn: asyncpg.Connection, asset_id: str, version: int, reason: str
) -> tuple[ModelVersion, ModelVersion | None]:
    async with conn.transaction():
        await conn.execute("SELECT 1 FROM assets WHERE asset_id = $1 FOR UPDATE", asset_id)
        target = await get_version(conn, asset_id, version)
        previous = await active_version(conn, asset_id)
        if previous is not None and previous.version == version:
            return target, None
        await conn.execute(
            "UPDATE model_versions SET status = 'retired' WHERE asset_id = $1 AND status = 'active'",
            asset_id,
        )
        row = await conn.fetchrow(
            """
            UPDATE model_versions SET status = 'active', activated_at = now(), reason = $3
            WHERE asset_id = $1 AND version = $2 RETURNING *
            """,
            asset_id,
            version,
            reason,
        )
    assert row is not None
    return version_row(row), previous


async def delete_candidate(conn: Conn, asset_id: str, version: int) -> ModelVersion:
    """Remove a candidate (never the active version); the caller deletes its artifact."""
    row = await conn.fetchrow(
        "DELETE FROM model_versions WHERE asset_id = $1 AND version = $2 AND status = 'candidate' "
        "RETURNING *",
        asset_id,
        version,
    )
    if row is None:
        existing = await get_version(conn, asset_id, version)
        raise RegistryConflict(
            f"model version {version} of {asset_id!r} is {existing.status}, not a candidate"
        )
    return version_row(row)


# --- outbox -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OutboxEvent:
    """A message to publish once the transaction that wrote it commits (``topic``: the full name, so
    deployments with other topic prefixes on the same database never relay each other's events)."""

    topic: str
    key: bytes | None
    value: bytes | None


@dataclass(frozen=True)
class OutboxRow:
    id: int
    topic: str
    key: bytes | None
    value: bytes | None
    attempts: int


async def add_outbox(conn: Conn, event: OutboxEvent) -> int:
    """Store an event in the outbox (call inside the transaction of the change it announces)."""
    row_id: int = await conn.fetchval(
        "INSERT INTO outbox (topic, key, value) VALUES ($1, $2, $3) RETURNING id",
        event.topic,
        event.key,
        event.value,
    )
    return row_id


async def take_outbox(conn: asyncpg.Connection, topic: str, limit: int) -> list[OutboxRow]:
    """The oldest unpublished events, row-locked (call in a transaction; SKIP LOCKED lets another relay
    take the next ones instead of publishing these twice)."""
    rows = await conn.fetch(
        "SELECT id, topic, key, value, attempts FROM outbox WHERE topic = $1 ORDER BY id LIMIT $2 "
        "FOR UPDATE SKIP LOCKED",
        topic,
        limit,
    )
    return [OutboxRow(r["id"], r["topic"], r["key"], r["value"], r["attempts"]) for r in rows]


async def delete_outbox(conn: Conn, row_id: int) -> None:
    await conn.execute("DELETE FROM outbox WHERE id = $1", row_id)


async def outbox_failed(conn: Conn, row_id: int, error: str) -> None:
    await conn.execute(
        "UPDATE outbox SET attempts = attempts + 1, last_error = $2 WHERE id = $1", row_id, error[:500]
    )
