"""Redis coordination of training jobs: a per-asset lock, progress, capped logs, cancel flags and an
event stream the API tails for Server-Sent Events.

Keys (prefix = ``settings.kafka.topic_prefix``):
- ``<p>:train-lock:<asset>``   lock value = the holder's random token (SET NX PX; renewed while running)
- ``<p>:job:<id>:state``       hash: status, progress, message, updated_at
- ``<p>:job:<id>:log``         list of the last ``training_log_lines`` lines (RPUSH + LTRIM)
- ``<p>:job:<id>:events``      stream (XADD MAXLEN ~): {kind: progress|log|status, ...}; tail with XREAD
- ``<p>:job:<id>:cancel``      "1" when a cancel was asked
Every job key has the TTL ``training_redis_ttl_s``: Redis holds live progress, PostgreSQL the record.
"""

from __future__ import annotations

import secrets
import ssl
import time
import uuid
from typing import Any

import redis.asyncio as aioredis

from stream_app.settings import RedisSettings, Settings

# Delete / extend only when the caller still holds the lock (its token is the value): a holder whose
# lock expired and was taken by another process must not release or extend the new holder's lock.
_RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end"
_RENEW = (
    "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) "
    "else return 0 end"
)


def new_token() -> str:
    """An unguessable lock token (one per acquisition)."""
    return secrets.token_hex(16)


def lock_key(prefix: str, asset_id: str) -> str:
    return f"{prefix}:train-lock:{asset_id}"


def job_key(prefix: str, job_id: uuid.UUID | str, part: str) -> str:
    return f"{prefix}:job:{job_id}:{part}"


def redis_kwargs(redis: RedisSettings) -> dict[str, Any]:
    """``redis.asyncio.Redis`` arguments from the settings (a ``rediss://`` URL or ``tls``: TLS with
    certificate and host-name checks, the CA from ``ssl_cafile`` or the system's)."""
    kwargs: dict[str, Any] = {
        "host": redis.host,
        "port": redis.port,
        "db": redis.db,
        "username": redis.username,
        "password": redis.password.get_secret_value() if redis.password else None,
        "socket_timeout": redis.timeout_s,
        "socket_connect_timeout": redis.timeout_s,
    }
    if redis.tls:
        kwargs |= {
            "ssl": True,
            "ssl_cert_reqs": "required",
            "ssl_check_hostname": redis.ssl_check_hostname,
            "ssl_ca_certs": str(redis.ssl_cafile) if redis.ssl_cafile else None,
            "ssl_certfile": str(redis.ssl_certfile) if redis.ssl_certfile else None,
            "ssl_keyfile": str(redis.ssl_keyfile) if redis.ssl_keyfile else None,
            "ssl_min_version": ssl.TLSVersion.TLSv1_2,
        }
    return kwargs


def redis_client(settings: Settings) -> aioredis.Redis:
    return aioredis.Redis(**redis_kwargs(settings.redis), decode_responses=True)


class TrainingLock:
    """One training per asset at a time, across every worker."""

    def __init__(self, client: aioredis.Redis, prefix: str, ttl_ms: int) -> None:
        self.client, self.prefix, self.ttl_ms = client, prefix, ttl_ms

    async def acquire(self, asset_id: str, token: str) -> bool:
        return bool(await self.client.set(lock_key(self.prefix, asset_id), token, nx=True, px=self.ttl_ms))

    async def renew(self, asset_id: str, token: str) -> bool:
        """Extend our lock; False when it is no longer ours (expired and taken)."""
        res = await self.client.eval(_RENEW, 1, lock_key(self.prefix, asset_id), token, str(self.ttl_ms))
        return bool(res)

    async def release(self, asset_id: str, token: str) -> bool:
        res = await self.client.eval(_RELEASE, 1, lock_key(self.prefix, asset_id), token)
        return bool(res)

    async def holder(self, asset_id: str) -> str | None:
        value: Any = await self.client.get(lock_key(self.prefix, asset_id))
        return value


class JobChannel:
    """Live state of jobs in Redis: written by the runner side, read by the API (state, logs, SSE)."""

    def __init__(self, client: aioredis.Redis, prefix: str, log_lines: int, ttl_s: int) -> None:
        self.client, self.prefix, self.log_lines, self.ttl_s = client, prefix, log_lines, ttl_s

    def _k(self, job_id: uuid.UUID | str, part: str) -> str:
        return job_key(self.prefix, job_id, part)

    async def _emit(self, job_id: uuid.UUID | str, state: dict[Any, Any], event: dict[Any, Any]) -> None:
        now = f"{time.time():.3f}"
        pipe = self.client.pipeline(transaction=False)
        state_key, events_key = self._k(job_id, "state"), self._k(job_id, "events")
        pipe.hset(state_key, mapping={**state, "updated_at": now})
        pipe.xadd(events_key, {**event, "at": now}, maxlen=4 * self.log_lines, approximate=True)
        pipe.expire(state_key, self.ttl_s)
        pipe.expire(events_key, self.ttl_s)
        await pipe.execute()

    async def status(self, job_id: uuid.UUID | str, status: str, message: str = "") -> None:
        await self._emit(
            job_id,
            {"status": status, "message": message},
            {"kind": "status", "status": status, "message": message},
        )

    async def progress(self, job_id: uuid.UUID | str, pct: float, message: str = "") -> None:
        pct = max(0.0, min(100.0, pct))
        await self._emit(
            job_id,
            {"progress": f"{pct:.1f}", "message": message},
            {"kind": "progress", "progress": f"{pct:.1f}", "message": message},
        )

    async def log(self, job_id: uuid.UUID | str, line: str) -> None:
        line = line[:2000]
        log_key, events_key = self._k(job_id, "log"), self._k(job_id, "events")
        pipe = self.client.pipeline(transaction=False)
        pipe.rpush(log_key, line)
        pipe.ltrim(log_key, -self.log_lines, -1)
        pipe.expire(log_key, self.ttl_s)
        pipe.xadd(
            events_key,
            {"kind": "log", "line": line, "at": f"{time.time():.3f}"},
            maxlen=4 * self.log_lines,
            approximate=True,
        )
        pipe.expire(events_key, self.ttl_s)
        await pipe.execute()

    async def state(self, job_id: uuid.UUID | str) -> dict[str, str]:
        value: Any = await self.client.hgetall(self._k(job_id, "state"))
        return dict(value)

    async def logs(self, job_id: uuid.UUID | str) -> list[str]:
        value: Any = await self.client.lrange(self._k(job_id, "log"), 0, -1)
        return list(value)

    async def tail(
        self, job_id: uuid.UUID | str, last_id: str = "0-0", block_ms: int = 5000, count: int = 100
    ) -> list[tuple[str, dict[str, str]]]:
        """Events after ``last_id`` (blocking up to ``block_ms``): what an SSE endpoint forwards, using the
        returned ids as ``Last-Event-ID``."""
        res: Any = await self.client.xread({self._k(job_id, "events"): last_id}, count=count, block=block_ms)
        if not res:
            return []
        return [(eid, fields) for eid, fields in res[0][1]]

    async def request_cancel(self, job_id: uuid.UUID | str) -> None:
        await self.client.set(self._k(job_id, "cancel"), "1", ex=self.ttl_s)

    async def cancel_requested(self, job_id: uuid.UUID | str) -> bool:
        return bool(await self.client.exists(self._k(job_id, "cancel")))
