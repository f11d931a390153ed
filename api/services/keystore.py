"""API key rows in PostgreSQL (bound parameters only). The key itself is never stored or logged."""

from __future__ import annotations

import asyncio
import functools
import uuid
from collections.abc import Sequence

from api.http.pagination import PageParams, keyset
from api.services import keys
from api.services.keys import KeyRecord, Principal
from stream_app.store.paging import page_rows
from stream_app.store.repository import Conn, NotFound


async def create(
    conn: Conn, name: str, scopes: Sequence[str], rate_limit: int | None = None
) -> tuple[KeyRecord, str]:
    """A new key; returns (its row, the full key — shown once to the caller, never again)."""
    key, prefix = keys.new_key()
    key_hash = await asyncio.to_thread(keys.hash_key, key)
    row = await conn.fetchrow(
        """
        INSERT INTO api_keys (id, name, prefix, key_hash, scopes, rate_limit)
        VALUES ($1, $2, $3, $4, $5, $6) RETURNING *
        """,
        uuid.uuid4(),
        name,
        prefix,
        key_hash,
        sorted(set(scopes), key=keys.SCOPES.index),
        rate_limit,
    )
    assert row is not None
    return KeyRecord.of(row), key


async def authenticate(conn: Conn, key: str) -> Principal | None:
    """The principal of a valid, unrevoked key, else None (the hash is checked off the event loop)."""
    prefix = keys.parse(key)
    if prefix is None:
        return None
    row = await conn.fetchrow("SELECT * FROM api_keys WHERE prefix = $1 AND revoked_at IS NULL", prefix)
    if row is None:
        return None
    if not await asyncio.to_thread(keys.verify, row["key_hash"], key):
        return None
    await conn.execute("UPDATE api_keys SET last_used_at = now() WHERE id = $1", row["id"])
    return Principal(
        key_id=row["id"],
        name=row["name"],
        prefix=row["prefix"],
        scopes=frozenset(row["scopes"]),
        rate_limit=row["rate_limit"],
    )


async def list_keys(conn: Conn, page: PageParams) -> list[KeyRecord]:
    """One page of keys (limit + 1 rows; :func:`api.http.pagination.finish` cuts it)."""
    return await page_rows(conn, functools.partial(keyset, page), "api_keys", KeyRecord.of)


async def revoke(conn: Conn, key_id: uuid.UUID) -> KeyRecord:
    row = await conn.fetchrow(
        "UPDATE api_keys SET revoked_at = coalesce(revoked_at, now()) WHERE id = $1 RETURNING *", key_id
    )
    if row is None:
        raise NotFound(f"API key {key_id} not found")
    return KeyRecord.of(row)


async def revoke_prefix(conn: Conn, prefix: str) -> KeyRecord:
    row = await conn.fetchrow(
        "UPDATE api_keys SET revoked_at = coalesce(revoked_at, now()) WHERE prefix = $1 RETURNING *", prefix
    )
    if row is None:
        raise NotFound(f"API key with prefix {prefix!r} not found")
    return KeyRecord.of(row)
