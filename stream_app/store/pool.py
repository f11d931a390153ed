"""The asyncpg pool, built from settings (the password is read here and never logged)."""

from __future__ import annotations

import json
import logging
from typing import Any
from urllib.parse import urlencode

import asyncpg

from schemas.errors import InfraError
from stream_app.settings import Settings

log = logging.getLogger(__name__)


def connect_kwargs(settings: Settings) -> dict[str, Any]:
    """asyncpg's connection arguments: host, port, user, password, database, and the TLS mode and
    files (libpq's names, passed as a DSN query: asyncpg applies sslmode/sslrootcert/sslcert/sslkey
    exactly as libpq does, verify-full checking the host name against the certificate)."""
    pg = settings.postgres
    return {
        "dsn": "postgresql://?" + urlencode(pg.ssl_params()),
        "host": pg.host,
        "port": pg.port,
        "user": pg.user,
        "password": pg.password.get_secret_value(),
        "database": pg.db,
    }


async def _init_connection(conn: asyncpg.Connection) -> None:
    """jsonb columns in and out as Python objects."""
    await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


class BoundedPool(asyncpg.Pool):
    """A pool whose ``acquire`` (also inside ``pool.fetch`` and the like) waits at most
    ``acquire_timeout`` seconds for a connection, and whose ``release`` waits at most
    ``release_timeout`` for a timed-out statement's cancellation and the reset (else the connection is
    dropped and a new one made later): a frozen database costs a caller seconds, never a hang."""

    def __init__(self, *args: Any, acquire_timeout: float, release_timeout: float, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.acquire_timeout = acquire_timeout
        self.release_timeout = release_timeout

    def acquire(self, *, timeout: float | None = None) -> Any:
        return super().acquire(timeout=self.acquire_timeout if timeout is None else timeout)

    async def release(self, connection: Any, *, timeout: float | None = None) -> None:  # noqa: ASYNC109 - asyncpg's signature
        await super().release(connection, timeout=self.release_timeout if timeout is None else timeout)


async def create_pool(
    settings: Settings,
    *,
    acquire_timeout: float | None = None,
    release_timeout: float | None = None,
    **overrides: Any,
) -> asyncpg.Pool:
    """A pool on the configured database; connection errors name the host, never the password.

    With ``acquire_timeout`` the pool is a :class:`BoundedPool` (the API's: 503 instead of a hang);
    without it, asyncpg's own pool (the worker's, unchanged)."""
    kwargs: dict[str, Any] = {
        **connect_kwargs(settings),
        "min_size": settings.postgres.pool_min,
        "max_size": settings.postgres.pool_max,
        "command_timeout": settings.postgres.command_timeout_s,
        "init": _init_connection,
    }
    kwargs.update(overrides)
    try:
        if acquire_timeout is None:
            pool: asyncpg.Pool = await asyncpg.create_pool(**kwargs)
        else:
            defaults: dict[str, Any] = {  # what asyncpg.create_pool passes to its Pool
                "max_queries": 50_000,
                "max_inactive_connection_lifetime": 300.0,
                "loop": None,
                "connection_class": asyncpg.Connection,
                "record_class": asyncpg.Record,
            }
            pool = await BoundedPool(
                acquire_timeout=acquire_timeout,
                release_timeout=acquire_timeout if release_timeout is None else release_timeout,
                **(defaults | kwargs),
            )
    except (OSError, asyncpg.PostgresError) as exc:
        raise _unusable(settings, exc) from None
    return pool


def _unusable(settings: Settings, exc: BaseException) -> InfraError:
    """The one error for a database we cannot use (never with the password)."""
    pg = settings.postgres
    return InfraError(
        f"PostgreSQL at {pg.host}:{pg.port} (db {pg.db}, user {pg.user}, sslmode {pg.sslmode}) "
        f"is not usable: {type(exc).__name__}: {exc}"
    )


async def connect(settings: Settings) -> asyncpg.Connection:
    """One connection (migrations, CLI), same error handling as the pool."""
    try:
        conn: asyncpg.Connection = await asyncpg.connect(
            **connect_kwargs(settings), timeout=settings.postgres.command_timeout_s
        )
    except (OSError, asyncpg.PostgresError) as exc:
        raise _unusable(settings, exc) from None
    await _init_connection(conn)
    return conn
