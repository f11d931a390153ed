"""The asyncpg pool, built from settings (the password is read here and never logged)."""

from __future__ import annotations

import json
import logging
from typing import Any

import asyncpg

from schemas.errors import InfraError
from stream_app.settings import Settings

log = logging.getLogger(__name__)


async def _init_connection(conn: asyncpg.Connection) -> None:
    """jsonb columns in and out as Python objects."""
    await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


async def create_pool(settings: Settings, **overrides: Any) -> asyncpg.Pool:
    """A pool on the configured database; connection errors name the host, never the password."""
    kwargs: dict[str, Any] = {
        "host": settings.postgres.host,
        "port": settings.postgres.port,
        "user": settings.postgres.user,
        "password": settings.postgres.password.get_secret_value(),
        "database": settings.postgres.db,
        "min_size": settings.postgres.pool_min,
        "max_size": settings.postgres.pool_max,
        "command_timeout": settings.postgres.command_timeout_s,
        "init": _init_connection,
    }
    kwargs.update(overrides)
    try:
        pool: asyncpg.Pool = await asyncpg.create_pool(**kwargs)
    except (OSError, asyncpg.PostgresError) as exc:
        raise _unusable(settings, exc) from None
    return pool


def _unusable(settings: Settings, exc: BaseException) -> InfraError:
    """The one error for a database we cannot use (never with the password)."""
    return InfraError(
        f"PostgreSQL at {settings.postgres.host}:{settings.postgres.port} "
        f"(db {settings.postgres.db}, user {settings.postgres.user}) is not usable: "
        f"{type(exc).__name__}: {exc}"
    )


async def connect(settings: Settings) -> asyncpg.Connection:
    """One connection (migrations, CLI), same error handling as the pool."""
    try:
        conn: asyncpg.Connection = await asyncpg.connect(
            host=settings.postgres.host,
            port=settings.postgres.port,
            user=settings.postgres.user,
            password=settings.postgres.password.get_secret_value(),
            database=settings.postgres.db,
            timeout=settings.postgres.command_timeout_s,
        )
    except (OSError, asyncpg.PostgresError) as exc:
        raise _unusable(settings, exc) from None
    await _init_connection(conn)
    return conn
