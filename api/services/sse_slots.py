"""Concurrent job log streams (SSE) per API key: at most ``api_sse_streams_per_key`` at once.

A stream holds a Redis connection and an API task for up to ``api_sse_max_s``; without a bound one
key could open thousands. Slots live in Redis (a sorted set per key: one member per open stream,
scored by when it must have ended), so the bound holds across API processes. A stream takes its slot
before it starts (429 RATE_LIMITED with Retry-After when none is free) and gives it back when it ends
however it ends; a slot of a process that died expires at its score (``api_sse_max_s`` plus a margin).
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass

from redis.exceptions import RedisError

from api.http.errors import rate_limited
from api.services.keys import Principal
from api.services.registry import redis_needed
from api.services.resources import Resources

log = logging.getLogger(__name__)
MARGIN_S = 60.0
RETRY_AFTER_S = 10  # streams end when their job does: a client asks again soon
# KEYS[1] = the key's slots; ARGV = now, expiry, limit, member
_TAKE = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[4])
redis.call('EXPIRE', KEYS[1], math.ceil(tonumber(ARGV[2]) - tonumber(ARGV[1])))
return 1
"""


@dataclass(frozen=True)
class Slot:
    resources: Resources
    redis_key: str
    member: str

    async def release(self) -> None:
        try:
            await self.resources.redis.zrem(self.redis_key, self.member)
        except (RedisError, OSError) as exc:  # the slot expires at its score instead
            log.warning("SSE slot of %s not released (it expires by itself): %r", self.redis_key, exc)


async def take(resources: Resources, principal: Principal) -> Slot:
    """A stream slot of the key, or 429 when all are in use (503 when Redis is unavailable)."""
    settings = resources.settings
    script = resources.extensions.get("sse_slots_script")
    if script is None:
        script = resources.redis.register_script(_TAKE)
        resources.extensions["sse_slots_script"] = script
    redis_key = f"{settings.kafka.topic_prefix}:sse:{principal.key_id}"
    member = uuid.uuid4().hex
    now = time.time()
    expiry = now + settings.api.sse_max_s + MARGIN_S
    limit = settings.api.sse_streams_per_key
    with redis_needed():
        taken = await script(keys=[redis_key], args=[now, expiry, limit, member])
    if not int(taken):
        raise rate_limited(
            RETRY_AFTER_S,
            ["header", "Authorization"],
            f"this key already holds {limit} open log streams (api_sse_streams_per_key)",
            "sse_streams_limit",
        )
    return Slot(resources, redis_key, member)


async def holding(slot: Slot, body: AsyncGenerator[bytes, None]) -> AsyncIterator[bytes]:
    """``body``, giving ``slot`` back when the stream ends, fails or the client goes away."""
    try:
        async for chunk in body:
            yield chunk
    finally:
        try:
            await body.aclose()  # (a no-op when it ran to its end)
        finally:
            await slot.release()
