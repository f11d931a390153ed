"""Per-key rate limiting in Redis (GCRA: smooth, one key per API key, shared by every API process).

The script keeps one "theoretical arrival time" per key: each request moves it one interval
(60 s / limit) later; a request is refused while that time is more than a minute ahead, and the
refusal says how long to wait. Time comes from Redis (``TIME``), so API hosts' clocks do not matter.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis

_GCRA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local new_tat = tat + interval
local wait = new_tat - burst - now
if wait > 0 then return {0, wait} end
redis.call('SET', KEYS[1], new_tat, 'PX', math.ceil(new_tat - now) + 1000)
return {1, 0}
"""
WINDOW_MS = 60_000


@dataclass(frozen=True)
class Decision:
    allowed: bool
    retry_after_s: int


class RateLimiter:
    def __init__(self, client: aioredis.Redis, prefix: str) -> None:
        self.prefix = prefix
        self._script: Any = client.register_script(_GCRA)

    async def hit(self, key_id: str, per_minute: int) -> Decision:
        interval = WINDOW_MS / per_minute
        res = await self._script(keys=[f"{self.prefix}:ratelimit:{key_id}"], args=[interval, WINDOW_MS])
        allowed, wait_ms = int(res[0]), float(res[1])
        return Decision(bool(allowed), 0 if allowed else max(1, math.ceil(wait_ms / 1000)))
