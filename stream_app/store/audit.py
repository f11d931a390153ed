"""The audit log of administrative actions (migration 0051): who did what to which target, and when.

A row is written before the action is carried out and completed with its outcome afterwards, so an
action that happened is always on record, and one that failed half-way says so.
"""

from __future__ import annotations

from typing import Any

from stream_app.store.repository import Conn


async def record(
    conn: Conn,
    actor: str,
    action: str,
    target: str,
    details: dict[str, Any],
    request_id: str | None = None,
) -> int:
    """Insert one entry; returns its id (for ``complete``)."""
    entry_id: int = await conn.fetchval(
        "INSERT INTO audit_log (actor, action, target, details, request_id) "
        "VALUES ($1, $2, $3, $4::jsonb, $5) RETURNING id",
        actor,
        action,
        target,
        details,
        request_id,
    )
    return entry_id


async def complete(conn: Conn, entry_id: int, outcome: dict[str, Any]) -> None:
    """Merge the outcome of the action into the entry's details."""
    await conn.execute("UPDATE audit_log SET details = details || $2::jsonb WHERE id = $1", entry_id, outcome)


async def entries(conn: Conn, target: str, action: str | None = None) -> list[dict[str, Any]]:
    """A target's entries, newest first (operators and tests)."""
    rows = await conn.fetch(
        "SELECT id, at, actor, action, target, details, request_id FROM audit_log "
        "WHERE target = $1 AND ($2::text IS NULL OR action = $2) ORDER BY at DESC, id DESC",
        target,
        action,
    )
    return [dict(r) for r in rows]
