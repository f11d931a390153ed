"""Console users: roles mapped onto the API key scopes, passwords hashed like API keys (argon2id).

A role is a fixed set of the existing scopes, so every route keeps one rule (``require(scope)``) whether
the caller holds a key or a session: ``admin`` has every scope, ``operator`` reads and controls models
(training, activation, rollback), ``viewer`` only reads. No role has ``write`` (ingestion) alone; admin
has it through ``admin``.
"""

from __future__ import annotations

import asyncio
import functools
import re
import uuid
from typing import Literal

from api.services import keys
from stream_app.store import users as rows
from stream_app.store.repository import Conn

Role = Literal["admin", "operator", "viewer"]
ROLES: tuple[Role, ...] = ("admin", "operator", "viewer")
ROLE_SCOPES: dict[str, tuple[keys.Scope, ...]] = {
    "admin": ("read", "write", "model", "admin"),
    "operator": ("read", "model"),
    "viewer": ("read",),
}
USERNAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$")
PASSWORD_MIN = 10
PASSWORD_MAX = 256  # bounded: argon2 hashes what it is given
# Namespace of the stable ids a user's requests carry (rate limit buckets, SSE slots), never a key's.
USER_NS = uuid.UUID("6b696c6f-7761-7463-6875-736572730000")


@functools.cache
def _dummy_hash() -> str:
    """Checked when the user does not exist, so a wrong name costs as long as a wrong password (made on
    the first sign-in, not at import: one argon2 hash is tens of ms and 64 MiB)."""
    return keys.hash_key("kilowatch-no-such-user")


def scopes_of(role: str) -> tuple[keys.Scope, ...]:
    return ROLE_SCOPES.get(role, ())


def principal_id(username: str) -> uuid.UUID:
    return uuid.uuid5(USER_NS, username)


def password_problem(password: str) -> str | None:
    """Why a new password is refused, else None."""
    if len(password) < PASSWORD_MIN:
        return f"at least {PASSWORD_MIN} characters"
    if len(password) > PASSWORD_MAX:
        return f"at most {PASSWORD_MAX} characters"
    return None


async def create(conn: Conn, username: str, role: str, password: str) -> rows.UserRow:
    password_hash = await asyncio.to_thread(keys.hash_key, password)
    return await rows.insert_user(conn, username, role, password_hash)


async def reset(conn: Conn, username: str, password: str, role: str | None = None) -> rows.UserRow:
    password_hash = await asyncio.to_thread(keys.hash_key, password)
    return await rows.set_password(conn, username, password_hash, role)


async def check_password(conn: Conn, username: str, password: str) -> rows.UserRow | None:
    """The user when the password is theirs, else None (unknown names cost one hash check too)."""
    user = await rows.get_user(conn, username) if USERNAME_RE.fullmatch(username) else None
    stored = user.password_hash if user is not None else _dummy_hash()
    good = await asyncio.to_thread(keys.verify, stored, password)
    return user if good and user is not None else None
