"""Request dependencies as ``Annotated`` aliases: settings, services, language and the API key.

Routes declare what they need — ``key: ReadKey`` / ``WriteKey`` / ``AdminKey`` — and get a
:class:`~api.keys.Principal` after the key was checked (401), its scope (403) and its rate (429).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Annotated

import asyncpg
import redis.asyncio as aioredis
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from redis.exceptions import RedisError

from api import keys, keystore
from api.errors import ApiError, Code
from api.i18n import Language, negotiate
from api.keys import Principal, Scope
from api.ratelimit import RateLimiter
from api.resources import Resources
from stream_app.settings import Settings

log = logging.getLogger(__name__)
_bearer = HTTPBearer(auto_error=False, description="An API key: `Authorization: Bearer kw_...`.")


# Plain ``def`` dependencies run in FastAPI's thread pool (a thread hop each, ~0.1 ms of CPU per request
# on a busy 2-core machine); these only read attributes, so they are ``async def``.
async def get_resources(request: Request) -> Resources:
    resources: Resources = request.app.state.resources
    return resources


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_pool(resources: Annotated[Resources, Depends(get_resources)]) -> asyncpg.Pool:
    return await resources.pool()


async def get_redis(resources: Annotated[Resources, Depends(get_resources)]) -> aioredis.Redis:
    return resources.redis


def language(request: Request) -> Language:
    settings: Settings = request.app.state.settings
    return negotiate(
        request.query_params.get("lang"),
        request.headers.get("accept-language"),
        settings.api_default_language,
    )


ResourcesDep = Annotated[Resources, Depends(get_resources)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
PoolDep = Annotated[asyncpg.Pool, Depends(get_pool)]
RedisDep = Annotated[aioredis.Redis, Depends(get_redis)]
LangDep = Annotated[Language, Depends(language)]


def unauthorized() -> ApiError:
    return ApiError(401, Code.UNAUTHORIZED, "unauthorized", headers={"WWW-Authenticate": "Bearer"})


async def authenticate(
    request: Request,
    resources: ResourcesDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """The caller's key, verified (cached for ``api_key_cache_s`` by its SHA-256)."""
    if credentials is None or credentials.scheme.lower() != "bearer" or not credentials.credentials:
        raise unauthorized()
    key = credentials.credentials
    if keys.parse(key) is None:
        raise unauthorized()
    fp = keys.fingerprint(key)
    principal = resources.key_cache.get(fp)
    if principal is None:
        principal = await _verify_once(resources, fp, key)
        if principal is None:
            log.info("rejected an API key (prefix %s)", keys.parse(key))
            raise unauthorized()
        resources.key_cache.put(fp, principal)
    request.state.principal = principal
    return principal


async def _verify_once(resources: Resources, fp: str, key: str) -> Principal | None:
    """Concurrent requests with one key share one verification. Without this, every request in flight
    when the key's cache entry expires ran its own argon2 check (tens of ms of CPU each): with 50
    clients a stall of seconds every ``api_key_cache_s``."""
    running: dict[str, asyncio.Future[Principal | None]] = resources.extensions.setdefault(
        "key_verifications", {}
    )
    fut = running.get(fp)
    if fut is None:

        async def verify() -> Principal | None:
            return await keystore.authenticate(await resources.pool(), key)

        fut = asyncio.ensure_future(verify())
        running[fp] = fut
        fut.add_done_callback(lambda _: running.pop(fp, None))
    return await asyncio.shield(fut)


async def _limit(resources: Resources, principal: Principal) -> None:
    limiter: RateLimiter | None = resources.extensions.get("rate_limiter")
    if limiter is None:
        limiter = RateLimiter(resources.redis, resources.settings.topic_prefix)
        resources.extensions["rate_limiter"] = limiter
    per_minute = principal.rate_limit or resources.settings.api_rate_limit_per_minute
    try:
        decision = await limiter.hit(str(principal.key_id), per_minute)
    except (RedisError, OSError) as exc:
        # Fail open: an outage of Redis must not take predictions down; /readyz reports it.
        log.warning("rate limiting skipped, Redis unavailable: %s", exc)
        return
    if not decision.allowed:
        raise ApiError(
            429,
            Code.RATE_LIMITED,
            "rate_limited",
            headers={"Retry-After": str(decision.retry_after_s)},
            retry_after=decision.retry_after_s,
        )


def require(scope: Scope) -> Callable[..., Awaitable[Principal]]:
    """A dependency: authenticated (401), granted ``scope`` (403), within its rate (429)."""

    async def dependency(
        principal: Annotated[Principal, Depends(authenticate)], resources: ResourcesDep
    ) -> Principal:
        if not keys.grants(principal.scopes, scope):
            raise ApiError(403, Code.FORBIDDEN, "forbidden", scope=scope)
        await _limit(resources, principal)
        return principal

    dependency.__name__ = f"require_{scope}"
    return dependency


ReadKey = Annotated[Principal, Depends(require("read"))]
WriteKey = Annotated[Principal, Depends(require("write"))]
AdminKey = Annotated[Principal, Depends(require("admin"))]
