"""Shared helpers of the registry integration tests: settings on this checkout's services, a pool on a
fresh schema, and a small REAL trainer backend (numpy least squares) standing in for trainers.backend
until the trainers branch lands."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg

from stream_app.settings import Settings
from stream_app.store import migrations
from stream_app.store.pool import create_pool


@asynccontextmanager
async def fresh_schema_pool(settings: Settings, **overrides: Any) -> AsyncIterator[asyncpg.Pool]:
    """A pool whose connections use a new, migrated schema; the schema is dropped afterwards."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = await create_pool(settings, min_size=1, max_size=1)
    await admin.execute(f'CREATE SCHEMA "{schema}"')
    pool = await create_pool(
        settings, server_settings={"search_path": schema}, min_size=1, max_size=4, **overrides
    )
    try:
        async with pool.acquire() as conn:
            await migrations.upgrade(conn)
        yield pool
    finally:
        await pool.close()
        await admin.execute(f'DROP SCHEMA "{schema}" CASCADE')
        await admin.close()
