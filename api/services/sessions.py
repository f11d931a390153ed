"""Console sessions: a random token in an HttpOnly cookie, and a CSRF token the page echoes.

The session cookie (``kw_session``) is HttpOnly and SameSite=Strict; only its SHA-256 is stored. The CSRF
token (``kw_csrf``) is readable by the page, which sends it back as ``X-CSRF-Token`` with every
state-changing request made with the session (double submit); the header must equal the cookie and
the session's own token (its hash is stored with the session), so a token planted in another
session's cookie does not pass.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from api.services import users
from api.services.keys import Principal
from stream_app.store import users as rows
from stream_app.store.repository import Conn

SESSION_COOKIE = "kw_session"
CSRF_COOKIE = "kw_csrf"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
TOKEN_BYTES = 32
_TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{43}")  # secrets.token_urlsafe(32), ASCII only


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def well_formed(token: str) -> bool:
    """The shape of a token we issue (43 url-safe characters): anything else is not looked up."""
    return _TOKEN_RE.fullmatch(token) is not None


@dataclass(frozen=True)
class NewSession:
    token: str
    csrf: str
    expires_at: datetime


@dataclass(frozen=True)
class Session:
    principal: Principal
    username: str
    role: str
    csrf_hash: str
    expires_at: datetime


async def open_session(conn: Conn, username: str, ttl_s: float) -> NewSession:
    token, csrf = secrets.token_urlsafe(TOKEN_BYTES), secrets.token_urlsafe(TOKEN_BYTES)
    expires_at = datetime.now(UTC) + timedelta(seconds=ttl_s)
    await rows.insert_session(conn, digest(token), username, digest(csrf), expires_at)
    return NewSession(token, csrf, expires_at)


async def find(conn: Conn, token: str, idle_s: float) -> Session | None:
    """The live session of a cookie's token, with the principal its role gives, else None (also when
    it was not used for ``idle_s`` seconds: the idle timeout, ``api_session_idle_s``)."""
    if not well_formed(token):
        return None
    row = await rows.find_session(conn, digest(token), idle_s)
    if row is None:
        return None
    principal = Principal(
        key_id=users.principal_id(row.username),
        name=f"user:{row.username}",
        prefix="session",
        scopes=frozenset(users.scopes_of(row.role)),
        rate_limit=None,
    )
    return Session(principal, row.username, row.role, row.csrf_hash, row.expires_at)


def csrf_ok(session: Session, cookie: str | None, header: str | None) -> bool:
    """Double submit: the header equals the readable cookie, and both are this session's token."""
    if not cookie or not header:
        return False
    if not hmac.compare_digest(cookie.encode(), header.encode()):
        return False
    return hmac.compare_digest(digest(header), session.csrf_hash)


async def close(conn: Conn, token: str) -> bool:
    return well_formed(token) and await rows.delete_session(conn, digest(token))
