"""Console users and their sessions in PostgreSQL (bound parameters only; migration 0060).

Only hashes are stored: a password's argon2id hash, a session token's and its CSRF token's SHA-256.
Hashing and role logic live in :mod:`api.services.users` and :mod:`api.services.sessions`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from stream_app.store.repository import Conn, NotFound, RegistryConflict

TOUCH_S = 60.0  # a session's last use is written at most this often (the idle expiry's resolution)


@dataclass(frozen=True)
class UserRow:
    username: str
    role: str
    password_hash: str
    created_at: datetime
    last_login_at: datetime | None

    @classmethod
    def of(cls, row: Any) -> UserRow:
        return cls(**dict(row))


@dataclass(frozen=True)
class SessionRow:
    username: str
    role: str
    csrf_hash: str
    expires_at: datetime


class UserExists(RegistryConflict):
    """A user of that name exists already (409)."""


async def insert_user(conn: Conn, username: str, role: str, password_hash: str) -> UserRow:
    row = await conn.fetchrow(
        """
        INSERT INTO console_users (username, role, password_hash) VALUES ($1, $2, $3)
        ON CONFLICT (username) DO NOTHING RETURNING *
        """,
        username,
        role,
        password_hash,
    )
    if row is None:
        raise UserExists(f"user {username!r} exists already")
    return UserRow.of(row)


async def set_password(conn: Conn, username: str, password_hash: str, role: str | None = None) -> UserRow:
    """A new password (and role, when given) for an existing user; their sessions end."""
    row = await conn.fetchrow(
        """
        UPDATE console_users SET password_hash = $2, role = coalesce($3, role)
        WHERE username = $1 RETURNING *
        """,
        username,
        password_hash,
        role,
    )
    if row is None:
        raise NotFound(f"user {username!r} not found")
    await conn.execute("DELETE FROM console_sessions WHERE username = $1", username)
    return UserRow.of(row)


async def get_user(conn: Conn, username: str) -> UserRow | None:
    row = await conn.fetchrow("SELECT * FROM console_users WHERE username = $1", username)
    return None if row is None else UserRow.of(row)


async def list_users(conn: Conn) -> list[UserRow]:
    rows = await conn.fetch("SELECT * FROM console_users ORDER BY username")
    return [UserRow.of(r) for r in rows]


async def delete_user(conn: Conn, username: str) -> UserRow:
    """Removes the user and (cascade) every session of theirs. The last admin cannot be removed
    (:class:`LastAdmin`): the console would have nobody to manage it."""
    row = await conn.fetchrow(
        """
        DELETE FROM console_users
        WHERE username = $1
          AND (role <> 'admin'
               OR (SELECT count(*) FROM console_users WHERE role = 'admin') > 1)
        RETURNING *
        """,
        username,
    )
    if row is None:
        if await get_user(conn, username) is not None:
            raise LastAdmin(f"user {username!r} is the last admin")
        raise NotFound(f"user {username!r} not found")
    return UserRow.of(row)


class LastAdmin(RegistryConflict):
    """Deleting this user would leave no admin (409)."""


async def insert_session(
    conn: Conn, token_hash: str, username: str, csrf_hash: str, expires_at: datetime
) -> None:
    await conn.execute(
        """
        INSERT INTO console_sessions (token_hash, username, csrf_hash, expires_at) VALUES ($1, $2, $3, $4)
        """,
        token_hash,
        username,
        csrf_hash,
        expires_at,
    )
    await conn.execute("UPDATE console_users SET last_login_at = now() WHERE username = $1", username)
    # Expired sessions of anyone are swept as new ones are made (bounded: the expiry index).
    await conn.execute("DELETE FROM console_sessions WHERE expires_at < now() - interval '1 day'")


async def find_session(conn: Conn, token_hash: str, idle_s: float) -> SessionRow | None:
    """The live session of this token hash (unexpired, and used within the last ``idle_s`` seconds),
    with its user's current role. Finding it marks it used (sliding idle expiry); the mark is written
    at most once a minute (TOUCH_S), so a busy console does not write a row per request."""
    row = await conn.fetchrow(
        """
        SELECT s.username, u.role, s.csrf_hash, s.expires_at,
               s.last_seen_at < now() - make_interval(secs => $3) AS stale
        FROM console_sessions s JOIN console_users u USING (username)
        WHERE s.token_hash = $1 AND s.expires_at > now()
          AND s.last_seen_at > now() - make_interval(secs => $2)
        """,
        token_hash,
        float(idle_s),
        float(min(TOUCH_S, idle_s / 2)),
    )
    if row is None:
        return None
    if row["stale"]:
        await conn.execute(
            "UPDATE console_sessions SET last_seen_at = now() WHERE token_hash = $1", token_hash
        )
    return SessionRow(
        username=row["username"], role=row["role"], csrf_hash=row["csrf_hash"], expires_at=row["expires_at"]
    )


async def delete_session(conn: Conn, token_hash: str) -> bool:
    done = await conn.execute("DELETE FROM console_sessions WHERE token_hash = $1", token_hash)
    return bool(done.endswith(" 1"))
