"""A cap on the never-seen asset ids one API key may introduce per hour through ``POST /readings``.

Every new ``asset_id`` costs the workers state (its detector and rings), so a key cannot mint them
without bound: at most ``api_new_assets_per_hour`` per key per clock hour; a batch that would pass the
cap is refused whole (429 RATE_LIMITED, Retry-After = seconds to the next hour) and nothing of it is
published. Kept in Redis, shared by every API process: a set of the asset ids ever admitted (known
ids cost nothing) and, per key and hour, the set of ids it introduced (expires after the hour). One
Lua script decides and records atomically, so concurrent batches cannot both pass the cap.

When Redis is unavailable the cap is skipped (fail open, like the rate limiter): an outage of Redis
must not stop ingestion; the skip is logged.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from typing import Any

from redis.exceptions import RedisError

from api.http.errors import rate_limited
from api.services.keys import Principal
from api.services.resources import Resources

log = logging.getLogger(__name__)
HOUR_S = 3600
# KEYS[1] = known ids, KEYS[2] = this key's ids of this hour; ARGV[1] = cap, ARGV[2] = ttl, ARGV[3..] = ids
_ADMIT = """
local cap = tonumber(ARGV[1])
local fresh = {}
for i = 3, #ARGV do
  local id = ARGV[i]
  if redis.call('SISMEMBER', KEYS[1], id) == 0 and redis.call('SISMEMBER', KEYS[2], id) == 0 then
    fresh[#fresh + 1] = id
  end
end
local used = redis.call('SCARD', KEYS[2])
if used + #fresh > cap then return {0, used, #fresh} end
for i = 1, #fresh, 1000 do
  redis.call('SADD', KEYS[2], unpack(fresh, i, math.min(i + 999, #fresh)))
end
if #fresh > 0 then redis.call('EXPIRE', KEYS[2], tonumber(ARGV[2])) end
for i = 1, #fresh, 1000 do
  redis.call('SADD', KEYS[1], unpack(fresh, i, math.min(i + 999, #fresh)))
end
return {1, used + #fresh, #fresh}
"""


def _script(resources: Resources) -> Any:
    script = resources.extensions.get("new_assets_script")
    if script is None:
        script = resources.redis.register_script(_ADMIT)
        resources.extensions["new_assets_script"] = script
    return script


async def admit(
    resources: Resources, principal: Principal, assets: Iterable[str], now: float | None = None
) -> None:
    """Record the batch's new asset ids against the key, or 429 when they would pass its hourly cap."""
    ids = sorted(set(assets))
    if not ids:
        return
    settings = resources.settings
    cap = settings.api.new_assets_per_hour
    now = time.time() if now is None else now
    hour = int(now // HOUR_S)
    prefix = settings.kafka.topic_prefix
    keys = [f"{prefix}:assets:known", f"{prefix}:assets:new:{principal.key_id}:{hour}"]
    try:
        allowed, used, fresh = await _script(resources)(keys=keys, args=[cap, 2 * HOUR_S, *ids])
    except (RedisError, OSError) as exc:
        log.warning("new-asset cap skipped for key %s, Redis unavailable: %r", principal.prefix, exc)
        return
    if not int(allowed):
        retry = max(1, int((hour + 1) * HOUR_S - now))
        raise rate_limited(
            retry,
            ["body", "readings"],
            f"{int(fresh)} new asset ids would pass this key's cap of {cap} new assets per hour "
            f"({int(used)} used)",
            "new_assets_limit",
        )
