"""Bundles in PostgreSQL (the default store): every worker and API process reaches the same bundles.

One row of ``artifacts`` (migration 0054) per bundle: its folder as one tar.gz in a ``bytea``, with its
content checksum and size. URIs are ``postgres://artifacts/<uuid>?sha256=<hex>`` — no host, no
credentials (the database is the one in the settings); the checksum in the URI pins the content the
registry row was written for, so a row changed afterwards is refused on load.

Registration writes the row in the registry's own transaction (:meth:`prepare` off the loop, then
:meth:`commit` on the transaction's connection): a version and its bundle are committed together or not
at all. The synchronous ``put_dir``/``get_dir``/``delete`` (loaders run in threads; tests and the
benchmarks store bundles directly) use a short-lived connection of their own, run on a private event
loop in a helper thread, so they work from any thread, inside or outside a running loop.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlparse

import asyncpg

from stream_app.lifecycle.artifact_bundle import ArtifactError, Prepared, check_sha256, pack
from stream_app.lifecycle.artifact_cache import BundleCache
from stream_app.settings import Settings
from stream_app.store.pool import connect

T = TypeVar("T")
SCHEME = "postgres"
HOST = "artifacts"
Connector = Callable[[], Awaitable[asyncpg.Connection]]
_EXECUTOR = ThreadPoolExecutor(max_workers=4, thread_name_prefix="artifact-pg")


def uri_of(artifact_id: uuid.UUID, sha256: str) -> str:
    return f"{SCHEME}://{HOST}/{artifact_id}?sha256={sha256}"


def parse_uri(uri: str) -> tuple[uuid.UUID, str]:
    """(id, content checksum) of a ``postgres://artifacts/...`` URI; ArtifactError for anything else."""
    parsed = urlparse(uri)
    if parsed.scheme != SCHEME or parsed.netloc != HOST:
        raise ArtifactError(
            f"PostgreSQL artifact store cannot read {uri!r} (expected {SCHEME}://{HOST}/<id>)"
        )
    try:
        artifact_id = uuid.UUID(parsed.path.lstrip("/"))
    except ValueError:
        raise ArtifactError(f"artifact URI {uri!r} does not name a bundle id") from None
    sums = parse_qs(parsed.query).get("sha256", [])
    if len(sums) != 1:
        raise ArtifactError(f"artifact URI {uri!r} carries no sha256 checksum")
    return artifact_id, check_sha256(sums[0], f"checksum of {uri!r}")


class PostgresArtifactStore:
    transactional = True

    def __init__(self, settings: Settings, cache_dir: Path, connector: Connector | None = None) -> None:
        """``connector`` opens the store's own connections (default: the settings' database)."""
        self.settings = settings
        self.connector = connector or (lambda: connect(settings))
        self.max_bytes = settings.training.artifact_max_bytes
        self.cache = BundleCache(cache_dir, self.max_bytes)

    # --- registration, in the caller's transaction ---------------------------------------------------
    def prepare(self, local_dir: Path, prefix: str = "") -> Prepared:
        """Pack a bundle folder (blocking: run it off the loop); nothing is written yet."""
        if not local_dir.is_dir():
            raise ArtifactError(f"artifact source {local_dir} is not a folder")
        packed = pack(local_dir, self.max_bytes)
        return Prepared(uri_of(uuid.uuid4(), packed.sha256), prefix, packed)

    async def commit(self, conn: asyncpg.Connection, prepared: Prepared) -> None:
        """Write a prepared bundle on ``conn`` (inside the caller's transaction)."""
        if prepared.packed is None:
            raise ArtifactError(f"bundle {prepared.uri} was not prepared by the PostgreSQL store")
        artifact_id, _ = parse_uri(prepared.uri)
        await conn.execute(
            "INSERT INTO artifacts (id, prefix, sha256, size_bytes, archive) VALUES ($1, $2, $3, $4, $5)",
            artifact_id,
            prepared.prefix,
            prepared.packed.sha256,
            prepared.packed.size_bytes,
            prepared.packed.archive,
        )

    # --- the synchronous interface ---------------------------------------------------------------------
    def put_dir(self, local_dir: Path, prefix: str = "") -> str:
        prepared = self.prepare(local_dir, prefix)

        async def write(conn: asyncpg.Connection) -> None:
            await self.commit(conn, prepared)

        self._run(write)
        return prepared.uri

    def get_dir(self, uri: str) -> Path:
        artifact_id, sha256 = parse_uri(uri)

        def fetch() -> bytes:
            return self._run(lambda conn: self._fetch(conn, artifact_id, sha256, uri))

        return self.cache.get(str(artifact_id), sha256, fetch, uri)

    def delete(self, uri: str) -> None:
        artifact_id, sha256 = parse_uri(uri)

        async def remove(conn: asyncpg.Connection) -> None:
            await conn.execute("DELETE FROM artifacts WHERE id = $1", artifact_id)

        self._run(remove)
        self.cache.discard(str(artifact_id), sha256)

    async def _fetch(self, conn: asyncpg.Connection, artifact_id: uuid.UUID, sha256: str, uri: str) -> bytes:
        row = await conn.fetchrow(
            "SELECT sha256, size_bytes, octet_length(archive) AS stored FROM artifacts WHERE id = $1",
            artifact_id,
        )
        if row is None:
            raise ArtifactError(f"artifact {uri} does not exist")
        if row["sha256"] != sha256:
            raise ArtifactError(
                f"bundle {uri} is corrupt: the store records sha256 {row['sha256']}, the registry {sha256}"
            )
        size = max(row["size_bytes"], row["stored"])
        if size > self.max_bytes:
            raise ArtifactError(f"bundle {uri} holds {size} bytes, over the limit of {self.max_bytes}")
        archive: bytes | None = await conn.fetchval(
            "SELECT archive FROM artifacts WHERE id = $1", artifact_id
        )
        if archive is None:
            raise ArtifactError(f"artifact {uri} does not exist")
        return archive

    def _run(self, op: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
        """``op`` on a connection of its own, on a private loop in a helper thread (blocks the caller)."""

        async def main() -> T:
            conn = await self.connector()
            try:
                return await op(conn)
            finally:
                await conn.close()

        def in_thread() -> Any:
            return asyncio.run(main())

        result: T = _EXECUTOR.submit(in_thread).result()
        return result
