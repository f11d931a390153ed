"""Versioned SQL migrations: ``migrations/NNNN_name.sql`` applied in order, each in one transaction.

Applied versions are recorded in ``schema_migrations`` with a checksum; a session-level advisory lock
serialises concurrent ``upgrade`` calls (two workers starting together apply each migration once).
Discovery and the pending computation are pure; ``upgrade``/``status``/``ensure_current`` do the I/O.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from schemas.errors import KilowatchError

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
# Arbitrary constant shared by every kilowatch process: pg_advisory_lock key of the migrator.
ADVISORY_LOCK_KEY = 0x6B696C6F


class MigrationError(KilowatchError):
    """The schema is not usable: pending or altered migrations, or a migration failed."""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()

    @property
    def label(self) -> str:
        return f"{self.version:04d}_{self.name}"


@dataclass(frozen=True)
class Applied:
    version: int
    name: str
    checksum: str


def discover(directory: Path | None = None) -> list[Migration]:
    """Every migration file in version order; rejects stray names, duplicate numbers and an empty folder.

    No files at all is an install without its package data (a wheel built without the SQL files), never a
    schema with nothing to apply: reporting "schema is current" then would leave every table missing.
    """
    directory = MIGRATIONS_DIR if directory is None else directory
    found: dict[int, Migration] = {}
    for path in sorted(directory.glob("*.sql")):
        m = _NAME.match(path.name)
        if m is None:
            raise MigrationError(f"migration file {path.name} is not named NNNN_name.sql")
        version = int(m.group(1))
        if version in found:
            raise MigrationError(
                f"two migrations numbered {version:04d}: {found[version].label}, {path.name}"
            )
        found[version] = Migration(version, m.group(2), path.read_text())
    if not found:
        raise MigrationError(
            f"no migration files (NNNN_name.sql) in {directory}: this kilowatch install is incomplete "
            "(its package data is missing): reinstall it from a wheel that holds stream_app/store/migrations"
        )
    return [found[v] for v in sorted(found)]


def pending(available: list[Migration], applied: list[Applied]) -> list[Migration]:
    """Migrations not applied yet; an applied one whose file changed or vanished is an error."""
    by_version = {m.version: m for m in available}
    for a in applied:
        m = by_version.get(a.version)
        if m is None:
            raise MigrationError(f"applied migration {a.version:04d}_{a.name} has no file any more")
        if m.checksum != a.checksum:
            raise MigrationError(f"migration {m.label} was edited after it was applied (checksum differs)")
    done = {a.version for a in applied}
    return [m for m in available if m.version not in done]


_CREATE_TABLE = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    integer PRIMARY KEY,
    name       text NOT NULL,
    checksum   text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)
"""


async def applied_migrations(conn: asyncpg.Connection) -> list[Applied]:
    exists = await conn.fetchval("SELECT to_regclass('schema_migrations') IS NOT NULL")
    if not exists:
        return []
    rows = await conn.fetch("SELECT version, name, checksum FROM schema_migrations ORDER BY version")
    return [Applied(r["version"], r["name"], r["checksum"]) for r in rows]


async def upgrade(conn: asyncpg.Connection, available: list[Migration] | None = None) -> list[str]:
    """Apply pending migrations in order (idempotent); returns the labels applied now."""
    available = discover() if available is None else available
    await conn.execute("SELECT pg_advisory_lock($1)", ADVISORY_LOCK_KEY)
    try:
        await conn.execute(_CREATE_TABLE)
        todo = pending(available, await applied_migrations(conn))  # re-read under the lock
        done: list[str] = []
        for m in todo:
            try:
                async with conn.transaction():
                    await conn.execute(m.sql)
                    await conn.execute(
                        "INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
                        m.version,
                        m.name,
                        m.checksum,
                    )
            except asyncpg.PostgresError as exc:
                raise MigrationError(f"migration {m.label} failed (rolled back): {exc}") from None
            done.append(m.label)
        return done
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", ADVISORY_LOCK_KEY)


async def status(
    conn: asyncpg.Connection, available: list[Migration] | None = None
) -> tuple[list[Applied], list[Migration]]:
    """(applied, pending)."""
    applied = await applied_migrations(conn)
    return applied, pending(discover() if available is None else available, applied)


async def ensure_current(conn: asyncpg.Connection, available: list[Migration] | None = None) -> None:
    """Start-up check: raise with the list of pending migrations instead of failing later on SQL."""
    _applied, todo = await status(conn, available)
    if todo:
        labels = ", ".join(m.label for m in todo)
        raise MigrationError(
            f"database schema is not current; pending migrations: {labels} (run `kilowatch db upgrade`)"
        )
