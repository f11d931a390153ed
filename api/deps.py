"""Request dependencies as ``Annotated`` aliases: settings, services, language and the API key.

Routes declare what they need — ``key: ReadKey`` / ``WriteKey`` / ``ModelKey`` / ``AdminKey`` — and get a
:class:`~api.services.keys.Principal` after the key was checked (401), its scope (403) and its rate (429).
A console session (the ``kw_session`` cookie) is accepted where no ``Authorization`` header is sent: its
principal holds the user's role's scopes, and a state-changing request must echo the ``kw_csrf`` cookie in
``X-CSRF-Token`` (403 otherwise).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Annotated

import asyncpg
import redis.asyncio as aioredis
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from redis.exceptions import RedisError

from api.http.client_address import client_address
from api.http.errors import ApiError, Code
from api.http.i18n import Language, language
from api.services import keys, keystore, registry, sessions
from api.services.keys import Principal, Scope
from api.services.resources import Resources
from stream_app.lifecycle.service import TrainingService
from stream_app.settings import Settings

log = logging.getLogger(__name__)
RATE_LIMIT_TIMEOUT_S = 0.5  # a rate-limit check slower than this is skipped (fail open)
RATE_LIMIT_PAUSE_S = 5.0  # after a failed check, requests skip the limiter this long
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


async def get_training_service(resources: Annotated[Resources, Depends(get_resources)]) -> TrainingService:
    """This process's TrainingService (made on first use: :func:`api.services.registry.training_service`)."""
    return await registry.training_service(resources)


ResourcesDep = Annotated[Resources, Depends(get_resources)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
PoolDep = Annotated[asyncpg.Pool, Depends(get_pool)]
RedisDep = Annotated[aioredis.Redis, Depends(get_redis)]
LangDep = Annotated[Language, Depends(language)]
ServiceDep = Annotated[TrainingService, Depends(get_training_service)]


def unauthorized() -> ApiError:
    return ApiError(401, Code.UNAUTHORIZED, "unauthorized", headers={"WWW-Authenticate": "Bearer"})


async def authenticate(
    request: Request,
    resources: ResourcesDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """The caller's key, verified (cached for ``api_key_cache_s`` by its SHA-256), or without an
    ``Authorization`` header the console session of the ``kw_session`` cookie."""
    if "authorization" not in request.headers and sessions.SESSION_COOKIE in request.cookies:
        return await _session_principal(request, resources, request.cookies[sessions.SESSION_COOKIE])
    if credentials is None or credentials.scheme.lower() != "bearer" or not credentials.credentials:
        raise unauthorized()
    key = credentials.credentials
    if keys.parse(key) is None:
        raise unauthorized()
    fp = keys.fingerprint(key)
    principal = resources.key_cache.get(fp)
    if principal is None:
        settings = resources.settings.api
        client = client_address(
            request.client.host if request.client else None,
            request.headers.get("x-forwarded-for"),
            resources.trusted_proxies,
        )
        principal = await _verify_once(resources, fp, key, client)
        if principal is None:
            prefix = keys.parse(key)
            log.info("rejected an API key (prefix %s) from %s", prefix, client)
            # Failed guesses are counted per key prefix too: spreading them over many addresses
            # does not buy more attempts at one key.
            await _limit(resources, f"verify-failed:{prefix}", settings.verifications_per_minute)
            raise unauthorized()
        resources.key_cache.put(fp, principal)
    request.state.principal = principal
    return principal


async def _session_principal(request: Request, resources: Resources, token: str) -> Principal:
    """401 unless the cookie names a live session; 403 for a state-changing request without the CSRF
    token echoed in ``X-CSRF-Token``."""
    session = await sessions.find(await resources.pool(), token, resources.settings.api.session_idle_s)
    if session is None:
        raise ApiError(401, Code.UNAUTHORIZED, "session_ended")
    if request.method not in sessions.SAFE_METHODS and not sessions.csrf_ok(
        session, request.cookies.get(sessions.CSRF_COOKIE), request.headers.get(sessions.CSRF_HEADER)
    ):
        raise ApiError(403, Code.FORBIDDEN, "csrf", header=sessions.CSRF_HEADER)
    request.state.principal = session.principal
    request.state.session = session
    return session.principal


async def _verify_once(resources: Resources, fp: str, key: str, client: str) -> Principal | None:
    """Concurrent requests with one key share one verification. Without this, every request in flight
    when the key's cache entry expires ran its own argon2 check (tens of ms of CPU each): with 50
    clients a stall of seconds every ``api_key_cache_s``. Each verification that really runs counts
    against its client address (``api_verifications_per_minute``), and none runs while the key's
    prefix is over that many failed verifications in the last minute."""
    running = resources.verifying
    fut = running.get(fp)
    if fut is None:
        per_minute = resources.settings.api.verifications_per_minute
        prefix = keys.parse(key)

        async def verify() -> Principal | None:
            await _limit(resources, f"verify:{client}", per_minute)
            await _limit(resources, f"verify-failed:{prefix}", per_minute, peek=True)
            return await keystore.authenticate(await resources.pool(), key)

        fut = asyncio.ensure_future(verify())
        running[fp] = fut
        fut.add_done_callback(lambda _: running.pop(fp, None))
    return await asyncio.shield(fut)


async def _limit(resources: Resources, bucket: str, per_minute: int, *, peek: bool = False) -> None:
    """429 RATE_LIMITED with Retry-After when ``bucket`` is over ``per_minute`` (``peek``: only look,
    take nothing)."""
    if time.monotonic() < resources.limiter_paused_until:
        return
    limiter = resources.limiter
    check = limiter.allows(bucket, per_minute) if peek else limiter.hit(bucket, per_minute)
    try:
        decision = await asyncio.wait_for(check, RATE_LIMIT_TIMEOUT_S)
    except (RedisError, OSError, TimeoutError) as exc:
        # Fail open, and stop asking for a while: an outage of Redis must not take the API down or
        # slow every request by a timeout; /readyz reports it.
        resources.limiter_paused_until = time.monotonic() + RATE_LIMIT_PAUSE_S
        log.warning("rate limiting paused for %.0f s, Redis unavailable: %r", RATE_LIMIT_PAUSE_S, exc)
        return
    if not decision.allowed:
        raise ApiError(
            429,
            Code.RATE_LIMITED,
            "rate_limited",
            headers={"Retry-After": str(decision.retry_after_s)},
            retry_after=decision.retry_after_s,
        )


def _client(request: Request, resources: Resources) -> str:
    return client_address(
        request.client.host if request.client else None,
        request.headers.get("x-forwarded-for"),
        resources.trusted_proxies,
    )


async def throttle_sign_in(request: Request, resources: Resources, username: str) -> None:
    """Before a password check (argon2, tens of ms of CPU): 429 when the client address has used its
    ``api_verifications_per_minute`` attempts, or the user name has that many failures this minute
    (guesses spread over many addresses do not buy more attempts at one account)."""
    per_minute = resources.settings.api.verifications_per_minute
    await _limit(resources, f"login:{_client(request, resources)}", per_minute)
    await _limit(resources, f"login-failed:{username.lower()}", per_minute, peek=True)


async def sign_in_failed(request: Request, resources: Resources, username: str) -> None:
    log.info("failed console sign-in for %r from %s", username[:64], _client(request, resources))
    per_minute = resources.settings.api.verifications_per_minute
    # This attempt is answered 401 anyway; the next one meets the limit in throttle_sign_in.
    with contextlib.suppress(ApiError):
        await _limit(resources, f"login-failed:{username.lower()}", per_minute)


def require(scope: Scope) -> Callable[..., Awaitable[Principal]]:
    """A dependency: authenticated (401), granted ``scope`` (403), within its rate (429)."""

    async def dependency(
        principal: Annotated[Principal, Depends(authenticate)], resources: ResourcesDep
    ) -> Principal:
        if not keys.grants(principal.scopes, scope):
            raise ApiError(403, Code.FORBIDDEN, "forbidden", scope=scope)
        per_minute = principal.rate_limit or resources.settings.api.rate_limit_per_minute
        await _limit(resources, str(principal.key_id), per_minute)
        return principal

    dependency.__name__ = f"require_{scope}"
    return dependency


ReadKey = Annotated[Principal, Depends(require("read"))]
WriteKey = Annotated[Principal, Depends(require("write"))]
ModelKey = Annotated[Principal, Depends(require("model"))]
AdminKey = Annotated[Principal, Depends(require("admin"))]
