"""Per-key rate limiting in Redis (GCRA: smooth, one key per API key, shared by every API process).

The script keeps one "theoretical arrival time" per key: each request moves it one interval
(60 s / limit) later; a request is refused while that time is more than a minute ahead, and the
refusal says how long to wait. Time comes from Redis (``TIME``), so API hosts' clocks do not matter.

A process does not ask Redis on every request: it reserves up to one second's worth of requests
(``per_minute / 60``, at most ``MAX_LEASE``) at a time and serves them locally for up to a second.
Reserved requests a process does not use within that second are lost, so the limit is never
exceeded; a key spread over many processes may be refused slightly early. Limits under 60/min are
checked in Redis on every request (exact).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis

_GCRA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local want = tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local room = math.floor((burst - (tat - now)) / interval + 1e-9)
if room < 1 then return {0, math.ceil(tat + interval - burst - now)} end
local grant = math.min(want, room)
local new_tat = tat + grant * interval
redis.call('SET', KEYS[1], tostring(new_tat), 'PX', math.ceil(new_tat - now) + 1000)
return {grant, 0}
"""
# The same arithmetic without taking anything: would one more request of the bucket be allowed now?
_PEEK = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
if math.floor((burst - (tat - now)) / interval + 1e-9) < 1 then
  return {0, math.ceil(tat + interval - burst - now)}
end
return {1, 0}
"""
WINDOW_MS = 60_000
LEASE_S = 1.0
MAX_LEASE = 50


@dataclass(frozen=True)
class Decision:
    allowed: bool
    retry_after_s: int


class RateLimiter:
    def __init__(self, client: aioredis.Redis, prefix: str) -> None:
        self.prefix = prefix
        self._script: Any = client.register_script(_GCRA)
        self._peek: Any = client.register_script(_PEEK)
        self._leases: dict[str, tuple[int, float]] = {}  # bucket -> (requests left, valid until)

    async def hit(self, bucket: str, per_minute: int) -> Decision:
        now = time.monotonic()
        left, until = self._leases.get(bucket, (0, 0.0))
        if left > 0 and now < until:
            self._leases[bucket] = (left - 1, until)
            return Decision(True, 0)
        want = max(1, min(MAX_LEASE, per_minute // 60))
        interval = WINDOW_MS / per_minute
        res = await self._script(keys=[f"{self.prefix}:ratelimit:{bucket}"], args=[interval, WINDOW_MS, want])
        granted, wait_ms = int(res[0]), float(res[1])
        if granted < 1:
            self._leases.pop(bucket, None)
            return Decision(False, max(1, math.ceil(wait_ms / 1000)))
        if granted > 1:
            if len(self._leases) > 10_000:  # bounded: drop expired leases
                self._leases = {b: v for b, v in self._leases.items() if v[1] > now}
            self._leases[bucket] = (granted - 1, now + LEASE_S)
        return Decision(True, 0)

    async def allows(self, bucket: str, per_minute: int) -> Decision:
        """Whether ``bucket`` has room for one more request, without using it (asks Redis each time)."""
        interval = WINDOW_MS / per_minute
        res = await self._peek(keys=[f"{self.prefix}:ratelimit:{bucket}"], args=[interval, WINDOW_MS])
        if int(res[0]) < 1:
            return Decision(False, max(1, math.ceil(float(res[1]) / 1000)))
        return Decision(True, 0)
