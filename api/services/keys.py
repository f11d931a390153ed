"""API keys: random, shown once, stored as an argon2id hash and found by a short public prefix.

A key reads ``kw_<prefix>_<secret>``: the prefix (8 chars) is stored in clear to find the row, the
whole key is verified against the hash. Verifying argon2 costs tens of milliseconds on purpose, so an
API process remembers a verified key for ``api_key_cache_s`` seconds (by the key's SHA-256, never the
key itself): the slow hash protects keys at rest, the cache keeps requests fast.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

Scope = Literal["read", "write", "model", "admin"]
SCOPES: tuple[Scope, ...] = ("read", "write", "model", "admin")
KEY_RE = re.compile(r"^kw_([A-Za-z0-9]{8})_([A-Za-z0-9_-]{30,64})$")
_ALNUM = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
_HASHER = PasswordHasher()  # argon2id, library defaults (RFC 9106 low-memory profile)


def grants(scopes: frozenset[str] | tuple[str, ...], needed: Scope) -> bool:
    """Whether a key with ``scopes`` may use a route that needs ``needed``.

    ``read``, ``write`` and ``model`` are independent: ``write`` is ingestion only (a meter's key
    publishes readings, an uploader's key uploads, changes, deletes and preprocesses datasets; neither
    reads anything back nor touches models), ``model`` controls models
    (assets, training, activation, rollback, version deletion, job cancel), ``read`` reads;
    ``admin`` grants everything.
    """
    return needed in scopes or "admin" in scopes


def new_key() -> tuple[str, str]:
    """(full key, prefix): 8 random alphanumerics, then 256 random bits."""
    prefix = "".join(secrets.choice(_ALNUM) for _ in range(8))
    return f"kw_{prefix}_{secrets.token_urlsafe(32)}", prefix


def parse(key: str) -> str | None:
    """The prefix of a well-formed key, else None."""
    m = KEY_RE.match(key)
    return m.group(1) if m else None


def hash_key(key: str) -> str:
    return _HASHER.hash(key)


def verify(key_hash: str, key: str) -> bool:
    try:
        return _HASHER.verify(key_hash, key)
    except (VerificationError, InvalidHashError):
        return False


def fingerprint(key: str) -> str:
    """Cache key of a verified key (SHA-256; the key itself is never kept)."""
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass(frozen=True)
class Principal:
    """Who is calling: the key's id, name, prefix, scopes and own rate limit (None = default)."""

    key_id: uuid.UUID
    name: str
    prefix: str
    scopes: frozenset[str]
    rate_limit: int | None


@dataclass(frozen=True)
class KeyRecord:
    id: uuid.UUID
    name: str
    prefix: str
    scopes: tuple[str, ...]
    rate_limit: int | None
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None

    @classmethod
    def of(cls, row: Any) -> KeyRecord:
        d = dict(row)
        d.pop("key_hash", None)
        d["scopes"] = tuple(d["scopes"])
        return cls(**d)


class VerifiedCache:
    """fingerprint -> (principal, expiry); bounded, in one process."""

    def __init__(self, ttl_s: float, max_entries: int = 10_000) -> None:
        self.ttl_s, self.max_entries = ttl_s, max_entries
        self._items: dict[str, tuple[Principal, float]] = {}

    def get(self, fp: str, now: float | None = None) -> Principal | None:
        item = self._items.get(fp)
        if item is None:
            return None
        if item[1] <= (time.monotonic() if now is None else now):
            del self._items[fp]
            return None
        return item[0]

    def put(self, fp: str, principal: Principal, now: float | None = None) -> None:
        if self.ttl_s <= 0:
            return
        if len(self._items) >= self.max_entries:
            self._items.pop(next(iter(self._items)))
        self._items[fp] = (principal, (time.monotonic() if now is None else now) + self.ttl_s)

    def forget(self, key_id: uuid.UUID) -> None:
        """Drop every cached entry of a key (revoked in this process: effective at once)."""
        for fp in [fp for fp, (p, _) in self._items.items() if p.key_id == key_id]:
            del self._items[fp]
