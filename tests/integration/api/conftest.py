"""The API against the real PostgreSQL, Redis and Kafka: an in-process ASGI client and keys per scope."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx
import pytest

from api.app import create_app
from api.services import keystore
from api.services.resources import Resources
from stream_app.settings import Settings


def api_settings(**overrides: object) -> Settings:
    """Test settings: a topic prefix of its own per session keeps the tests' topics apart."""
    base: dict[str, object] = {"api_key_cache_s": 30.0, "api_verifications_per_minute": 100_000}
    base.update(overrides)
    return Settings(**base)  # type: ignore[arg-type]


@dataclass
class Api:
    client: httpx.AsyncClient
    resources: Resources
    settings: Settings
    keys: dict[str, str]  # scope -> key

    def auth(self, scope: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[scope]}"}


async def open_api(settings: Settings) -> tuple[httpx.AsyncClient, Resources]:
    app = create_app(settings)
    resources = Resources(settings)
    app.state.resources = resources  # what the lifespan does (httpx's ASGI transport runs no lifespan)
    transport = httpx.ASGITransport(app=app)
    return httpx.AsyncClient(transport=transport, base_url="http://kilowatch.test"), resources


@asynccontextmanager
async def keyed_api(settings: Settings) -> AsyncIterator[Api]:
    """An API client on ``settings`` with a read, a write, a model and an admin key."""
    client, resources = await open_api(settings)
    pool = await resources.pool()
    tag = uuid.uuid4().hex[:6]
    made = {}
    for scope in ("read", "write", "model", "admin"):
        _rec, key = await keystore.create(pool, f"test-{scope}-{tag}", [scope], rate_limit=100_000)
        made[scope] = key
    try:
        yield Api(client, resources, settings, made)
    finally:
        await client.aclose()
        await resources.close()


@pytest.fixture(scope="session")
async def api() -> AsyncIterator[Api]:
    async with keyed_api(api_settings()) as made:
        yield made
