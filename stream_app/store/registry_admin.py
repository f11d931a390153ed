"""Registry queries the REST API needs beyond the training service's own (``repository``): asset
create/update/delete, filtered and paged lists, the rollback target. Bound parameters only.

Paged lists take a ``keyset`` callable (``api.http.pagination.keyset`` with the page bound) that returns the
cursor conditions, their bound args and the ORDER BY ... LIMIT for given columns, so this module stays
free of the API's types.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import asyncpg

from stream_app.store.paging import Keyset, page_rows
from stream_app.store.repository import (
    Asset,
    Conn,
    Job,
    ModelVersion,
    NotFound,
    RegistryConflict,
    asset_row,
    job_row,
    version_row,
)

# Columns PATCH may change (code constants: user input never names a column).
ASSET_COLUMNS = ("name", "metadata", "retrain_interval")


async def create_asset(
    conn: Conn,
    asset_id: str,
    *,
    name: str,
    metadata: dict[str, Any],
    retrain_interval: timedelta | None,
) -> Asset:
    """A new asset; RegistryConflict when the id exists (also one a training request created)."""
    row = await conn.fetchrow(
        """
        INSERT INTO assets (asset_id, name, metadata, retrain_interval) VALUES ($1, $2, $3, $4)
        ON CONFLICT (asset_id) DO NOTHING RETURNING *
        """,
        asset_id,
        name,
        metadata,
        retrain_interval,
    )
    if row is None:
        raise RegistryConflict(f"asset {asset_id!r} already exists")
    return asset_row(row)


async def update_asset(conn: Conn, asset_id: str, changes: dict[str, Any]) -> Asset:
    """Set the given columns (a None value stores NULL, e.g. clears retrain_interval)."""
    sets, args = [], [asset_id]
    for column in ASSET_COLUMNS:
        if column in changes:
            args.append(changes[column])
            sets.append(f"{column} = ${len(args)}")
    sets.append("updated_at = now()")
    row = await conn.fetchrow(
        f"UPDATE assets SET {', '.join(sets)} WHERE asset_id = $1 RETURNING *",
        *args,
    )
    if row is None:
        raise NotFound(f"asset {asset_id!r} not found")
    return asset_row(row)


async def delete_asset(conn: asyncpg.Connection, asset_id: str) -> list[str]:
    """Delete an asset with its versions and jobs (FK cascade); returns the artifact URIs of the deleted
    versions for the caller to remove. Refused while one of its jobs is open (it would register a
    version for a deleted asset)."""
    async with conn.transaction():
        found = await conn.fetchval("SELECT 1 FROM assets WHERE asset_id = $1 FOR UPDATE", asset_id)
        if found is None:
            raise NotFound(f"asset {asset_id!r} not found")
        open_jobs = await conn.fetchval(
            "SELECT count(*) FROM training_jobs WHERE asset_id = $1 "
            "AND status IN ('PENDING', 'PREPARING', 'TRAINING')",
            asset_id,
        )
        if open_jobs:
            raise RegistryConflict(
                f"asset {asset_id!r} has {open_jobs} open training job(s): cancel them first"
            )
        uris = await conn.fetch("SELECT artifact_uri FROM model_versions WHERE asset_id = $1", asset_id)
        await conn.execute("DELETE FROM assets WHERE asset_id = $1", asset_id)
    return [r["artifact_uri"] for r in uris]


async def list_assets(conn: Conn, keyset: Keyset) -> list[Asset]:
    return await page_rows(conn, keyset, "assets", asset_row, id_col="asset_id")


async def list_jobs(
    conn: Conn, keyset: Keyset, *, asset_id: str | None, status: str | list[str] | None
) -> list[Job]:
    """A page of training jobs (``status``: one state or any of a list)."""
    filters = [("asset_id", asset_id), ("status", status)]
    return await page_rows(conn, keyset, "training_jobs", job_row, filters=filters)


async def list_versions(conn: Conn, asset_id: str, keyset: Keyset) -> list[ModelVersion]:
    filters = [("asset_id", asset_id)]
    return await page_rows(conn, keyset, "model_versions", version_row, filters=filters, id_col="version")


async def rollback_target(conn: Conn, asset_id: str) -> ModelVersion | None:
    """The version that was active before the current one: activating a version retires the previous
    active, so it is the retired version activated most recently."""
    row = await conn.fetchrow(
        """
        SELECT * FROM model_versions
        WHERE asset_id = $1 AND status = 'retired' AND activated_at IS NOT NULL
        ORDER BY activated_at DESC, version DESC LIMIT 1
        """,
        asset_id,
    )
    return None if row is None else version_row(row)


async def delete_pending_job(conn: Conn, job_id: uuid.UUID) -> bool:
    """Remove a job that never left PENDING (its request could not be queued)."""
    done = await conn.fetchval(
        "DELETE FROM training_jobs WHERE id = $1 AND status = 'PENDING' RETURNING true", job_id
    )
    return bool(done)


async def job_by_request(conn: Conn, request_id: uuid.UUID) -> Job | None:
    row = await conn.fetchrow("SELECT * FROM training_jobs WHERE request_id = $1", request_id)
    return None if row is None else job_row(row)


async def open_job(conn: Conn, asset_id: str) -> Job | None:
    """The asset's oldest job still PENDING, PREPARING or TRAINING, if any."""
    row = await conn.fetchrow(
        """
        SELECT * FROM training_jobs
        WHERE asset_id = $1 AND status IN ('PENDING', 'PREPARING', 'TRAINING')
        ORDER BY created_at LIMIT 1
        """,
        asset_id,
    )
    return None if row is None else job_row(row)
